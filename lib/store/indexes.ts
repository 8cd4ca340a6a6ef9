/**
 * Indexes as part of the schema. Waterline has no index API (only `unique: true` on an
 * attribute, which sails-disk and sails-mongo honour and sails-postgresql does at table creation):
 * a model declares its indexes with a model-level key, read here, and each datastore family
 * creates them natively (lib/store: CREATE INDEX IF NOT EXISTS on PostgreSQL, createIndex on
 * MongoDB; nothing on sails-disk, which keeps every document in memory and has no query planner).
 *
 *   module.exports = {
 *     indexes: [{ fields: ['paymentId'], unique: true }, { fields: ['investor', 'account'] }],
 *     attributes: { … },
 *   };
 *
 * Fields are attribute names (their `columnName` is what gets indexed); a field written `-name`
 * is indexed descending. `elements: true` (one field, a JSON array) indexes the array's elements:
 * "documents whose array contains X" (GIN on PostgreSQL, a multikey index on MongoDB).
 * `trigram: true` (one text field) indexes its text for substring search (`contains`, `LIKE` /
 * `ILIKE '%x%'`): a pg_trgm GIN index on PostgreSQL (`CREATE EXTENSION IF NOT EXISTS pg_trgm`
 * first); nothing on MongoDB, whose indexes cannot answer an unanchored regular expression, nor on
 * sails-disk (`created: false` for both).
 */
import { TransactError } from '../core/errors';
import { createIndexesOn } from './';
import type { CreatedIndex, IndexSpec } from './contract';
import { columnOf, type WaterlineDatastore, type WaterlineModel } from '../core/waterline';

/** One index, as a model declares it. */
export interface IndexDeclaration {
  /** Attribute names, in index order; `-name` for descending. */
  fields: string[];
  unique?: boolean;
  /** Index the elements of one JSON array attribute (containment queries), not the value. */
  elements?: boolean;
  /** Index one text attribute's trigrams (substring search; PostgreSQL only, pg_trgm). */
  trigram?: boolean;
  /**
   * The index name's suffix on PostgreSQL (`<table>_<name>`; default: the columns joined by `_`).
   * MongoDB names an index by its keys (`field_1_other_-1`), whatever is declared here.
   */
  name?: string;
}

/** PostgreSQL truncates identifiers beyond 63 bytes; a longer name keeps a hash of the whole instead. */
const MAX_NAME = 63;

function shortName(name: string): string {
  if (Buffer.byteLength(name) <= MAX_NAME) return name;
  let hash = 0;
  for (const char of name) hash = (Math.imul(hash, 31) + (char.codePointAt(0) ?? 0)) >>> 0;
  const suffix = `_${hash.toString(16).padStart(8, '0')}`;
  let head = name;
  while (Buffer.byteLength(head) + suffix.length > MAX_NAME) head = head.slice(0, -1);
  return head + suffix;
}

function refuse(model: string, i: number, message: string): never {
  throw new TransactError('validation_failed', `model ${model}: indexes.${i}: ${message}`, { path: `${model}.indexes.${i}` });
}

/**
 * The indexes a model declares (model key `indexes`), checked against its attributes. Throws a
 * `validation_failed` TransactError naming the model and the index when a declaration is wrong:
 * a typo must not silently leave a table unindexed.
 */
export function declaredIndexes(model: WaterlineModel): IndexSpec[] {
  const declared = model.indexes;
  if (declared === undefined || declared === null) return [];
  if (!Array.isArray(declared)) refuse(model.identity, 0, 'indexes is a list of {fields, unique?, elements?, name?}');
  return (declared as unknown[]).map((entry, i) => {
    if (typeof entry !== 'object' || entry === null || !Array.isArray((entry as IndexDeclaration).fields)) refuse(model.identity, i, 'an index is {fields: [attribute, …], unique?, elements?, name?}');
    const { fields, unique = false, elements = false, trigram = false, name } = entry as IndexDeclaration;
    if (fields.length === 0) refuse(model.identity, i, 'an index has at least one field');
    if (elements && (fields.length !== 1 || unique)) refuse(model.identity, i, 'an elements index has exactly one field and is not unique');
    if (trigram && (fields.length !== 1 || unique || elements)) refuse(model.identity, i, 'a trigram index has exactly one field, is not unique and not an elements index');
    if (name !== undefined && (typeof name !== 'string' || !/^[A-Za-z0-9_]+$/.test(name))) refuse(model.identity, i, 'name is letters, digits and _');
    const columns = fields.map((field) => {
      if (typeof field !== 'string') refuse(model.identity, i, 'fields are attribute names');
      const descending = field.startsWith('-');
      const attribute = descending ? field.slice(1) : field;
      const definition = model.attributes[attribute];
      if (definition === undefined || definition.collection !== undefined) refuse(model.identity, i, `no attribute "${attribute}" with a column`);
      return { column: columnOf(model.attributes, attribute), descending };
    });
    const suffix = name ?? columns.map((c) => c.column).join('_') + (unique ? '_key' : '_idx');
    if (trigram && model.attributes[fields[0].replace(/^-/, '')].type !== 'string') refuse(model.identity, i, 'a trigram index is on a string attribute');
    return { model: model.identity, table: model.tableName, name: shortName(`${model.tableName}_${suffix}`), columns, unique, elements, trigram };
  });
}

/** The part of a Sails app createIndexes reads: its models. */
export interface IndexedApp {
  models: Record<string, WaterlineModel>;
}

/**
 * Creates every index the app's models declare (and the hook's own log and lock indexes), each on
 * its model's datastore; idempotent (existing indexes are kept). What `npm run migrate` runs, and
 * what lift runs when the ORM migrates schemas (`migrate: 'alter' | 'drop'`). An app that deploys
 * its schema another way calls it from its own migration:
 *
 *   await require('sails-hook-transact').createIndexes(sails);
 *
 * Creating an index on a large PostgreSQL table blocks writes to it while it builds: run it at deploy.
 */
export async function createIndexes(app: IndexedApp): Promise<CreatedIndex[]> {
  const byDatastore = new Map<WaterlineDatastore, IndexSpec[]>();
  for (const model of Object.values(app.models)) {
    const specs = declaredIndexes(model);
    if (specs.length === 0) continue;
    const datastore = model.getDatastore();
    byDatastore.set(datastore, [...(byDatastore.get(datastore) ?? []), ...specs]);
  }
  const created: CreatedIndex[] = [];
  for (const [datastore, specs] of byDatastore) created.push(...(await createIndexesOn(datastore, specs)));
  return created;
}

