/**
 * The simulated world: one database behind one network, and several instances, each a real
 * Engine (lib/engine) with its own instanceId and its own store object over the shared database,
 * running recovery passes on a timer as the hook's scheduler does (`runOnce(true)` at a start).
 *
 * Four store flavours: log protocol v2 on the REAL MongoStore over the simulated MongoDB driver
 * ('mongo': faults at the driver boundary) or on the generic SimulatedStore ('generic': faults at
 * the AtomicStore boundary); log protocol v3 on the REAL MongoRecords, its log on the REAL
 * MongoStore, both over the simulated driver ('redo-mongo': faults at the driver boundary, a
 * multi-document write atomic per document only), or on SimulatedRecords, its log on
 * SimulatedStore ('redo-generic': faults at both boundaries).
 *
 * Faults an instance can suffer: paused past its lease (SIGSTOP: its timers and replies are held),
 * crashed and restarted with the same instanceId (its timers and replies dropped forever; its
 * requests already sent still land), its clock moved.
 */
import { Engine, type EngineOptions } from '../../lib/engine';
import { LOCK_IDENTITY, LOG_IDENTITY } from '../../lib/models/hook-models';
import { uniqueKeys } from '../../lib/core/model-info';
import type { RecordStore } from '../../lib/store/records';
import { MongoStore } from '../../lib/store/mongo/store';
import { MongoRecords } from '../../lib/store/mongo/records';
import type { AtomicStore } from '../../lib/store/contract';
import { SimDatabase } from './database';
import { MONGO_NETWORK_ERRORS, SimMongoDb } from './mongo-driver';
import { type NetworkErrors, SimNetwork } from './network';
import { SimProcess, type SimRuntime } from './runtime';
import { CLAIM_STATE, RECORD_FIELDS, SimulatedRecords } from './simulated-records';
import { SimulatedStore, SIMULATED_STORE_LAYOUT } from './simulated-store';
import type { Trace } from './trace';
import { SimModel, type SimModelDefinition, type StorageLayout } from './waterline-models';
import { FENCE_FIELD, WRITE_FIELD } from '../../lib/store/mongo/store';

export type Flavour = 'mongo' | 'generic' | 'redo-mongo' | 'redo-generic';

/** Whether a flavour runs log protocol v3. */
export function isRedo(flavour: Flavour): boolean {
  return flavour === 'redo-mongo' || flavour === 'redo-generic';
}

/** Whether a flavour runs over the simulated MongoDB driver (the real MongoStore, and on v3 the real MongoRecords). */
export function onMongo(flavour: Flavour): boolean {
  return flavour === 'mongo' || flavour === 'redo-mongo';
}

/**
 * The workload's models: accounts (money), transfer records, widgets (created and destroyed), and
 * members, whose `handle` is unique (R9: a create's stub reserves it, a rename claims it). A
 * member's `tag` names the call that wrote it last (the unique-values checker finds a call's
 * writes by it).
 */
export const MODELS: readonly SimModelDefinition[] = [
  { identity: 'account', attributes: { balance: { type: 'number', required: true } } },
  { identity: 'transfer', attributes: { from: { type: 'string', required: true }, to: { type: 'string', required: true }, amount: { type: 'number', required: true } } },
  { identity: 'widget', attributes: { name: { type: 'string', required: true } } },
  { identity: 'member', attributes: { handle: { type: 'string', required: true, autoMigrations: { unique: true } }, tag: { type: 'string' } } },
];

/** The unique attributes of a model definition (what an adapter's auto-migration makes unique indexes of). */
export function uniqueAttributes(definition: SimModelDefinition): string[] {
  return Object.entries(definition.attributes).filter(([, attribute]) => attribute.autoMigrations?.unique === true).map(([name]) => name);
}

/** A socket's errors, for the generic store (lib/store/retrying.ts treats both as transient). */
const SOCKET_ERRORS: NetworkErrors = {
  notSent: (label) => Object.assign(new Error(`connect ECONNRESET (${label})`), { code: 'ECONNRESET' }),
  noReply: (label) => Object.assign(new Error(`read ETIMEDOUT (${label})`), { code: 'ETIMEDOUT' }),
};

/** The engine's settings in the simulation: short leases, so that stalls and pauses outlive them. */
export const ENGINE_OPTIONS: Omit<EngineOptions, 'instanceId'> = {
  leaseMs: 1_000,
  clockSkewMs: 100,
  lockTimeoutMs: 2_000,
  lockPollMs: 10,
  maxOps: 100,
  onCrash: 'rollback',
  recoveryBatchSize: 20,
  retry: { retries: 3, minTimeoutMs: 10, maxTimeoutMs: 200, factor: 2 },
};

export const RECOVERY_INTERVAL_MS = 500;

export class SimWorld {
  readonly db = new SimDatabase();
  readonly network: SimNetwork;
  readonly models = new Map<string, SimModel>();
  readonly driver: SimMongoDb | null;
  readonly instances: SimInstance[] = [];

  constructor(readonly runtime: SimRuntime, readonly trace: Trace, readonly flavour: Flavour, seed: number, instanceCount: number) {
    const mongo = onMongo(flavour);
    this.network = new SimNetwork(runtime, trace, seed, mongo ? MONGO_NETWORK_ERRORS : SOCKET_ERRORS);
    this.driver = mongo ? new SimMongoDb(this.db, this.network, () => runtime.now, { records: flavour === 'redo-mongo' }) : null;
    const layout: StorageLayout = mongo ? { pkColumn: '_id', fenceField: FENCE_FIELD, hiddenField: WRITE_FIELD, nulls: 'first', adapter: 'sails-mongo', manager: this.driver, records: flavour === 'redo-mongo' } : SIMULATED_STORE_LAYOUT;
    for (const definition of MODELS) this.models.set(definition.identity, new SimModel(definition, this.db, this.network, layout));
    // sails-mongo's auto-migration: a unique index (not sparse) per unique attribute, there before any instance runs.
    if (this.driver !== null) for (const definition of MODELS) for (const attribute of uniqueAttributes(definition)) void this.driver.collection(definition.identity).createIndex({ [attribute]: 1 }, { unique: true });
    for (let i = 0; i < instanceCount; i++) this.instances.push(new SimInstance(this, `inst-${String.fromCharCode(97 + i)}`));
  }

  modelOf = (identity: string): SimModel => {
    const model = this.models.get(identity);
    if (model === undefined) throw new Error(`no simulated model "${identity}"`);
    return model;
  };

  /** The primary-key column of stored documents (the checkers read the tables directly). */
  get pkColumn(): string {
    return onMongo(this.flavour) ? '_id' : 'id';
  }

  /** A fresh store object for one instance (each incarnation has its own, as each process would). */
  newStore(): AtomicStore {
    if (this.driver !== null) return new MongoStore(this.driver, LOG_IDENTITY, LOCK_IDENTITY, this.modelOf);
    return new SimulatedStore(this.db, this.modelOf, this.network, () => this.runtime.now);
  }

  /** Log protocol v3's records for one instance (v3 flavours only): the real MongoRecords over the simulated driver, or SimulatedRecords. */
  newRecords(): RecordStore | undefined {
    if (this.flavour === 'redo-mongo' && this.driver !== null) return new MongoRecords(this.driver, this.modelOf, uniqueKeys);
    return this.flavour === 'redo-generic' ? new SimulatedRecords(this.db, this.network, this.modelOf) : undefined;
  }

  /**
   * Log protocol v3: records held by a lock, stubs not yet committed, and MongoRecords' claim
   * documents not yet swept (R9: recovery clears the dead ones; quiescing waits for it). 0 on the
   * other flavours.
   */
  heldRecords(): number {
    let held = 0;
    for (const identity of this.models.keys()) {
      for (const row of this.db.table(identity).values()) if (row[RECORD_FIELDS.lock] !== undefined || row[RECORD_FIELDS.state] === 'reserved' || row[RECORD_FIELDS.state] === CLAIM_STATE) held++;
    }
    return held;
  }

  /** Writes a document straight into a table (the initial data, before any instance runs). */
  seed(identity: string, id: string, values: Record<string, unknown>): void {
    this.db.table(identity).set(id, { [this.pkColumn]: id, ...values });
  }
}

export class SimInstance {
  process: SimProcess;
  engine: Engine;
  private incarnations = 0;

  constructor(private readonly world: SimWorld, readonly name: string) {
    this.process = new SimProcess(name, 0);
    this.engine = this.newEngine();
  }

  private newEngine(): Engine {
    const { world } = this;
    const identities = [...world.models.keys()];
    return new Engine(world.newStore(), (identity) => world.models.get(identity), { ...ENGINE_OPTIONS, instanceId: this.name }, (message) => world.trace.add(world.runtime.now, this.process.label, `warn: ${message}`), undefined, () => identities, world.newRecords());
  }

  /** Starts this incarnation: the clock's first sync, a startup recovery pass, then a pass every interval. */
  boot(): void {
    const { runtime, trace } = this.world;
    const process = this.process;
    const engine = this.engine;
    runtime.within({ process, op: null }, () => {
      const pass = async (startup: boolean): Promise<void> => {
        try {
          const summary = await engine.recovery.runOnce(startup);
          if (summary.rolledBack + summary.rolledForward + summary.orphans + summary.failed > 0) trace.add(runtime.now, process.label, `recovery: ${JSON.stringify(summary)}`);
        } catch (err) {
          trace.add(runtime.now, process.label, `recovery pass failed: ${err instanceof Error ? err.message : String(err)}`);
        }
        setTimeout(() => void pass(false), RECOVERY_INTERVAL_MS);
      };
      void (async () => {
        for (;;) {
          try {
            await engine.start();
            break;
          } catch {
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        }
        await pass(true);
      })();
    });
  }

  /** Whether the workload can use this instance now. */
  get up(): boolean {
    return this.process.alive;
  }

  crash(): void {
    this.process.alive = false;
  }

  /** A new process with the same instanceId, over the same database. */
  restart(): void {
    this.incarnations++;
    this.process = new SimProcess(this.name, this.incarnations);
    this.engine = this.newEngine();
    this.boot();
  }
}
