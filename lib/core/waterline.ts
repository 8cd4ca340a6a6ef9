/**
 * The slice of Waterline's model API the hook uses, typed. Waterline ships no types;
 * keeping the surface this small is what lets one engine run on every adapter.
 */

export interface WaterlineAttribute {
  type: 'string' | 'number' | 'boolean' | 'json' | 'ref';
  required?: boolean;
  allowNull?: boolean;
  columnName?: string;
  autoCreatedAt?: boolean;
  autoUpdatedAt?: boolean;
  autoIncrement?: boolean;
  /** Waterline encrypts the value on write and decrypts it on read. */
  encrypt?: boolean;
  defaultsTo?: unknown;
  model?: string;
  collection?: string;
  /** Waterline moves `unique: true` (and `autoIncrement: true`) here. */
  autoMigrations?: { unique?: boolean; autoIncrement?: boolean };
}

/** A Waterline query: a thenable deferred that can be given `meta` before it runs. */
export interface Deferred<T> extends PromiseLike<T> {
  meta(meta: Record<string, unknown>): Deferred<T>;
  set(values: Record<string, unknown>): Deferred<T>;
}

export interface WaterlineDatastore {
  /** The driver-level handle: a mongodb `Db`, `{pool}` for sails-postgresql, nothing for sails-disk. */
  manager: unknown;
  config: { adapter: string; [key: string]: unknown };
}

export interface WaterlineModel {
  identity: string;
  globalId?: string;
  tableName: string;
  primaryKey: string;
  datastore: string;
  attributes: Record<string, WaterlineAttribute>;
  /** Any extra model settings (e.g. `transactional`), kept by Waterline as given. */
  [setting: string]: unknown;
  find(criteria: Record<string, unknown>): Deferred<Record<string, unknown>[]>;
  findOne(criteria: Record<string, unknown>): Deferred<Record<string, unknown> | undefined>;
  create(values: Record<string, unknown>): Deferred<Record<string, unknown> | undefined>;
  createEach(values: Record<string, unknown>[]): Deferred<Record<string, unknown>[] | undefined>;
  update(criteria: Record<string, unknown>): Deferred<Record<string, unknown>[] | undefined>;
  destroy(criteria: Record<string, unknown>): Deferred<Record<string, unknown>[] | undefined>;
  count(criteria: Record<string, unknown>): Deferred<number>;
  getDatastore(): WaterlineDatastore;
}

/** Waterline's error for a unique-constraint violation, on every adapter. */
export function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'E_UNIQUE';
}

/**
 * The column (sails-mongo: field) an attribute is stored under: its `columnName`, else its own
 * name; a name that is no attribute is its own column. `attributes` is a model's `attributes` or
 * Waterline's normalized `schema` (which names sails-mongo's `_id` primary key column too).
 */
export function columnOf(attributes: Readonly<Record<string, { columnName?: string }>>, attribute: string): string {
  return (attributes[attribute] as { columnName?: string } | undefined)?.columnName ?? attribute;
}
