/**
 * sails-disk's NeDB tables, reached past Waterline for the hot path of log protocol v3 on
 * sails-disk: each Waterline call costs about half a millisecond of CPU (criteria forged twice,
 * values normalised, lifecycle and bluebird machinery), several times the NeDB work it wraps.
 * Only what NeDB gets from Waterline is reproduced here, and only where it is exactly known:
 * a document under its column names, its primary key also in `_id` (what sails-disk adds); only
 * for models with a string primary key and nothing encrypted, and writes only of documents that
 * carry every attribute already (nothing for Waterline to default or stamp). The model's rules
 * (isIn, min, …) were checked before the commit point (lib/core/validation.ts checkAgainstModel).
 */
import { columnOf, type WaterlineAttribute, type WaterlineModel } from '../../core/waterline';

/** The slice of NeDB's Datastore this module uses. */
export interface NedbTable {
  find(query: Record<string, unknown>, projection: Record<string, 0 | 1>, cb: (err: Error | null, docs: Record<string, unknown>[]) => void): void;
  insert(docs: Record<string, unknown>[], cb: (err: Error | null) => void): void;
  update(query: Record<string, unknown>, update: Record<string, unknown>, options: { multi: boolean }, cb: (err: Error | null) => void): void;
  remove(query: Record<string, unknown>, options: { multi: boolean }, cb: (err: Error | null) => void): void;
}

/**
 * A model's NeDB table, looked up at each use (a migration's drop gives the model a new one).
 * sails-disk keeps each document's primary key in `_id` too: rows written here read alike
 * through Waterline, and documents are found by `_id`.
 */
export function nedbTable(model: WaterlineModel): NedbTable {
  const adapter = (model as WaterlineModel & { _adapter?: { datastores?: Record<string, { dbs?: Record<string, NedbTable> }> } })._adapter;
  const table = adapter?.datastores?.[model.datastore]?.dbs?.[model.tableName];
  if (table === undefined) throw new Error(`sails-hook-transact: sails-disk has no table ${model.tableName} in datastore ${model.datastore}`);
  return table;
}

export function nedbCall(send: (cb: (err: Error | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => send((err) => (err === null ? resolve() : reject(err))));
}

export function findWhere(table: NedbTable, query: Record<string, unknown>, projection: Record<string, 0 | 1> = {}): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => table.find(query, projection, (err, docs) => (err === null ? resolve(docs) : reject(err))));
}

export function findIn(table: NedbTable, ids: readonly string[], projection: Record<string, 0 | 1> = {}): Promise<Record<string, unknown>[]> {
  return findWhere(table, { _id: { $in: [...ids] } }, projection);
}

/** NeDB's refusal of a second document with one value of a unique index (`_id` included). */
export function isNedbUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { errorType?: unknown }).errorType === 'uniqueViolated';
}

/** The attributes a document stores (a to-many association has no column), with their column names. */
function storedColumns(model: WaterlineModel): [string, string][] {
  return Object.entries(model.attributes as Record<string, WaterlineAttribute>).filter(([, attribute]) => attribute.collection === undefined).map(([name]) => [name, columnOf(model.attributes, name)]);
}

/**
 * Whether `values` can go to NeDB as they are: a string primary key (sails-disk's `_id`, as the
 * engine's ids are), and every stored attribute given — so Waterline would add no default, no
 * timestamp (it stamps an `autoUpdatedAt` only when none is given) and change no value.
 */
export function writableDirectly(model: WaterlineModel, values: Record<string, unknown>): boolean {
  if (!readableDirectly(model)) return false;
  return storedColumns(model).every(([name]) => name === model.primaryKey || values[name] !== undefined);
}

/** A document as sails-disk stores it: its attributes under their column names, the primary key also as `_id`. */
export function toNedbDocument(model: WaterlineModel, id: string, values: Record<string, unknown>): Record<string, unknown> {
  const doc: Record<string, unknown> = { _id: id };
  for (const [name, column] of storedColumns(model)) if (values[name] !== undefined) doc[column] = name === model.primaryKey ? id : values[name];
  return doc;
}

/** An update's `$set`: the attributes under their column names, without the primary key (which never changes). */
export function toNedbSet(model: WaterlineModel, values: Record<string, unknown>): Record<string, unknown> {
  const set: Record<string, unknown> = {};
  for (const [name, column] of storedColumns(model)) if (name !== model.primaryKey && values[name] !== undefined) set[column] = values[name];
  return set;
}

/** A stored document as Waterline's find returns it: attributes under their names, without sails-disk's `_id` (unless it is the primary key's column). */
export function fromNedbDocument(model: WaterlineModel, doc: Record<string, unknown>): Record<string, unknown> {
  const names = new Map(storedColumns(model).map(([name, column]) => [column, name]));
  const image: Record<string, unknown> = {};
  for (const [column, value] of Object.entries(doc)) {
    const name = names.get(column);
    if (column === '_id' && name === undefined) continue;
    image[name ?? column] = value;
  }
  return image;
}

/**
 * Whether Waterline reads and writes a model's documents as this module does: its primary key a
 * string (as `_id` holds it), and no attribute Waterline encrypts.
 */
export function readableDirectly(model: WaterlineModel): boolean {
  const attributes = Object.values(model.attributes as Record<string, WaterlineAttribute>);
  return model.attributes[model.primaryKey]?.type === 'string' && !attributes.some((attribute) => attribute.encrypt === true);
}
