/**
 * The Waterline differential suite's app: a fresh app directory (not the fund), three inline
 * models with the associations a Sails app uses — `owner` has many `pet`s (a to-many collection,
 * via `pet.owner`, a to-one model) — a JSON attribute and a unique attribute; loaded without HTTP,
 * with the hook from dist/. The same program runs against it through the hook's transaction, and
 * against a reference: sails-postgresql's own native transaction (an app loaded with the hook's
 * default `waterlineTransactions: 'native'`), or plain Waterline on the same adapter. `schema: true`
 * everywhere: sails-disk's default (false) refuses `.select()` and `.omit()`.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TransactConfig } from '../../lib/config';
import { freshAdapter } from '../../lib/drill';
import { rawDestroy } from '../../lib/models/destroy-guard';
import type { Engine } from '../../lib/engine';
import type { WaterlineModel } from '../../lib/core/waterline';
import { resetTarget, type Target } from './targets';

export type Row = Record<string, unknown>;

/** A Waterline query, as the programs chain it (Waterline ships no types): every modifier returns the query. */
export interface Chain extends PromiseLike<unknown> {
  usingConnection(db: unknown): Chain;
  set(values: Row): Chain;
  fetch(): Chain;
  meta(meta: Row): Chain;
  populate(association: string, subcriteria?: Row): Chain;
  where(where: Row): Chain;
  sort(sort: unknown): Chain;
  skip(skip: number): Chain;
  limit(limit: number): Chain;
  select(attributes: string[]): Chain;
  omit(attributes: string[]): Chain;
  eachRecord(each: (record: Row) => void): Chain;
  members(ids: string[]): Chain;
}

/** The model methods the programs call. */
export interface DiffModel {
  find(criteria?: Row): Chain;
  findOne(criteria: Row): Chain;
  count(criteria?: Row): Chain;
  sum(attribute: string, criteria?: Row): Chain;
  avg(attribute: string, criteria?: Row): Chain;
  create(values: Row): Chain;
  createEach(values: Row[]): Chain;
  findOrCreate(criteria: Row, values: Row): Chain;
  update(criteria: Row): Chain;
  updateOne(criteria: Row): Chain;
  destroy(criteria: Row): Chain;
  destroyOne(criteria: Row): Chain;
  archive(criteria: Row): Chain;
  archiveOne(criteria: Row): Chain;
  stream(criteria?: Row): Chain;
  addToCollection(ids: string | string[], association: string): Chain;
  removeFromCollection(ids: string | string[], association: string): Chain;
  replaceCollection(ids: string | string[], association: string): Chain;
}

export interface DiffDatastore {
  transaction(during: (db: unknown) => unknown): PromiseLike<unknown>;
}

/** The identities of the suite's own models, whose rows are the compared state. */
export const DIFF_MODELS = ['owner', 'pet', 'archive'] as const;

export interface DiffApp {
  models: Record<string, DiffModel>;
  datastore: DiffDatastore;
  engine: Engine;
  /** Empties the models and the hook's log and locks, past the history guard. */
  wipe(): Promise<void>;
  lower(): Promise<void>;
}

function adapterConfig(target: Target): Record<string, unknown> {
  switch (target.adapter) {
    case 'disk':
      return { adapter: freshAdapter('sails-disk'), dir: target.location };
    case 'mongo': {
      // A fresh copy: sails-mongo's teardown forgets nothing (see test/support/app.ts).
      const main = require.resolve('sails-mongo');
      delete require.cache[main];
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return { adapter: require(main), url: target.location };
    }
    case 'postgresql':
      return { adapter: freshAdapter('sails-postgresql'), url: target.location };
  }
}

/**
 * `owner` (a unique `email`, a JSON `profile`, its `pets`), `pet` (its `owner`) and `archive`
 * (Waterline's `.archive()` target, declared because the default one copies the archived model's
 * primary key, a required string here, which `.archive()` never sets).
 */
export function diffModels(target: Target): Record<string, unknown> {
  const id = target.adapter === 'mongo' ? { type: 'string', required: true, columnName: '_id' } : { type: 'string', required: true };
  return {
    owner: {
      attributes: {
        id,
        name: { type: 'string', required: true },
        email: { type: 'string', required: true, unique: true },
        age: { type: 'number', defaultsTo: 0 },
        tier: { type: 'string', allowNull: true },
        profile: { type: 'json' },
        pets: { collection: 'pet', via: 'owner' },
      },
    },
    pet: {
      attributes: { id, name: { type: 'string', required: true }, kind: { type: 'string', defaultsTo: 'dog' }, weight: { type: 'number', defaultsTo: 1 }, owner: { model: 'owner' } },
    },
    archive: {
      archiveModelIdentity: false,
      attributes: {
        // Waterline creates archive rows without an id: an optional string (sails-disk and sails-mongo
        // pick one, and so does the engine), or on sails-postgresql (which requires a primary key to
        // be required or auto-increment) a sequence.
        id: target.adapter === 'postgresql' ? { type: 'number', autoMigrations: { autoIncrement: true } } : { type: 'string', ...(target.adapter === 'mongo' ? { columnName: '_id' } : {}) },
        createdAt: { type: 'number', autoCreatedAt: true },
        updatedAt: false,
        fromModel: { type: 'string' },
        originalRecord: { type: 'json' },
        originalRecordId: { type: 'json' },
      },
    },
  };
}

export async function loadDiffApp(target: Target, transact: Partial<TransactConfig>): Promise<DiffApp> {
  await resetTarget(target);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Sails = require('sails').constructor as new () => {
    load(config: object, cb: (err?: Error) => void): void;
    lower(cb: (err?: Error) => void): void;
    hooks: Record<string, unknown>;
    models: Record<string, unknown>;
    getDatastore(name?: string): DiffDatastore;
  };
  const appPath = mkdtempSync(join(tmpdir(), 'transact-diff-app-'));
  writeFileSync(join(appPath, 'package.json'), JSON.stringify({ name: 'diff-app', private: true }));
  const app = new Sails();
  const config = {
    appPath,
    environment: 'test',
    log: { level: process.env.SAILS_LOG_LEVEL ?? 'error' },
    globals: false,
    hooks: {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      orm: require('sails-hook-orm'),
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      transact: require('../../lib'),
      http: false,
      sockets: false,
      pubsub: false,
      views: false,
      session: false,
      i18n: false,
      grunt: false,
      blueprints: false,
      security: false,
      cors: false,
      csrf: false,
      responses: false,
      request: false,
      policies: false,
    },
    models: { migrate: 'drop', datastore: 'default', dontUseObjectIds: true, schema: true, attributes: { createdAt: { type: 'number', autoCreatedAt: true }, updatedAt: { type: 'number', autoUpdatedAt: true } } },
    datastores: { default: adapterConfig(target) },
    orm: { moduleDefinitions: { models: diffModels(target) } },
    transact: { recoveryIntervalMs: 0, lockTimeoutMs: 3000, ...transact },
  };
  await new Promise<void>((resolve, reject) => app.load(config, (err) => (err ? reject(err) : resolve())));
  const models = app.models as unknown as Record<string, DiffModel>;
  const datastore = app.getDatastore();
  return {
    models,
    datastore,
    engine: (app.hooks.transact as { engine: Engine }).engine,
    wipe: async () => {
      const identities = [...DIFF_MODELS, 'transactlog', 'transactlock', 'transactrecord'].filter((identity) => app.models[identity] !== undefined);
      if (target.adapter !== 'mongo') {
        for (const identity of identities) await rawDestroy(app.models[identity] as WaterlineModel)({});
        return;
      }
      // Natively on sails-mongo: log protocol v3 keeps a destroyed document as a tombstone in its
      // collection, which a Waterline destroy (committed reads: no tombstones) does not reach.
      const db = (datastore as unknown as { manager: { collection(name: string): { deleteMany(filter: object): Promise<unknown> } } }).manager;
      for (const identity of identities) await db.collection((app.models[identity] as WaterlineModel).tableName).deleteMany({});
    },
    lower: () => new Promise<void>((resolve, reject) => app.lower((err) => (err ? reject(err) : resolve()))),
  };
}
