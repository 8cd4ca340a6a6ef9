/**
 * Creating and evolving tables without ever dropping one (lib/store/migrations.ts says when): on
 * sails-postgresql CREATE TABLE IF NOT EXISTS and ADD COLUMN IF NOT EXISTS with the column types
 * sails-postgresql's own `define` would use; on sails-mongo the collection and the unique indexes
 * its `define` would make; on sails-disk nothing (sails-disk opens every model's file at lift and
 * has no column to add). And whether a table holds a row, asked natively: a missing table holds none.
 */
import type { ColumnSpec, EvolvedTable, TableSpec } from './contract';
import type { MongoDb } from './mongo/store';
import { ident, inTransaction, type PgPool, qualifiedTable } from './postgres/store';

/** sails-postgresql's mapping (helpers/private/schema/build-schema.js): Waterline's logical types, or the declared type as given. */
export function pgColumnType(spec: ColumnSpec): string {
  switch (spec.columnType.toLowerCase()) {
    case '_number':
      return spec.autoIncrement === true ? 'SERIAL' : 'REAL';
    case '_numberkey':
      return spec.autoIncrement === true ? 'SERIAL' : 'INTEGER';
    case '_numbertimestamp':
      return spec.autoIncrement === true ? 'BIGSERIAL' : 'BIGINT';
    case '_string':
    case '_ref':
      return 'TEXT';
    case '_stringkey':
    case '_stringtimestamp':
      return 'VARCHAR';
    case '_boolean':
      return 'BOOLEAN';
    case '_json':
      return 'JSON';
    default:
      return spec.columnType;
  }
}

function pgColumn(column: string, spec: ColumnSpec, added: boolean): string {
  // An added column is nullable whatever the model says: the table's rows have no value for it.
  const constraints = [spec.notNull === true && !added ? 'NOT NULL' : '', spec.unique === true ? 'UNIQUE' : ''].filter((c) => c !== '');
  return [ident(column), pgColumnType(spec), ...constraints].join(' ');
}

/** The table as sails-postgresql's `define` creates it, unless it exists. */
export function pgCreateTable(table: string, spec: TableSpec): string {
  const columns = Object.entries(spec.columns).map(([column, def]) => pgColumn(column, def, false));
  const keys = Object.entries(spec.columns).filter(([, def]) => def.primaryKey === true).map(([column]) => ident(column));
  if (keys.length > 0) columns.push(`PRIMARY KEY (${keys.join(', ')})`);
  return `CREATE TABLE IF NOT EXISTS ${table} (${columns.join(', ')})`;
}

export function pgAddColumn(table: string, column: string, spec: ColumnSpec): string {
  return `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS ${pgColumn(column, spec, true)}`;
}

/** Serializes instances lifting together on one database: concurrent CREATE TABLE IF NOT EXISTS can fail on the catalog. */
/** Every instance evolving the schema takes this transaction-scoped advisory lock first: one at a time. */
const SCHEMA_LOCK = "hashtext('sails-hook-transact:schema')";

/**
 * Creates the missing tables and adds the missing columns, in one transaction. An existing table's
 * columns are read from the catalog first, so that a table that needs nothing takes no lock (an
 * ALTER TABLE waits behind every open query on the table, and every query waits behind it).
 */
export function evolvePgTables(pool: PgPool, specs: readonly TableSpec[], schema: string | null): Promise<EvolvedTable[]> {
  return inTransaction(pool, { advisoryLocks: [SCHEMA_LOCK] }, async (client) => {
    const evolved: EvolvedTable[] = [];
    if (schema !== null) await client.query(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`);
    for (const spec of specs) {
      const table = qualifiedTable(spec.table, schema);
      const { rows } = await client.query('SELECT column_name FROM information_schema.columns WHERE table_schema = COALESCE($1, current_schema()) AND table_name = $2', [schema, spec.table]);
      if (rows.length === 0) {
        await client.query(pgCreateTable(table, spec));
        evolved.push({ model: spec.model, table: spec.table, created: true, addedColumns: [] });
        continue;
      }
      const existing = new Set(rows.map((row) => String(row.column_name)));
      const missing = Object.keys(spec.columns).filter((column) => !existing.has(column));
      for (const column of missing) await client.query(pgAddColumn(table, column, spec.columns[column]));
      evolved.push({ model: spec.model, table: spec.table, created: false, addedColumns: missing });
    }
    return evolved;
  });
}

export async function pgTableHoldsRows(pool: PgPool, table: string, schema: string | null): Promise<boolean> {
  const name = qualifiedTable(table, schema);
  const { rows } = await pool.query('SELECT to_regclass($1) IS NOT NULL AS present', [name]);
  if (rows[0]?.present !== true) return false;
  return (await pool.query(`SELECT 1 FROM ${name} LIMIT 1`)).rows.length > 0;
}

const NAMESPACE_EXISTS = 48;

/** The collections, and the unique indexes sails-mongo's `define` makes (`unique: true` attributes; `_id` has its own). */
export async function evolveMongoCollections(db: MongoDb, specs: readonly TableSpec[]): Promise<EvolvedTable[]> {
  const evolved: EvolvedTable[] = [];
  for (const spec of specs) {
    let created = true;
    try {
      await db.command({ create: spec.table });
    } catch (err) {
      if ((err as { code?: unknown }).code !== NAMESPACE_EXISTS) throw err;
      created = false;
    }
    for (const [column, def] of Object.entries(spec.columns)) {
      if (def.unique === true && column !== '_id') await db.collection(spec.table).createIndex({ [column]: 1 }, { unique: true });
    }
    evolved.push({ model: spec.model, table: spec.table, created, addedColumns: [] });
  }
  return evolved;
}

export async function mongoCollectionHoldsRows(db: MongoDb, table: string): Promise<boolean> {
  return (await db.collection(table).findOne({})) !== null;
}
