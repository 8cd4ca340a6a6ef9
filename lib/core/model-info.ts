import type { WaterlineAttribute, WaterlineModel } from './waterline';

/** What the pure parts of the engine need to know of a model: plain data, no Waterline. */
export interface ModelInfo {
  identity: string;
  primaryKey: string;
  attributes: Record<string, Pick<WaterlineAttribute, 'type' | 'required' | 'allowNull' | 'defaultsTo' | 'model'>>;
  /** Names of the auto-timestamp attributes, which the engine sets itself so images are exact. */
  createdAt: string | null;
  updatedAt: string | null;
  /** Never destroyed: neither through the model API nor by a transaction. */
  financial: boolean;
  /** What reversing a create of this (financial) model sets instead of destroying, if anything. */
  reverseCreate: Record<string, unknown> | null;
  /** The model's own rules for one value (Waterline's `Model.validate`); throws if violated. */
  validate: ((attribute: string, value: unknown) => void) | null;
  /**
   * Attributes never shown to clients: `protect: true`, or left out by the model's customToJSON
   * (password hashes, token digests). Never usable in criteria over HTTP either: filtering on one
   * would reveal it a prefix at a time.
   */
  hidden: string[];
  /** The unique keys (lib/store/indexes.ts uniqueKeys): log protocol v3 reserves their values before the commit point. */
  uniqueKeys: string[][];
}

/**
 * The model's unique keys, as attribute names: each `unique: true` attribute alone, and each
 * declared unique index's fields (log protocol v3 reserves their values before the commit point).
 */
export function uniqueKeys(model: WaterlineModel): string[][] {
  const keys = Object.entries(model.attributes).filter(([name, definition]) => definition.autoMigrations?.unique === true && name !== model.primaryKey).map(([name]) => [name]);
  for (const index of (Array.isArray(model.indexes) ? model.indexes : []) as { fields: string[]; unique?: boolean }[]) {
    if (index.unique === true) keys.push(index.fields.map((field) => (field.startsWith('-') ? field.slice(1) : field)));
  }
  return keys;
}

/** Whether `name` is one of the model's attributes (own keys only: never `constructor`, `__proto__`). */
export function hasAttribute(info: Pick<ModelInfo, 'attributes'>, name: string): boolean {
  return Object.prototype.hasOwnProperty.call(info.attributes, name);
}

/**
 * The attributes a model hides: `protect: true`, and those its customToJSON leaves out of a
 * record that has every attribute (found by calling it on such a record; a customToJSON that
 * fails on placeholder values tells nothing, and only `protect` counts then).
 */
export function hiddenAttributes(model: WaterlineModel): string[] {
  const names = Object.keys(model.attributes).filter((name) => model.attributes[name].collection === undefined);
  const hidden = new Set(names.filter((name) => (model.attributes[name] as { protect?: unknown }).protect === true));
  const customToJSON = model.customToJSON;
  if (typeof customToJSON === 'function') {
    const probe: Record<string, unknown> = {};
    for (const name of names) probe[name] = `probe:${name}`;
    try {
      const shown = (customToJSON as (this: Record<string, unknown>) => unknown).call(probe);
      if (shown !== null && typeof shown === 'object') {
        for (const name of names) if (!Object.prototype.hasOwnProperty.call(shown, name)) hidden.add(name);
      }
    } catch {
      // A customToJSON that needs real values: only `protect` marks hidden attributes then.
    }
  }
  return [...hidden].filter((name) => name !== model.primaryKey).sort();
}

export function describeModel(model: WaterlineModel): ModelInfo {
  const attributes: ModelInfo['attributes'] = {};
  let createdAt: string | null = null;
  let updatedAt: string | null = null;
  for (const [name, attribute] of Object.entries(model.attributes)) {
    if (attribute.collection !== undefined) continue; // plural associations have no column
    // A singular association (a reference) is a string id, or null when not required (Waterline allows no allowNull there).
    const reference = attribute.model !== undefined;
    attributes[name] = { type: reference ? 'string' : attribute.type, required: attribute.required, allowNull: reference ? attribute.required !== true : attribute.allowNull, defaultsTo: attribute.defaultsTo, model: attribute.model };
    if (attribute.autoCreatedAt === true) createdAt = name;
    if (attribute.autoUpdatedAt === true) updatedAt = name;
  }
  const reverseCreate = (model.reverseCreate as { set?: Record<string, unknown> } | undefined)?.set ?? null;
  const validate = typeof model.validate === 'function' ? (attribute: string, value: unknown) => (model.validate as (a: string, v: unknown) => void)(attribute, value) : null;
  return { identity: model.identity, primaryKey: model.primaryKey, attributes, createdAt, updatedAt, financial: model.financial === true, reverseCreate, validate, hidden: hiddenAttributes(model), uniqueKeys: uniqueKeys(model) };
}

/** The timestamp values to write, given a model's auto-timestamp attributes and a time. */
export function timestamps(info: ModelInfo, now: number, creating: boolean): Record<string, number | string> {
  const values: Record<string, number | string> = {};
  const stamp = (name: string): number | string => (info.attributes[name]?.type === 'string' ? new Date(now).toISOString() : now);
  if (creating && info.createdAt !== null) values[info.createdAt] = stamp(info.createdAt);
  if (info.updatedAt !== null) values[info.updatedAt] = stamp(info.updatedAt);
  return values;
}

/** Waterline's base value of a type, used for an omitted optional attribute with no default. */
const BASE_VALUES: Record<string, unknown> = { string: '', number: 0, boolean: false, json: null, ref: null };

/**
 * The record Waterline will store for a create: omitted attributes filled the way Waterline's
 * normalize-new-record does (association → null, defaultsTo, timestamp, allowNull → null, else
 * the type's base value). This makes a create's logged after-image equal the stored document.
 */
export function newRecordImage(info: ModelInfo, values: Record<string, unknown>, id: string, now: number): Record<string, unknown> {
  const image: Record<string, unknown> = {};
  const stamps = timestamps(info, now, true);
  for (const [name, attribute] of Object.entries(info.attributes)) {
    if (name === info.primaryKey) image[name] = id;
    else if (values[name] !== undefined) image[name] = values[name];
    else if (attribute.model !== undefined) image[name] = null;
    else if (attribute.defaultsTo !== undefined) image[name] = structuredClone(attribute.defaultsTo);
    else if (stamps[name] !== undefined) image[name] = stamps[name];
    else if (attribute.allowNull === true) image[name] = null;
    else image[name] = BASE_VALUES[attribute.type] ?? null;
  }
  return image;
}
