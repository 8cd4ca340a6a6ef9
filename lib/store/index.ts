/**
 * The store's front: which store an adapter gets, which log protocol runs on it, and the index and
 * table operations dispatched to the adapter's module. Callers outside lib/store/ import from here,
 * the contracts (contract.ts, records.ts) or the retrying wrapper, never an adapter's module
 * (test/app/layers.test.ts).
 */
import type { AdapterKind, LogDocument } from '../core/types';
import type { WaterlineDatastore, WaterlineModel } from '../core/waterline';
import { isHookModel, LOCK_IDENTITY, RECORD_IDENTITY } from '../models/hook-models';
import type { RecordStore } from './records';
import { DiskStore } from './disk/store';
import { DiskRecords } from './disk/records';
import { createMongoIndexes, type MongoDb, MongoStore } from './mongo/store';
import { hideRecords } from './mongo/plain-reads';
import { createRecordIndexes, MongoRecords, recordsUnsafeOn, type UniqueKeys } from './mongo/records';
import { countPgLogs, createPgIndexes, findPgLogs, ident, type PgLogCriteria, type PgPool, PostgresStore, qualifiedTable } from './postgres/store';
import { NativePostgres, NativeTables } from './postgres/native';
import { PostgresRecords } from './postgres/records';
import { evolveMongoCollections, evolvePgTables, mongoCollectionHoldsRows, pgTableHoldsRows } from './tables';
import type { AtomicStore, CreatedIndex, NativeTransactions, EvolvedTable, IndexSpec, TableSpec } from './contract';
import type { ModelResolver } from './waterline-writes';

export type { AtomicStore, FencedWrite } from './contract';
export type { AdapterKind };
export { claimDiskDirectory, releaseDiskDirectory } from './disk/store';

/** Maps a datastore's adapter identity to the store family that implements it. */
export function adapterKind(adapter: unknown): AdapterKind {
  const identity = typeof adapter === 'string' ? adapter : (adapter as { identity?: unknown } | null)?.identity;
  switch (identity) {
    case 'sails-disk':
      return 'disk';
    case 'sails-mongo':
      return 'mongo';
    case 'sails-postgresql':
      return 'postgresql';
    default:
      throw new Error(`sails-hook-transact: no atomic store for adapter "${String(identity)}" (supported: sails-disk, sails-mongo, sails-postgresql)`);
  }
}

/**
 * Creates `specs` (lib/store/indexes.ts) on one datastore, natively: CREATE INDEX on sails-postgresql
 * (in the datastore's `schemaName`, if any), createIndex on sails-mongo, nothing on sails-disk.
 */
export async function createIndexesOn(datastore: WaterlineDatastore, specs: readonly IndexSpec[]): Promise<CreatedIndex[]> {
  switch (adapterKind(datastore.config.adapter)) {
    case 'disk':
      return specs.map((spec) => ({ model: spec.model, name: spec.name, adapter: 'disk' as const, created: false }));
    case 'mongo':
      return createMongoIndexes(datastore.manager as MongoDb, specs);
    case 'postgresql':
      return createPgIndexes((datastore.manager as { pool: PgPool }).pool, specs, pgSchemaOf(datastore));
  }
}

function pgSchemaOf(datastore: WaterlineDatastore): string | null {
  return typeof datastore.config.schemaName === 'string' ? datastore.config.schemaName : null;
}

/**
 * Creates the missing tables of `specs` and adds their missing columns, on one datastore
 * (lib/store/tables.ts): never drops, never retypes. Nothing to do on sails-disk.
 */
export async function evolveTablesOn(datastore: WaterlineDatastore, specs: readonly TableSpec[]): Promise<EvolvedTable[]> {
  switch (adapterKind(datastore.config.adapter)) {
    case 'disk':
      return specs.map((spec) => ({ model: spec.model, table: spec.table, created: false, addedColumns: [] }));
    case 'mongo':
      return evolveMongoCollections(datastore.manager as MongoDb, specs);
    case 'postgresql':
      return evolvePgTables((datastore.manager as { pool: PgPool }).pool, specs, pgSchemaOf(datastore));
  }
}

/** Does the model's table hold a row? A table that does not exist holds none. */
export async function tableHoldsRows(model: WaterlineModel, datastore: WaterlineDatastore): Promise<boolean> {
  switch (adapterKind(datastore.config.adapter)) {
    case 'disk':
      return (await model.count({})) > 0;
    case 'mongo':
      return mongoCollectionHoldsRows(datastore.manager as MongoDb, model.tableName);
    case 'postgresql':
      return pgTableHoldsRows((datastore.manager as { pool: PgPool }).pool, model.tableName, pgSchemaOf(datastore));
  }
}

/**
 * The native path for the datastore that holds the log, where its adapter has transactions
 * (sails-postgresql); undefined elsewhere.
 */
export function createNativePath(logModel: WaterlineModel, lockModel: WaterlineModel, modelOf: ModelResolver, stalledWriterMs: number): NativeTransactions | undefined {
  const datastore = logModel.getDatastore();
  if (adapterKind(datastore.config.adapter) !== 'postgresql') return undefined;
  const { pool } = datastore.manager as { pool: PgPool };
  return new NativePostgres(pool, new NativeTables(modelOf, ident(logModel.tableName), ident(lockModel.tableName)), { stalledWriterMs });
}

/** How the engine runs transactions on the log's datastore: `protocol` resolved for its adapter. */
export type RunningProtocol = 'native' | 'log' | 'redo';

/**
 * What `protocol: 'auto'` runs: sails-postgresql's own transactions there; log protocol v3 on
 * sails-disk and on MongoDB. A server that cannot hold v3's records safely is told apart only once
 * connected: autoProtocolOn.
 */
export function runningProtocol(configured: 'auto' | 'log' | 'redo', kind: AdapterKind): RunningProtocol {
  if (configured !== 'auto') return configured;
  switch (kind) {
    case 'postgresql':
      return 'native';
    case 'disk':
    case 'mongo':
      return 'redo';
  }
}

/**
 * `protocol: 'auto'` on the connected datastore: runningProtocol's answer, but the log protocol
 * (v2) where v3's records would not be safe (FerretDB: recordsUnsafeOn), with the reason. v2's
 * locks are inserts under a unique _id, which such a server does make atomic; on sails-mongo both
 * protocols use the same collections, so the choice can wait until the connection answers.
 */
export async function autoProtocolOn(logModel: WaterlineModel): Promise<{ protocol: RunningProtocol; reason: string | null }> {
  const protocol = runningProtocol('auto', adapterKind(logModel.getDatastore().config.adapter));
  if (protocol !== 'redo') return { protocol, reason: null };
  const unsafe = await recordStoreWarning(logModel);
  return unsafe === null ? { protocol, reason: null } : { protocol: 'log', reason: unsafe };
}

/**
 * Builds the store for the datastore that holds the log and lock models. The documents the
 * engine writes must live on the same datastore: the fence check and the write are one operation.
 * @param stalledWriterMs how long a writer stalled inside its native write may hold its lock rows (sails-postgresql)
 */
export function createStore(logModel: WaterlineModel, lockModel: WaterlineModel, modelOf: ModelResolver, stalledWriterMs: number): AtomicStore {
  const datastore = logModel.getDatastore();
  switch (adapterKind(datastore.config.adapter)) {
    case 'disk':
      return new DiskStore(logModel, lockModel, modelOf);
    case 'mongo':
      return new MongoStore(datastore.manager as MongoDb, logModel.tableName, lockModel.tableName, modelOf);
    case 'postgresql':
      return new PostgresStore((datastore.manager as { pool: PgPool }).pool, logModel.tableName, lockModel.tableName, modelOf, stalledWriterMs);
  }
}

/**
 * Log protocol v3's records (lib/store/records.ts) for the datastore that holds the log: sails-disk
 * and sails-postgresql keep them in the hook's record model beside the documents, sails-mongo in
 * the documents themselves (their unique keys, `uniqueKeys`, reserved by the stubs).
 * @param stalledWriterMs sails-postgresql: how long a reservation stalled inside its transaction
 *   (holding the advisory locks of its unique values) may keep it before PostgreSQL ends its session
 */
export function createRecordStore(logModel: WaterlineModel, models: Readonly<Record<string, WaterlineModel>>, modelOf: ModelResolver, uniqueKeys: UniqueKeys, stalledWriterMs: number): RecordStore {
  const datastore = logModel.getDatastore();
  const kind = adapterKind(datastore.config.adapter);
  switch (kind) {
    case 'disk':
      return new DiskRecords(models[RECORD_IDENTITY], modelOf);
    case 'mongo':
      return new MongoRecords(datastore.manager as MongoDb, modelOf, uniqueKeys);
    case 'postgresql': {
      const record = models[RECORD_IDENTITY];
      if (record === undefined) throw new Error("sails-hook-transact: protocol 'redo' on sails-postgresql needs the hook's record model (registered at configure when protocol is 'redo')");
      const tables = new NativeTables(modelOf, ident(logModel.tableName), ident(models[LOCK_IDENTITY].tableName));
      return new PostgresRecords((datastore.manager as { pool: PgPool }).pool, record.tableName, logModel.tableName, tables, modelOf, uniqueKeys, stalledWriterMs);
    }
  }
}

/** The app's models on the log's datastore: the ones whose documents carry v3 records. */
function recordModels(logModel: WaterlineModel, models: readonly WaterlineModel[]): WaterlineModel[] {
  return models.filter((model) => !isHookModel(model.identity) && model.datastore === logModel.datastore);
}

/**
 * On sails-mongo, where the records live in the app's documents: the app's plain queries on those
 * collections stop seeing stubs, tombstones and the hidden fields (lib/store/mongo/plain-reads.ts).
 * Nothing to do elsewhere (sails-disk keeps records beside the documents).
 */
export function adoptRecordModels(logModel: WaterlineModel, models: readonly WaterlineModel[]): void {
  if (adapterKind(logModel.getDatastore().config.adapter) !== 'mongo') return;
  for (const model of recordModels(logModel, models)) {
    const adapter = (model as { _adapter?: unknown })._adapter;
    if (typeof adapter === 'object' && adapter !== null) hideRecords(adapter, [model.tableName]);
  }
}

/** Why the log's datastore cannot run log protocol v3 safely (FerretDB: recordsUnsafeOn), or null. */
export async function recordStoreWarning(logModel: WaterlineModel): Promise<string | null> {
  const datastore = logModel.getDatastore();
  return adapterKind(datastore.config.adapter) === 'mongo' ? recordsUnsafeOn(datastore.manager as MongoDb) : null;
}

/** Recovery's index on each record collection's lock lease (sails-mongo); nothing elsewhere. */
export async function createRecordIndexesOn(logModel: WaterlineModel, models: readonly WaterlineModel[]): Promise<void> {
  const datastore = logModel.getDatastore();
  if (adapterKind(datastore.config.adapter) !== 'mongo') return;
  await createRecordIndexes(datastore.manager as MongoDb, recordModels(logModel, models).map((model) => model.tableName));
}

/** A case-insensitive listing of the log that its adapter answers natively, where Waterline's own would not use an index. */
export interface NativeLogSearch {
  find(criteria: PgLogCriteria): Promise<LogDocument[]>;
  count(where: Record<string, unknown>): Promise<number>;
}

/**
 * sails-postgresql: `ILIKE` through the label's trigram index (its Waterline `contains` is a
 * case-sensitive LIKE, `_` a wildcard). Elsewhere undefined: Waterline's
 * `makeLikeModifierCaseInsensitive` serves.
 */
export function nativeLogSearchOn(logModel: WaterlineModel): NativeLogSearch | undefined {
  const datastore = logModel.getDatastore();
  if (adapterKind(datastore.config.adapter) !== 'postgresql') return undefined;
  const schema = typeof datastore.config.schemaName === 'string' ? datastore.config.schemaName : null;
  const pool = (datastore.manager as { pool: PgPool }).pool;
  const table = qualifiedTable(logModel.tableName, schema);
  return { find: (criteria) => findPgLogs(pool, table, criteria), count: (where) => countPgLogs(pool, table, where) };
}

