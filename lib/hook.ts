/**
 * The Sails glue, and nothing else: registers the log and lock models, builds the engine once
 * the ORM is loaded, runs recovery at start, starts the scheduler (recovery and the app's jobs)
 * and stops it on lower, installs the HTTP layer (lib/http: transactional blueprints, and the REST
 * endpoints when configured), and exposes `sails.transact(...)` and `sails.hooks.transact`.
 */
import { AmbientTransactions } from './waterline-api/ambient';
import { type OpsSettings, resolveConfig, type TransactConfig } from './config';
import { Engine, type TransactionResult } from './engine';
import { type ErrorRegistry, HOOK_ERRORS } from './core/errors';
import { forbidDestroy, isFinancial } from './models/destroy-guard';
import type { CreatedIndex, EvolvedTable } from './store/contract';
import { createIndexes } from './store/indexes';
import { uniqueKeys } from './core/model-info';
import { isHookModel } from './models/hook-models';
import { evolveTables, type MigrateStrategy, rebuildEmptyTables, requestedStrategy } from './store/migrations';
import { installHttp, type InstalledHttp } from './http';
import type { HttpApp } from './http/sails';
import { LOCK_IDENTITY, LOG_IDENTITY, internalModels } from './models/hook-models';
import { type InstalledOps, installOps } from './ops';
import { healthOf, type StuckPage, stuckTransactions, type TransactHealth } from './operator';
import type { CommittedReads } from './reads';
import { ownerToken, type RecoverySummary, type TransactionStats } from './protocol/recovery';
import { Scheduler } from './scheduler';
import type { TransactionOptions } from './core/validation';
import { adapterKind, adoptRecordModels, autoProtocolOn, claimDiskDirectory, createNativePath, createRecordIndexesOn, createRecordStore, createStore, recordStoreWarning, releaseDiskDirectory, type RunningProtocol, runningProtocol } from './store';
import type { Transaction } from './engine/transaction';
import type { WaterlineModel } from './core/waterline';
import { installWaterlineTransactions, type RegisteredDatastore } from './waterline-api';

/** The part of a Sails app the hook touches. */
export interface SailsApp {
  config: {
    transact?: Omit<Partial<TransactConfig>, 'ops'> & { ops?: OpsSettings | false };
    datastores: Record<string, { adapter: unknown }>;
    /**
     * sails-hook-orm's model defaults. The hook reads `migrate` at configure and sets it to 'safe':
     * Waterline's auto-migrations never run; the hook does what was asked (lib/store/migrations.ts).
     */
    models?: { migrate?: string };
    /** Read by lib/ops, to warn when nothing guards the ops page. */
    policies?: Record<string, unknown>;
    orm: { moduleDefinitions?: { models?: Record<string, unknown>; adapters?: Record<string, unknown> } };
  };
  models: Record<string, WaterlineModel>;
  log: { info(...args: unknown[]): void; warn(...args: unknown[]): void; error(...args: unknown[]): void; verbose(...args: unknown[]): void };
  hooks?: Record<string, unknown>;
  /** Sails' action registry and router (lib/http and lib/ops use them): Sails takes any `(req, res)` function. */
  registerAction?(action: (req: never, res: never) => unknown, identity: string, force?: boolean): void;
  router?: HttpApp['router'];
  after(event: string | string[], handler: () => void): void;
  on(event: string, handler: () => void): void;
  transact?: Transact;
  /** sails-hook-orm's registered datastores, and its copy of the default one's `transaction`. */
  getDatastore?: (name?: string) => RegisteredDatastore;
  transaction?: unknown;
}

/** `sails.transact(batch, options)` or `sails.transact(async tx => …, options)`. */
export interface Transact {
  (operations: unknown[], options?: TransactionOptions): Promise<TransactionResult>;
  <T>(work: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T>;
}

export interface TransactHook {
  defaults: { transact: Record<string, never> };
  configure(this: TransactHook): void;
  initialize(done: (err?: Error) => void): void;
  /** Set once the hook has initialized. */
  engine?: Engine;
  /** Set once the hook has initialized: recovery and the app's jobs (config.transact.jobs). */
  scheduler?: Scheduler;
  /** The one error registry: the hook's codes and the app's (`config.transact.errors`). Set at configure. */
  errors: ErrorRegistry;
  /** Committed reads (lib/reads): what a transaction in flight has written is never seen. */
  reads(): CommittedReads;
  /** This instance's transaction counters since it started (and its transient-error retries). */
  stats(): TransactionStats & { transientRetries: number };
  /** Is the log's datastore reachable, how many transactions are stuck, and the counters (lib/operator/health.ts). */
  health(): Promise<TransactHealth>;
  /** Transactions stuck past their lease or marked for attention, oldest first (lib/operator/stuck.ts). */
  stuck(page?: { limit?: number; skip?: number }): Promise<StuckPage>;
  /** Runs one recovery pass now (the timer does this on its own). */
  recover(): Promise<RecoverySummary>;
  /** Creates the indexes every model declares (lib/store/indexes.ts): what `npm run migrate` runs. */
  createIndexes(): Promise<CreatedIndex[]>;
  /** Creates every model's missing tables and adds their missing columns, never dropping (lib/store/migrations.ts): what `npm run migrate` runs. */
  evolveSchema(): Promise<EvolvedTable[]>;
  /** Sails calls it on sails.reloadActions(): the hook's blueprint, REST and ops page actions, again. */
  registerActions(cb: (err?: Error) => void): void;
  /**
   * Runs `work`, and everything it starts (timers included), outside any ambient transaction
   * (`config.transact.ambient`): its model calls run on their own, and it may start a transaction
   * of its own. Without ambient transactions it just runs (and awaits) `work`.
   */
  outside<T>(work: () => T | PromiseLike<T>): Promise<T>;
}

export function transactHook(sails: SailsApp): TransactHook {
  let config: TransactConfig;
  /** `config.protocol` resolved for the log's adapter (set at configure; on sails-mongo 'auto' settles at start, autoProtocolOn). */
  let protocol: RunningProtocol;
  /** The app's `models.migrate`, before the hook turned it into 'safe'. */
  let migrate: MigrateStrategy = 'safe';
  let ops: InstalledOps | undefined;
  let http: InstalledHttp | undefined;
  /** This app's ambient transactions (config.transact.ambient), set at configure: its own, never another app's. */
  let ambient: AmbientTransactions | undefined;

  const started = (target: TransactHook): Engine => {
    if (target.engine === undefined) throw new Error('sails-hook-transact: not initialized yet');
    return target.engine;
  };

  const hook: TransactHook = {
    defaults: { transact: {} },
    errors: HOOK_ERRORS,

    reads(this: TransactHook) {
      return started(this).reads;
    },

    stats(this: TransactHook) {
      const engine = started(this);
      return { ...engine.stats, transientRetries: engine.retries.retried };
    },

    health(this: TransactHook) {
      return healthOf(started(this));
    },

    stuck(this: TransactHook, page = {}) {
      return stuckTransactions(started(this), { limit: page.limit ?? 50, skip: page.skip ?? 0 });
    },

    async outside(work) {
      return ambient === undefined ? work() : ambient.runOutside(work);
    },

    configure(this: TransactHook) {
      config = resolveConfig(sails.config.transact);
      ambient = config.ambient ? new AmbientTransactions() : undefined;
      // Sails copies this definition into its own hook object: set on both, read through either.
      this.errors = HOOK_ERRORS.with(config.errors);
      const datastore = sails.config.datastores[config.datastore];
      if (datastore === undefined) throw new Error(`sails-hook-transact: no datastore "${config.datastore}" for the transaction log`);
      const definitions = sails.config.orm.moduleDefinitions ?? (sails.config.orm.moduleDefinitions = {});
      const kind = adapterKind(datastore.adapter);
      protocol = runningProtocol(config.protocol, kind);
      definitions.models = { ...definitions.models, ...internalModels(kind, config.datastore, protocol) };
      // Waterline's auto-migrations run over every model, the log included, and 'alter' / 'drop'
      // drop each table before they rebuild it: sails-hook-orm, which reads this at its initialize
      // (after every hook's configure), migrates nothing; start() does what was asked, safely.
      const models = sails.config.models ?? (sails.config.models = {});
      migrate = requestedStrategy(models.migrate);
      models.migrate = 'safe';
    },

    // Sails copies this definition into its own hook object, which is `this` in these methods.
    initialize(this: TransactHook, done) {
      if (typeof sails.registerAction === 'function') http = installHttp(this, sails as unknown as HttpApp, config);
      // The ops page's actions exist from the start (its routes bind before the engine is up; they answer 503 until it is).
      if (config.ops !== false) ops = installOps(this, sails, config.ops, config.routes);
      // The hook's actions replace the blueprints' of the same identities: register them once the
      // blueprints hook has registered its own (it does so when the ORM has loaded).
      const ready = sails.hooks?.blueprints === undefined ? 'hook:orm:loaded' : ['hook:orm:loaded', 'hook:blueprints:loaded'];
      sails.after(ready, () => {
        try {
          http?.registerActions();
        } catch (err) {
          done(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        start(this).then(() => done(), (err: unknown) => done(err instanceof Error ? err : new Error(String(err))));
      });
    },

    registerActions(cb) {
      try {
        http?.registerActions();
        ops?.registerActions();
      } catch (err) {
        cb(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      cb();
    },

    async createIndexes() {
      const created = await createIndexes(sails);
      if (protocol === 'redo') await createRecordIndexesOn(sails.models[LOG_IDENTITY], Object.values(sails.models));
      return created;
    },

    evolveSchema() {
      return evolveTables(Object.values(sails.models));
    },

    async recover(this: TransactHook) {
      return started(this).recovery.runOnce();
    },
  };

  /**
   * The schema, before anything reads or writes: the app's tables rebuilt when `migrate` asks
   * and they are empty (else the lift refuses), the hook's own tables (and, with evolveModels,
   * the app's) created or given their missing columns, then the declared indexes where lift
   * builds them (below).
   */
  async function migrateSchema(): Promise<void> {
    const models = Object.values(sails.models);
    if (migrate !== 'safe') await rebuildEmptyTables(migrate, models.filter((model) => !isHookModel(model.identity)));
    const evolved = await evolveTables(config.evolveModels ? models : models.filter((model) => isHookModel(model.identity)));
    for (const table of evolved) {
      if (table.addedColumns.length > 0) sails.log.info(`sails-hook-transact: added to ${table.table} the column(s) ${table.addedColumns.join(', ')}`);
      else if (table.created) sails.log.verbose(`sails-hook-transact: created ${table.table}`);
    }
    // Indexes (the app's and the hook's own log and lock ones) are built at lift only when the
    // schema is migrated at lift (development). Under 'safe' (production) lift never builds one:
    // on a large log a build outlasts Sails' hook timeout (measured at 10M logs) and blocks the
    // table's writes meanwhile, and instances starting together would race on it. It belongs to
    // the deploy step (`npm run migrate`, createIndexes).
    if (migrate !== 'safe' || config.evolveModels) {
      await createIndexes(sails);
      // Log protocol v3 on sails-mongo: recovery's index on the records' lock leases (R7).
      if (protocol === 'redo') await createRecordIndexesOn(sails.models[LOG_IDENTITY], models);
    }
  }

  async function start(target: TransactHook): Promise<void> {
    if (config.protocol === 'auto') {
      const auto = await autoProtocolOn(sails.models[LOG_IDENTITY]);
      if (auto.reason !== null) sails.log.info(`sails-hook-transact: protocol 'auto' runs the log protocol (v2) here: ${auto.reason}`);
      protocol = auto.protocol;
    }
    await migrateSchema();
    forbidDestroy(sails.models[LOG_IDENTITY], 'is the transaction log');
    for (const model of Object.values(sails.models)) if (isFinancial(model)) forbidDestroy(model, 'is financial history');
    const store = createStore(sails.models[LOG_IDENTITY], sails.models[LOCK_IDENTITY], (identity) => sails.models[identity], config.leaseMs);
    await store.setup();
    store.adopt(Object.values(sails.models));
    if (store.kind === 'disk') {
      const dir = String(sails.models[LOG_IDENTITY].getDatastore().config.dir ?? '.tmp/localDiskDb');
      const other = claimDiskDirectory(dir);
      sails.on('lower', () => releaseDiskDirectory(dir));
      if (other !== null) {
        sails.log.warn(`sails-hook-transact: process ${other} also uses the sails-disk directory ${dir}. sails-disk is single-process: transactions are NOT safe across processes. Use sails-mongo or sails-postgresql to run several instances.`);
      }
    }
    // Own keys only: an identity from a URL ('constructor', '__proto__') is never a prototype property.
    const modelOf = (identity: string): WaterlineModel => (Object.prototype.hasOwnProperty.call(sails.models, identity) ? sails.models[identity] : (undefined as unknown as WaterlineModel));
    const native = protocol === 'native' ? createNativePath(sails.models[LOG_IDENTITY], sails.models[LOCK_IDENTITY], modelOf, config.leaseMs) : undefined;
    const records = protocol === 'redo' ? createRecordStore(sails.models[LOG_IDENTITY], sails.models, modelOf, uniqueKeys, config.leaseMs) : undefined;
    // Before the first transaction: plain queries never see a stub, a tombstone or a hidden field.
    if (records !== undefined) {
      adoptRecordModels(sails.models[LOG_IDENTITY], Object.values(sails.models));
      // 'auto' asked the server already (autoProtocolOn), and chose v3 only where it is safe.
      const unsafe = config.protocol === 'redo' ? await recordStoreWarning(sails.models[LOG_IDENTITY]) : null;
      if (unsafe !== null) sails.log.warn(`sails-hook-transact: protocol 'redo': ${unsafe}`);
    }
    const engine = new Engine(store, modelOf, config, (message, err) => sails.log.warn(`sails-hook-transact: ${message}`, err), native, () => Object.keys(sails.models), records);
    await engine.start();
    // With ambient transactions the engine's methods run outside them, wherever they are called
    // from (its own Waterline calls must never join the transaction that called it).
    target.engine = ambient === undefined ? engine : ambient.detached(engine);
    sails.transact = transactFunction(engine, ambient);
    // Waterline's own `datastore.transaction(fn)` + `.usingConnection(db)`, through the engine.
    installWaterlineTransactions(engine, sails, config, ambient);

    const summary = await engine.recovery.runOnce(true);
    sails.log.verbose('sails-hook-transact: startup recovery', summary);

    const scheduler = new Scheduler<unknown>(engine.store, ownerToken(config.instanceId), config.leaseMs, (job, err) => {
      sails.log.error(`sails-hook-transact: job ${job} failed (it runs again at its next interval)`, err);
    }, sails);
    scheduler.register('recovery', {
      intervalMs: config.recoveryIntervalMs,
      jitterMs: Math.floor(config.recoveryIntervalMs / 10),
      run: async () => {
        const result = await engine.recovery.runOnce();
        if (result.rolledBack + result.rolledForward + result.orphans + result.failed > 0) sails.log.info('sails-hook-transact: recovered', result);
        return result;
      },
    });
    for (const [name, job] of Object.entries(config.jobs)) scheduler.register(name, job);
    target.scheduler = scheduler;
    if (config.scheduler) scheduler.start();
    stopBeforeShutdown(sails, () => scheduler.stop());
  }

  /**
   * `sails.transact`. With ambient transactions, refused inside one (it would commit on its own),
   * and an interactive callback's model calls join it (lib/waterline-api/ambient.ts).
   */
  function transactFunction(engine: Engine, scope: AmbientTransactions | undefined): Transact {
    const transact = async (input: unknown, options?: TransactionOptions): Promise<unknown> => {
      scope?.refuseNested('sails.transact()');
      if (typeof input !== 'function') return engine.batch(input, options);
      const work = input as (tx: Transaction) => Promise<unknown>;
      return engine.interactive(scope === undefined ? work : (tx) => scope.join(tx, config.datastore, work), options);
    };
    return transact as Transact;
  }

  return hook;
}

/**
 * Runs `stop` before Sails lowers anything, and waits for it. Sails emits 'lower' and at once
 * tears down the ORM (sails-hook-orm listens for it too): a job in flight when a listener of
 * 'lower' only began stopping it then queried a datastore already gone ("Unrecognized datastore").
 * Sails waits for `config.beforeShutdown` alone, so the hook wraps the app's own one (run after).
 */
function stopBeforeShutdown(sails: { config: Record<string, unknown> }, stop: () => Promise<void>): void {
  const appBeforeShutdown = sails.config.beforeShutdown as ((done: (err?: unknown) => void) => void) | undefined;
  sails.config.beforeShutdown = (done: (err?: unknown) => void): void => {
    stop().then(
      () => (appBeforeShutdown === undefined ? done() : appBeforeShutdown(done)),
      (err: unknown) => (appBeforeShutdown === undefined ? done(err) : appBeforeShutdown(() => done(err))),
    );
  };
}
