/**
 * Schemas that never lose data. Waterline's auto-migrations run over every model at lift:
 * `alter` reads each table into memory, drops it, recreates it and reinserts the rows in one
 * statement (sails-postgresql refuses more than 65,535 bind parameters: ~3,120 log documents of
 * 21 columns; a row the new definition refuses fails the reinsert too), `drop` drops it. Either one,
 * after the drop, leaves the table empty. So:
 *
 * - Waterline never migrates anything: the hook turns the app's `migrate` into 'safe' at configure
 *   (before sails-hook-orm reads it) and does what was asked itself, once the ORM is up.
 * - The hook's own tables (log, locks) are evolved at every lift, in every environment: created
 *   when missing, a column added when the model declares one the table lacks; nothing is ever
 *   dropped or rewritten (a changed column type is not changed: that needs a written migration).
 * - The app's models under 'alter' / 'drop': the lift refuses (`migration_refused`, naming the
 *   tables) when one of their tables holds a row; over empty tables it drops and recreates them, as
 *   Waterline would have.
 * - `evolveModels: true` (development, `npm run migrate`): the app's tables are evolved like the
 *   hook's own.
 */
import { TransactError } from '../core/errors';
import { evolveTablesOn, tableHoldsRows } from './';
import type { ColumnSpec, EvolvedTable, TableSpec } from './contract';
import { columnOf, type WaterlineDatastore, type WaterlineModel } from '../core/waterline';


/** The part of a Waterline model the schema is read from (its normalized `schema`). */
export interface MigratableModel {
  identity: string;
  tableName: string;
  primaryKey: string;
  schema?: Record<string, { columnName?: string; collection?: string; autoMigrations?: Partial<ColumnSpec> }>;
}

export type MigrateStrategy = 'safe' | 'alter' | 'drop';

/**
 * The strategy the app asked for. Unset counts as 'safe': sails-hook-orm would otherwise prompt
 * for one at lift, offering alter and drop.
 */
export function requestedStrategy(value: unknown): MigrateStrategy {
  if (value === undefined || value === 'safe' || value === 'alter' || value === 'drop') return value ?? 'safe';
  throw new TransactError('validation_failed', `models.migrate must be 'safe', 'alter' or 'drop', not ${JSON.stringify(value)}`, { path: 'models.migrate' });
}

/** The table Waterline's `define` would create for a model: every attribute with a column, the primary key marked. */
export function tableSpec(model: MigratableModel): TableSpec {
  const columns: Record<string, ColumnSpec> = {};
  const schema = model.schema ?? {};
  for (const [name, attribute] of Object.entries(schema)) {
    if (attribute.collection !== undefined) continue;
    const auto = attribute.autoMigrations;
    if (auto === undefined || typeof auto.columnType !== 'string') throw new Error(`sails-hook-transact: model ${model.identity}: attribute ${name} has no autoMigrations.columnType`);
    columns[columnOf(schema, name)] = { ...auto, columnType: auto.columnType, ...(name === model.primaryKey ? { primaryKey: true } : {}) };
  }
  return { model: model.identity, table: model.tableName, columns };
}

/** The lift's refusal: `migrate` would drop these tables, and they hold rows. */
export function migrationRefused(strategy: 'alter' | 'drop', tables: readonly string[]): TransactError<'migration_refused'> {
  const named = tables.map((table) => `"${table}"`).join(', ');
  return new TransactError(
    'migration_refused',
    `sails-hook-transact: refusing to lift: migrate: '${strategy}' would drop ${tables.length === 1 ? 'the table' : 'the tables'} ${named}, which hold${tables.length === 1 ? 's' : ''} data (Waterline rebuilds every table at each lift, and loses its rows when the reinsert fails). Nothing was dropped. Use migrate: 'safe' and evolve the schema with \`npm run migrate\` (the hook's evolveModels: tables and columns are added, never dropped), or empty the tables first.`,
    { path: 'models.migrate', details: { strategy, tables: [...tables] } },
  );
}

/** The part of a Sails app the migrations read: its models, by identity. */
export interface MigratedApp {
  models: Record<string, WaterlineModel>;
}

/** The adapter methods Waterline's own auto-migrations call (every Waterline adapter has them). */
interface MigratingAdapter {
  drop(datastore: string, table: string, relations: undefined, cb: (err?: Error) => void): void;
  define(datastore: string, table: string, definition: Record<string, ColumnSpec>, cb: (err?: Error) => void): void;
}

function adapterOf(model: WaterlineModel): MigratingAdapter {
  const adapter = model._adapter as MigratingAdapter | undefined;
  if (adapter === undefined || typeof adapter.drop !== 'function' || typeof adapter.define !== 'function') throw new Error(`sails-hook-transact: model ${model.identity}: its adapter cannot drop and define tables`);
  return adapter;
}

function call(run: (cb: (err?: Error) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => run((err) => (err ? reject(err) : resolve())));
}

/**
 * A model's registered datastore. Waterline's own models (Sails' `archive`) lack sails-hook-orm's
 * `getDatastore()`: another model of the same datastore has it.
 */
function datastoreOf(model: WaterlineModel, models: readonly WaterlineModel[]): WaterlineDatastore {
  if (typeof model.getDatastore === 'function') return model.getDatastore();
  const other = models.find((candidate) => candidate.datastore === model.datastore && typeof candidate.getDatastore === 'function');
  if (other === undefined) throw new Error(`sails-hook-transact: model ${model.identity}: no model of its datastore "${model.datastore}" has getDatastore()`);
  return other.getDatastore();
}

/**
 * Creates the missing tables of `models` and adds their missing columns (lib/store/tables.ts),
 * each on its model's datastore; idempotent. Returns what it did, per table.
 */
export async function evolveTables(models: readonly WaterlineModel[]): Promise<EvolvedTable[]> {
  const byDatastore = new Map<WaterlineDatastore, TableSpec[]>();
  for (const model of models) {
    const datastore = datastoreOf(model, models);
    byDatastore.set(datastore, [...(byDatastore.get(datastore) ?? []), tableSpec(model as unknown as MigratableModel)]);
  }
  const evolved: EvolvedTable[] = [];
  for (const [datastore, specs] of byDatastore) evolved.push(...(await evolveTablesOn(datastore, specs)));
  return evolved;
}

/**
 * What `migrate: 'alter' | 'drop'` asks of the app's models, without its data loss: refuses
 * (`migration_refused`, every table named) when one of their tables holds a row, before anything
 * is dropped; otherwise drops and recreates each one through its adapter, as Waterline does.
 */
export async function rebuildEmptyTables(strategy: 'alter' | 'drop', models: readonly WaterlineModel[]): Promise<void> {
  // Waterline's own refusal, which the hook's 'safe' would otherwise lift.
  if (process.env.NODE_ENV === 'production' && !process.env.ALLOW_UNSAFE_MIGRATIONS) {
    throw new Error(`\`migrate: '${strategy}'\` strategy is not supported in production, please change to \`migrate: 'safe'\`.`);
  }
  const holding: string[] = [];
  for (const model of models) if (await tableHoldsRows(model, datastoreOf(model, models))) holding.push(model.tableName);
  if (holding.length > 0) throw migrationRefused(strategy, holding.sort());
  for (const model of models) {
    const adapter = adapterOf(model);
    const { columns } = tableSpec(model as unknown as MigratableModel);
    await call((cb) => adapter.drop(model.datastore, model.tableName, undefined, cb));
    await call((cb) => adapter.define(model.datastore, model.tableName, columns, cb));
  }
}
