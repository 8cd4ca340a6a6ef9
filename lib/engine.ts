/**
 * The transaction engine: both ways in (a declarative batch, an interactive callback) over one
 * protocol — lock, log the before-images, write, commit with one compare-and-set of the log
 * document, unlock — and one way out on failure: the compensation recovery also uses.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ServerClock } from './clock';
import { crashPoint } from './crash-points';
import { Documents } from './documents';
import { isTransactError, TransactError } from './errors';
import { newId } from './ids';
import { Lease } from './lease';
import { fingerprint, isDecided, keyedTransactionId, newLog, replayedError, touchedDocuments } from './log';
import { Locks } from './locks';
import { describeModel, type ModelInfo } from './model-info';
import { LOG_IDENTITY } from './models';
import { documentKey, netActions, planBatch, redoPlan } from './operations';
import { type Version, stateAt, versionsOf } from './history';
import { CommittedReads } from './reads';
import { Recovery, ownerToken, tombstone, type TransactionStats } from './recovery';
import { isTransient, type RetryOptions, RetryPolicy, RetryingStore } from './retry';
import { planReversal, stepsByDocument } from './reversal';
import { isTerminal } from './state';
import { toLogDocument } from './store/store';
import { checkAgainstModel, type ReversalInput, type TransactionOptions, validateBatch, validateOptions, validateReversal } from './schema';
import type { AtomicStore } from './store';
import type { NativePostgres, NativeTransaction } from './store/postgres-native';
import { LoggedWrites, Transaction } from './transaction';
import type { CrashPolicy, Image, LogDocument, LogPatch, Operation, Settlement, Step, TxError, TxState } from './types';
import type { WaterlineModel } from './waterline';

export interface EngineOptions {
  /** Names this process in lease owners; a stable one lets a restart recover its own dead transactions at once. */
  instanceId: string;
  leaseMs: number;
  clockSkewMs: number;
  lockTimeoutMs: number;
  lockPollMs: number;
  maxOps: number;
  onCrash: CrashPolicy;
  recoveryBatchSize: number;
  retry: RetryOptions;
}

export interface ReversalResult {
  /** The new, compensating transaction. */
  id: string;
  /** The transaction it reverses. */
  reverses: string;
}

/** `model:id` back into its parts (ids may contain ':'; identities may not). */
function splitKey(key: string): [string, string] {
  const colon = key.indexOf(':');
  return [key.slice(0, colon), key.slice(colon + 1)];
}

export interface TransactionResult {
  id: string;
  state: 'committed';
  /** What was written, in order, with before- and after-images (created ids are in `steps[i].id`). */
  steps: Step[];
}

/** A Waterline criteria over the log model (lib/queries builds them). */
export type LogCriteria = {
  where: Record<string, unknown>;
  sort?: Record<string, 'ASC' | 'DESC'>[] | string;
  skip?: number;
  limit?: number;
};

/** How often an instance re-measures its offset from the datastore server's clock. */
const CLOCK_REFRESH_MS = 30_000;

/** Where the engine reports what it handles itself but an operator should know (cleanup after a commit, recovery failures). */
export type EngineWarning = (message: string, err: unknown) => void;

/** Steps planned against images read under lock, with the fences those documents carried (sails-mongo). */
function withFences(steps: Step[], fences: ReadonlyMap<string, string | null>): Step[] {
  if (fences.size === 0) return steps;
  return steps.map((step) => {
    const key = documentKey(step.model, step.id);
    return fences.has(key) ? { ...step, fence: fences.get(key) ?? null } : step;
  });
}

export class Engine {
  readonly recovery: Recovery;
  /** The datastore server's clock, as this instance estimates it: what leases are written and judged by. */
  readonly clock: ServerClock;
  /** The datastore's atomic primitives, retried on transient errors. */
  readonly store: AtomicStore;
  /** Counts the retries made, for metrics and tests. */
  readonly retries: RetryPolicy;
  /** How transactions ended in this process, for metrics. */
  readonly stats: TransactionStats = { committed: 0, rolledBack: 0, recovered: 0, attention: 0 };
  /** Reads that never return uncommitted state: `reads.find`, `findOne`, `count`, `snapshot`. */
  readonly reads: CommittedReads;
  private readonly locks: Locks;
  private readonly documents: Documents;
  private readonly infos = new Map<string, ModelInfo>();

  constructor(
    store: AtomicStore,
    private readonly modelOf: (identity: string) => WaterlineModel | undefined,
    readonly options: EngineOptions,
    private readonly warn: EngineWarning = () => undefined,
    /** One native transaction per engine transaction, where the datastore has them (sails-postgresql). */
    private readonly native?: NativePostgres,
  ) {
    this.retries = new RetryPolicy(options.retry);
    this.store = new RetryingStore(store, this.retries);
    this.clock = new ServerClock(() => this.store.serverTime(), CLOCK_REFRESH_MS);
    this.documents = new Documents((identity) => this.modelOf(identity) as WaterlineModel, this.store, this.retries);
    this.reads = new CommittedReads(this.store, (identity) => this.infoOf(identity));
    this.recovery = new Recovery(
      this.store,
      this.documents,
      (identity) => this.infoOf(identity),
      this.clock,
      { instanceId: options.instanceId, leaseMs: options.leaseMs, clockSkewMs: options.clockSkewMs, batchSize: options.recoveryBatchSize },
      this.stats,
      (txId, err) => warn(`recovery could not settle transaction ${txId}; it is marked for attention and retried at the next pass`, err),
    );
    this.locks = new Locks(this.store, this.clock, { leaseMs: options.leaseMs, timeoutMs: options.lockTimeoutMs, pollMs: options.lockPollMs }, async (holder) => {
      await this.recovery.settleHolder(holder);
      this.locks.abandon(holder);
    });
  }

  /** Measures the offset from the datastore server's clock: call once before the first transaction. */
  start(): Promise<void> {
    return this.clock.sync();
  }

  /**
   * What became of a transaction — for a caller that got `outcome_unknown`. While it is still
   * undecided (its owner, or recovery, is on it) this waits up to `waitMs` for the decision.
   */
  async outcome(txId: string, waitMs = 0): Promise<{ id: string; state: TxState; error: TxError | null }> {
    const deadline = Date.now() + waitMs;
    for (let wait = 20; ; wait = Math.min(wait * 2, 500)) {
      const log = await this.store.getLog(txId);
      if (log === null) throw new TransactError('not_found', `no transaction ${txId}`, { path: 'id' });
      if (isTerminal(log.state) || Date.now() >= deadline) return { id: log.id, state: log.state, error: log.error };
      await sleep(Math.min(wait, Math.max(0, deadline - Date.now())));
    }
  }

  /** infoOf for models already checked (by validation, or because a log names them). */
  private readonly knownInfo = (identity: string): ModelInfo => this.infoOf(identity) as ModelInfo;

  /** A model the engine may write: any app model; never the hook's own log and lock models. */
  infoOf(identity: string): ModelInfo | undefined {
    const cached = this.infos.get(identity);
    if (cached !== undefined) return cached;
    const model = this.modelOf(identity);
    if (model === undefined || model.transactInternal === true) return undefined;
    const info = describeModel(model);
    this.infos.set(identity, info);
    return info;
  }

  getLog(id: string): Promise<LogDocument | null> {
    return this.store.getLog(id);
  }

  /**
   * Log documents matching a Waterline criteria (`where`, `sort`, `skip`, `limit`), for read-only
   * listings (lib/queries). Plain model reads, not the store's atomic primitives: a listing needs
   * no compare-and-set, and every adapter answers these criteria alike.
   */
  async findLogs(criteria: LogCriteria): Promise<LogDocument[]> {
    const rows = await this.retries.run(async () => this.logModel().find(criteria));
    return rows.map(toLogDocument);
  }

  /** How many log documents match `where` (see findLogs). */
  countLogs(where: Record<string, unknown>): Promise<number> {
    return this.retries.run(async () => this.logModel().count(where));
  }

  /**
   * Records on a rolled-back transaction who settled it by hand and why (an operator rolling back
   * a stuck one): only its `error` gains `settled`, the reason it ended stays. False when the log
   * is not rolled back (nothing written).
   */
  async recordSettlement(txId: string, settlement: Settlement): Promise<boolean> {
    const log = await this.store.getLog(txId);
    if (log === null || log.state !== 'rolled-back') return false;
    const previous = log.error ?? { code: 'rolled_back_by_operator', message: 'rolled back' };
    const note = `settled by ${settlement.by} at ${new Date(settlement.at).toISOString()}${settlement.reason === null ? '' : `: ${settlement.reason}`}`;
    const error: TxError = { ...previous, message: `${previous.message}; ${note}`.slice(0, 1000), settled: settlement };
    return this.store.updateLog(txId, { states: ['rolled-back'] }, { error });
  }

  private logModel(): WaterlineModel {
    const model = this.modelOf(LOG_IDENTITY);
    if (model === undefined) throw new Error(`sails-hook-transact: the log model "${LOG_IDENTITY}" is not registered`);
    return model;
  }

  /** Every committed version of a document, oldest first, from the log. */
  async history(model: string, id: string): Promise<Version[]> {
    this.requireModel(model);
    return versionsOf(await this.store.findCommittedTouching(documentKey(model, id)), model, id);
  }

  /** The document as it was at `at` (a Date or epoch ms), as far as the log knows. */
  async stateAt(model: string, id: string, at: Date | number): Promise<Image | null> {
    const versions = await this.history(model, id);
    const current = (await this.documents.readImages([{ model, id }])).get(documentKey(model, id)) ?? null;
    return stateAt(versions, typeof at === 'number' ? at : at.getTime(), current);
  }

  /**
   * Undoes a committed transaction with a new one that links to it (and it to the new one).
   * Refused if a document it touched changed since (increments excepted: they are decremented,
   * within their bounds), if it is already reversed, or if it created financial documents that
   * cannot be taken back.
   */
  async reverse(txId: string, input: ReversalInput): Promise<ReversalResult> {
    const { reason } = validateReversal(input);
    const original = await this.store.getLog(txId);
    if (original === null) throw new TransactError('not_found', `no transaction ${txId}`, { path: 'id' });
    if (original.state !== 'committed') throw new TransactError('not_committed', `transaction ${txId} is ${original.state}; only committed transactions are reversed`);
    const reversalId = newId();
    await this.claimReversal(original, reversalId);
    try {
      await this.interactive(
        async (tx) => {
          const current = new Map<string, Image | null>();
          for (const key of stepsByDocument(original.steps).keys()) {
            const [model, id] = splitKey(key);
            current.set(key, await tx.read(model, id));
          }
          const plan = planReversal(original, current, this.knownInfo);
          if (plan.conflicts.length > 0) {
            throw new TransactError('conflict', `documents changed since ${txId} committed: ${plan.conflicts.join(', ')}`, { details: { documents: plan.conflicts } });
          }
          if (plan.irreversible.length > 0) {
            throw new TransactError('irreversible', `financial documents created by ${txId} cannot be taken back: ${plan.irreversible.join(', ')}`, { details: { documents: plan.irreversible } });
          }
          for (const operation of plan.operations) await tx.apply(operation);
        },
        { label: `reversal of ${txId}` },
        { txId: reversalId, reverses: txId, reason },
      );
    } catch (err) {
      await this.store.updateLog(txId, { states: ['committed'], reversedBy: reversalId }, { reversedBy: null }).catch(() => undefined);
      throw err;
    }
    return { id: reversalId, reverses: txId };
  }

  /**
   * Marks the original as being reversed by `reversalId`, with a compare-and-set so that two
   * reversals never both run. A mark left by a reversal that rolled back, or died before it
   * logged (it gets a tombstone first), is taken over.
   */
  private async claimReversal(original: LogDocument, reversalId: string): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = (await this.store.getLog(original.id)) as LogDocument;
      const previous = current.reversedBy;
      if (previous !== null) {
        const earlier = await this.store.getLog(previous);
        if (earlier?.state === 'committed') {
          throw new TransactError('already_reversed', `transaction ${original.id} was already reversed by ${previous}`, { details: { reversal: previous } });
        }
        if (earlier !== null && !isTerminal(earlier.state)) {
          throw new TransactError('in_progress', `transaction ${original.id} is being reversed by ${previous}`, { details: { reversal: previous } });
        }
        if (earlier === null) {
          await this.store.insertLog(tombstone(previous, ownerToken(this.options.instanceId), 'abandoned_reversal', 'a reversal claimed the transaction but never logged', this.clock.now()));
          continue;
        }
      }
      if (await this.store.updateLog(original.id, { states: ['committed'], reversedBy: previous }, { reversedBy: reversalId })) return;
    }
    throw new TransactError('in_progress', `transaction ${original.id} is being reversed concurrently`);
  }

  private requireModel(model: string): ModelInfo {
    const info = this.infoOf(model);
    if (info === undefined) throw new TransactError('unknown_model', `no transactional model "${model}"`, { path: 'model' });
    return info;
  }

  /**
   * Runs a declarative batch all-or-nothing. Nothing is written if any check fails. With an
   * idempotency key it runs at most once: a repeat returns the first run's result or error.
   */
  async batch(input: unknown, rawOptions?: TransactionOptions): Promise<TransactionResult> {
    const options = validateOptions(rawOptions);
    const operations = validateBatch(input, this.options.maxOps).map((operation, i) => {
      checkAgainstModel(operation, (identity) => this.infoOf(identity), `ops.${i}`);
      return operation;
    });
    if (options.idempotencyKey === undefined) return this.runBatch(newId(), withIds(operations), options, null);
    const txId = keyedTransactionId(options.idempotencyKey);
    // The fingerprint is taken before ids are chosen: the same request must hash the same.
    const print = fingerprint(operations);
    // Ids of created documents derive from the key too, so a repeat cannot create twice.
    const keyed = operations.map((operation, i) => (operation.op === 'create' && operation.id === undefined ? { ...operation, id: keyedTransactionId(`${options.idempotencyKey}#${i}`) } : operation));
    const replay = (log: LogDocument): TransactionResult => ({ id: log.id, state: 'committed', steps: log.steps });
    return this.runOnce(txId, print, replay, (reopened) => this.runBatch(txId, keyed, options, print, reopened));
  }

  private async runBatch(txId: string, operations: Operation[], options: TransactionOptions, print: string | null, reopened?: Reopened): Promise<TransactionResult> {
    // Roll-forward needs a log that outlives the crash: such a batch always takes the log protocol.
    if (this.native !== undefined && (options.onCrash ?? this.options.onCrash) === 'rollback') {
      return this.runNative(txId, 'batch', options, print, reopened, (tx, log) => this.nativeBatch(tx, log, operations), 'batch');
    }
    const owner = reopened?.owner ?? ownerToken(this.options.instanceId);
    const fence = { txId, epoch: reopened?.epoch ?? 0 };
    const refs = operations.map((operation) => ({ model: operation.model, id: operation.id as string }));
    const keyed = print !== null;
    let lease = new Lease(this.store, fence, owner, this.options.leaseMs, this.clock);
    if (keyed) {
      // A keyed batch logs first: inserting the log under the key's id is what makes it run once.
      const log = this.logFor(txId, owner, 'batch', options, lease.leaseUntil, []);
      if (reopened === undefined && !(await this.store.insertLog({ ...log, fingerprint: print }))) throw new TransactError('in_progress', 'duplicate', { details: { duplicate: true } });
      crashPoint('batch:logged');
    }
    let steps: Step[] = [];
    try {
      await this.locks.acquire(refs.map((ref) => documentKey(ref.model, ref.id)), txId, fence.epoch, options.lockTimeoutMs ?? this.options.lockTimeoutMs);
      crashPoint('batch:locked');
      const { images, fences } = await this.documents.read(refs);
      steps = withFences(planBatch(operations, images, this.knownInfo, Date.now()), fences);
      if (keyed) {
        const logged = await lease.writeLog(lease.guard, { steps, documents: touchedDocuments(steps), leaseUntil: lease.renewal() });
        if (!logged) throw new TransactError('lease_lost', `transaction ${txId} was taken over by recovery before it could log its steps`);
      } else {
        lease = new Lease(this.store, fence, owner, this.options.leaseMs, this.clock);
        if (!(await this.store.insertLog(this.logFor(txId, owner, 'batch', options, lease.leaseUntil, steps)))) {
          throw new TransactError('lease_lost', `transaction ${txId} was declared dead by recovery before it could log`);
        }
      }
    } catch (err) {
      if (keyed) await this.abort(lease, [], err);
      else await this.locks.release(txId).catch(() => undefined); // nothing written yet; recovery frees what this misses
      throw unavailableIfTransient(err);
    }
    if (!keyed) crashPoint('batch:logged');
    await this.runToCommit(lease, () => steps, null, async () => {
      for (const write of redoPlan(steps, this.knownInfo)) {
        lease.assertHeld();
        // A pause here (GC, a frozen VM) comes after the lease check: only the fence stops the write.
        crashPoint('batch:writing');
        await this.documents.write([write], fence);
        crashPoint('batch:applied');
      }
    });
    this.stats.committed++;
    crashPoint('batch:committed');
    await this.releaseAfterCommit(txId);
    crashPoint('batch:released');
    return { id: txId, state: 'committed', steps };
  }

  /** A batch on the native path, inside its transaction: lock and read, plan, one statement for every write and the log row. */
  private async nativeBatch(tx: NativeTransaction, log: LogDocument, operations: Operation[]): Promise<TransactionResult> {
    // A document the batch only creates needs no read: it is new, or the INSERT fails (already_exists).
    const createdOnly = new Set(operations.filter((operation) => operation.op === 'create').map((operation) => documentKey(operation.model, operation.id as string)));
    for (const operation of operations) if (operation.op !== 'create') createdOnly.delete(documentKey(operation.model, operation.id as string));
    const refs = operations.map((operation) => ({ model: operation.model, id: operation.id as string })).filter((ref) => !createdOnly.has(documentKey(ref.model, ref.id)));
    const images = await tx.lockAll(refs);
    crashPoint('batch:locked');
    const steps = planBatch(operations, images, this.knownInfo, Date.now());
    // Every document's net write and the log row, in one statement.
    await tx.writeAllWithLog(netActions(steps, this.knownInfo), { ...log, steps, documents: touchedDocuments(steps) }).catch((err: unknown) => {
      const taken = (err as { code?: unknown }).code === '23505' ? steps.find((step) => step.kind === 'create' && String((err as { detail?: unknown }).detail).includes(step.id)) : undefined;
      if (taken === undefined) throw err;
      throw new TransactError('already_exists', `${taken.model} ${taken.id} already exists`, { path: `ops.${taken.seq}.id`, cause: err });
    });
    crashPoint('batch:applied');
    crashPoint('batch:logged');
    return { id: log.id, state: 'committed' as const, steps };
  }

  /**
   * Runs `work` as one transaction: its writes through `tx` commit together when it returns,
   * and are compensated if it throws or the process dies before the commit point. With an
   * idempotency key it runs at most once; what it returns must then be JSON, to be replayed.
   */
  async interactive<T>(work: (tx: Transaction) => Promise<T>, rawOptions?: TransactionOptions, internal: InternalOptions = {}): Promise<T> {
    const options = validateOptions(rawOptions);
    if (options.onCrash === 'rollforward') {
      throw new TransactError('validation_failed', 'an interactive transaction can only be rolled back: its operations are code, not data', { path: 'options.onCrash' });
    }
    if (options.idempotencyKey === undefined) return this.runInteractive(internal.txId ?? newId(), work, options, internal);
    const txId = keyedTransactionId(options.idempotencyKey);
    return this.runOnce(txId, null, (log) => log.result as T, (reopened) => this.runInteractive(txId, work, options, internal, reopened));
  }

  private async runInteractive<T>(txId: string, work: (tx: Transaction) => Promise<T>, options: TransactionOptions, internal: InternalOptions, reopened?: Reopened): Promise<T> {
    if (this.native !== undefined) {
      return this.runNative(txId, 'interactive', options, null, reopened, async (native, log) => {
        const tx = new Transaction(txId, { backend: native, infoOf: (identity) => this.infoOf(identity), now: () => Date.now() });
        const result = await work(tx).catch(async (err: unknown) => {
          await tx.drain();
          throw err;
        });
        await tx.settle();
        await native.writeLog({ ...log, reverses: internal.reverses ?? null, reason: internal.reason ?? null, steps: [...tx.steps], documents: touchedDocuments(tx.steps), result: options.idempotencyKey === undefined ? null : jsonResult(result) });
        return result;
      }, 'tx');
    }
    const lease = new Lease(this.store, { txId, epoch: reopened?.epoch ?? 0 }, reopened?.owner ?? ownerToken(this.options.instanceId), this.options.leaseMs, this.clock);
    const log = { ...this.logFor(txId, lease.owner, 'interactive', options, lease.leaseUntil, []), reverses: internal.reverses ?? null, reason: internal.reason ?? null };
    if (reopened === undefined && !(await this.store.insertLog(log))) throw new TransactError('in_progress', 'duplicate', { details: { duplicate: true } });
    crashPoint('tx:begun');
    const tx = new Transaction(txId, {
      backend: new LoggedWrites(txId, this.locks, this.documents, lease, options.lockTimeoutMs ?? this.options.lockTimeoutMs),
      infoOf: (identity) => this.infoOf(identity),
      now: () => Date.now(),
    });
    let result: T | undefined;
    await this.runToCommit(
      lease,
      () => [...tx.steps],
      () => (options.idempotencyKey === undefined ? null : jsonResult(result)),
      async () => {
        try {
          result = await work(tx);
        } catch (err) {
          // Calls the callback did not await may still run: let them finish (or fail) before undoing.
          await tx.drain();
          throw err;
        }
        await tx.settle();
      },
    );
    this.stats.committed++;
    crashPoint('tx:committed');
    await this.releaseAfterCommit(txId);
    crashPoint('tx:released');
    return result as T;
  }

  /**
   * At most once per idempotency key: the first caller runs `attempt`; any other gets the first
   * run's decided outcome — waiting for it while it runs, recovering it if its process died, and
   * running it again (once, whoever wins the reopening) when its failure decided nothing.
   */
  private async runOnce<T>(txId: string, print: string | null, replay: (log: LogDocument) => T, attempt: (reopened?: Reopened) => Promise<T>): Promise<T> {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof TransactError && err.details?.duplicate === true)) throw err;
    }
    const deadline = Date.now() + this.options.leaseMs + this.options.clockSkewMs + this.options.lockTimeoutMs;
    for (let wait = this.options.lockPollMs; ; wait = Math.min(wait * 2, 500)) {
      const log = await this.store.getLog(txId);
      if (log === null) throw new TransactError('in_progress', `transaction ${txId} is being set up`);
      if (print !== null && log.fingerprint !== print) {
        throw new TransactError('idempotency_conflict', 'this idempotency key was used for different operations', { details: { transaction: txId } });
      }
      if (log.state === 'committed') return replay(log);
      if (log.state === 'rolled-back') {
        if (isDecided(log)) throw replayedError(log);
        const reopened = await this.reopen(log);
        if (reopened !== null) return attempt(reopened);
        continue; // another caller reopened it first: its run is the one to wait for
      }
      // Still running, or its process died: recovery settles it once its lease is over.
      await this.recovery.settle(log, false);
      if (Date.now() > deadline) throw new TransactError('in_progress', `transaction ${txId} with this idempotency key is still running`, { details: { transaction: txId } });
      await sleep(wait);
    }
  }

  /**
   * One transaction on the native path: everything, the log row included, in one BEGIN … COMMIT.
   * A keyed one first inserts (or, reopened, takes) its log row, so a concurrent run with the
   * same key waits on that row and then finds the outcome. A keyed refusal that decided something
   * is recorded after the rollback, to be replayed; anything else leaves no trace, and the key may
   * run again.
   */
  private async runNative<T>(
    txId: string,
    mode: LogDocument['mode'],
    options: TransactionOptions,
    print: string | null,
    reopened: Reopened | undefined,
    work: (tx: NativeTransaction, log: LogDocument) => Promise<T>,
    points: 'batch' | 'tx',
  ): Promise<T> {
    const native = this.native as NativePostgres;
    const owner = reopened?.owner ?? ownerToken(this.options.instanceId);
    const keyed = options.idempotencyKey !== undefined;
    const now = this.clock.now();
    const log: LogDocument = { ...this.logFor(txId, owner, mode, options, now, []), fingerprint: print, epoch: reopened?.epoch ?? 0 };
    let outcome: { value: T } | { refused: TransactError } | undefined;
    try {
      outcome = await native.run(options.lockTimeoutMs ?? this.options.lockTimeoutMs, this.knownInfo, async (tx) => {
        if (!keyed) {
          if (points === 'tx') crashPoint('tx:begun');
          outcome = { value: await work(tx, { ...log, state: 'committed', endedAt: Date.now() }) };
          return outcome;
        }
        const held = reopened === undefined ? await tx.claimKey(log) : await tx.holdReopened(txId, owner);
        if (!held) throw new TransactError('in_progress', 'duplicate', { details: { duplicate: true } });
        if (points === 'tx') crashPoint('tx:begun');
        await tx.savepoint();
        try {
          outcome = { value: await work(tx, { ...log, state: 'committed', endedAt: Date.now() }) };
          return outcome;
        } catch (err) {
          // A refusal that decided something is kept with the key, in this same transaction, so a
          // concurrent repeat (waiting on the row) finds it; anything else rolls the claim back too.
          if (!(err instanceof TransactError) || !isDecided({ state: 'rolled-back', error: { code: err.code, message: err.message } })) throw err;
          await tx.rollbackToSavepoint();
          await tx.writeLog({ ...log, state: 'rolled-back', endedAt: Date.now(), error: { code: err.code, message: err.message, ...(err.path === undefined ? {} : { path: err.path }) } });
          outcome = { refused: err };
          return outcome;
        }
      });
    } catch (err) {
      if (isTransactError(err) && err.details?.duplicate === true) throw err;
      // The COMMIT may have landed with only its reply lost: then this run's outcome stands.
      if (outcome === undefined || !(await this.committedNatively(txId, owner, err))) {
        this.stats.rolledBack++;
        throw unavailableIfTransient(err);
      }
    }
    const decided = outcome as { value: T } | { refused: TransactError };
    if ('refused' in decided) {
      this.stats.rolledBack++;
      throw decided.refused;
    }
    const result = decided.value;
    this.stats.committed++;
    crashPoint(points === 'batch' ? 'batch:committed' : 'tx:committed');
    crashPoint(points === 'batch' ? 'batch:released' : 'tx:released');
    return result;
  }

  /**
   * After a native transaction failed with a transient error once its work was done, whether its
   * COMMIT landed anyway: its log row (written in that transaction) exists exactly when it did.
   * Throws outcome_unknown when even that cannot be read.
   */
  private async committedNatively(txId: string, owner: string, err: unknown): Promise<boolean> {
    if (!isTransient(err)) return false;
    try {
      const log = await this.store.getLog(txId);
      return log !== null && log.owner === owner && log.state !== 'pending';
    } catch (readErr) {
      throw new TransactError('outcome_unknown', `transaction ${txId}: the datastore failed around its commit and its outcome is unknown; ask outcome("${txId}")`, { details: { transaction: txId }, cause: readErr });
    }
  }

  /**
   * Takes a keyed transaction whose failure decided nothing back to pending, for one more run
   * under the same id. The failed attempt stays in the log under an id of its own (`<id>.<epoch>`):
   * history is never overwritten. The epoch moves on, so nothing of the old attempt can land.
   */
  private async reopen(log: LogDocument): Promise<Reopened | null> {
    const owner = ownerToken(this.options.instanceId);
    const epoch = log.epoch + 1;
    await this.store.insertLog({ ...log, id: `${log.id}.${log.epoch}`, idempotencyKey: null });
    const patch: LogPatch = { state: 'pending', owner, epoch, leaseUntil: this.clock.now() + this.options.leaseMs, steps: [], documents: [], error: null, endedAt: null, result: null, startedAt: Date.now() };
    return (await this.store.updateLog(log.id, { states: ['rolled-back'], owner: log.owner, epoch: log.epoch }, patch)) ? { owner, epoch } : null;
  }

  /**
   * Runs the writes under a heartbeat, then commits with one compare-and-set of the log's state;
   * on any failure before the commit point compensates what was written (if it still owns the
   * transaction) and rethrows. At the commit point: a reply that was lost is looked up; when the
   * outcome cannot be known it throws `outcome_unknown` (the log is then settled by recovery, and
   * `outcome(id)` tells which way); when another owner took over first, that owner decides.
   */
  private async runToCommit(lease: Lease, steps: () => Step[], result: (() => unknown) | null, writes: () => Promise<void>): Promise<void> {
    const { txId } = lease;
    let commit: LogPatch;
    lease.startHeartbeat();
    try {
      await writes();
      lease.assertHeld();
      commit = { state: 'committed', endedAt: Date.now(), result: result === null ? null : result() };
    } catch (err) {
      lease.stopHeartbeat();
      await this.abort(lease, steps(), err);
      throw unavailableIfTransient(err);
    }
    let landed: boolean;
    try {
      landed = await lease.writeLog(lease.guard, commit);
    } catch (err) {
      lease.stopHeartbeat();
      const log = await this.store.getLog(txId).catch(() => null);
      if (log?.state === 'committed') return; // it landed; only the reply was lost
      if (log?.state === 'pending' && log.owner === lease.owner) {
        // It did not land and is still ours: undo it, and say the store failed.
        await this.abort(lease, steps(), err);
        throw unavailableIfTransient(err);
      }
      throw new TransactError('outcome_unknown', `transaction ${txId}: the commit was sent but its outcome is unknown (${err instanceof Error ? err.message : String(err)}); ask outcome("${txId}")`, {
        details: { transaction: txId },
        cause: err,
      });
    }
    lease.stopHeartbeat();
    if (landed) return;
    // Recovery took the transaction over before the commit point; it decides (a batch may be rolled forward).
    const decided = await this.outcome(txId, this.options.leaseMs);
    if (decided.state === 'committed') return;
    if (!isTerminal(decided.state)) {
      throw new TransactError('outcome_unknown', `transaction ${txId} was taken over by recovery at its commit point and is not settled yet; ask outcome("${txId}")`, { details: { transaction: txId } });
    }
    throw new TransactError('lease_lost', `transaction ${txId} lost its lease before it committed; recovery rolled it back`, { details: { transaction: txId } });
  }

  /** After the commit point nothing may fail the caller: a lock left behind expires, and recovery releases it. */
  private async releaseAfterCommit(txId: string): Promise<void> {
    try {
      await this.locks.release(txId);
    } catch (err) {
      this.locks.abandon(txId);
      this.warn(`transaction ${txId} committed, but releasing its locks failed; recovery releases them once their lease ends`, err);
    }
  }

  private async abort(lease: Lease, steps: Step[], cause: unknown): Promise<void> {
    const error: TxError = { code: cause instanceof TransactError ? cause.code : isTransient(cause) ? 'unavailable' : 'aborted', message: cause instanceof Error ? cause.message : String(cause) };
    if (cause instanceof TransactError && cause.path !== undefined) error.path = cause.path;
    // The rollback moves to the next epoch: a write of ours still in flight (its reply lost, say)
    // carries the old one and is refused once it arrives after the undo.
    const fence = { txId: lease.txId, epoch: lease.fence.epoch + 1 };
    try {
      const claimed = await lease.writeLog(lease.guard, { state: 'rolling-back', error, leaseUntil: lease.renewal(), epoch: fence.epoch });
      if (!claimed) return;
      crashPoint('rollback:claimed');
      await this.store.fenceLocks(lease.txId, fence.epoch);
      await this.recovery.compensate({ id: lease.txId, steps }, new Lease(this.store, fence, lease.owner, this.options.leaseMs, this.clock, 'rolling-back'));
    } catch {
      // The log still says pending/rolling-back under our lease: recovery finishes the rollback.
    } finally {
      this.locks.abandon(lease.txId);
    }
  }

  private logFor(id: string, owner: string, mode: LogDocument['mode'], options: TransactionOptions, leaseUntil: number, steps: Step[]): LogDocument {
    return newLog({
      id,
      state: 'pending',
      mode,
      onCrash: mode === 'batch' ? options.onCrash ?? this.options.onCrash : 'rollback',
      label: options.label ?? null,
      idempotencyKey: options.idempotencyKey ?? null,
      owner,
      leaseUntil,
      steps,
      documents: touchedDocuments(steps),
      startedAt: Date.now(),
    });
  }
}

/** A transient store error that outlived its retries reaches the caller as `unavailable`. */
function unavailableIfTransient(err: unknown): unknown {
  if (err instanceof TransactError || !isTransient(err)) return err;
  return new TransactError('unavailable', `the datastore failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/** A keyed transaction taken back to pending for another run: its new owner and epoch. */
interface Reopened {
  owner: string;
  epoch: number;
}

/** Options the hook's own features (reversal) pass; not part of the public API. */
export interface InternalOptions {
  txId?: string;
  reverses?: string;
  reason?: string;
}

/** Creates get their id now, before anything is written, so recovery can undo them. */
function withIds(operations: Operation[]): Operation[] {
  return operations.map((operation) => (operation.op === 'create' && operation.id === undefined ? { ...operation, id: newId() } : operation));
}

/** A keyed transaction's result is stored as JSON; anything else could not be replayed. */
function jsonResult(value: unknown): unknown {
  if (value === undefined) return null;
  try {
    return JSON.parse(JSON.stringify(value)) as unknown;
  } catch (err) {
    throw new TransactError('validation_failed', 'a keyed transaction must return JSON-serializable data', { cause: err });
  }
}
