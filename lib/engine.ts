/**
 * The transaction engine: both ways in (a declarative batch, an interactive callback) over one
 * protocol — lock, log the before-images, write, commit with one compare-and-set of the log
 * document, unlock — and one way out on failure: the compensation recovery also uses.
 */
import { crashPoint } from './crash-points';
import { Documents } from './documents';
import { TransactError } from './errors';
import { newId } from './ids';
import { Lease } from './lease';
import { Locks } from './locks';
import { describeModel, type ModelInfo } from './model-info';
import { documentKey, planBatch, redoPlan } from './operations';
import { Recovery, ownerToken } from './recovery';
import { checkAgainstModel, type TransactionOptions, validateBatch, validateOptions } from './schema';
import type { AtomicStore } from './store';
import { Transaction } from './transaction';
import type { CrashPolicy, LogDocument, Step } from './types';
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
}

export interface TransactionResult {
  id: string;
  state: 'committed';
  /** What was written, in order, with before- and after-images (created ids are in `steps[i].id`). */
  steps: Step[];
}

export class Engine {
  readonly recovery: Recovery;
  private readonly locks: Locks;
  private readonly documents: Documents;
  private readonly infos = new Map<string, ModelInfo>();

  constructor(
    readonly store: AtomicStore,
    private readonly modelOf: (identity: string) => WaterlineModel | undefined,
    readonly options: EngineOptions,
  ) {
    this.documents = new Documents((identity) => this.modelOf(identity) as WaterlineModel);
    const infoOf = (identity: string): ModelInfo => this.infoOf(identity) as ModelInfo;
    this.recovery = new Recovery(store, this.documents, infoOf, {
      instanceId: options.instanceId,
      leaseMs: options.leaseMs,
      clockSkewMs: options.clockSkewMs,
      batchSize: options.recoveryBatchSize,
    });
    this.locks = new Locks(store, { leaseMs: options.leaseMs, timeoutMs: options.lockTimeoutMs, pollMs: options.lockPollMs }, async (holder) => {
      await this.recovery.settleHolder(holder);
    });
  }

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

  /** Runs a declarative batch all-or-nothing. Nothing is written if any check fails. */
  async batch(input: unknown, rawOptions?: TransactionOptions): Promise<TransactionResult> {
    const options = validateOptions(rawOptions);
    const operations = validateBatch(input, this.options.maxOps).map((operation, i) => {
      checkAgainstModel(operation, (identity) => this.infoOf(identity), `ops.${i}`);
      return operation.op === 'create' && operation.id === undefined ? { ...operation, id: newId() } : operation;
    });
    const txId = newId();
    const owner = ownerToken(this.options.instanceId);
    const refs = operations.map((operation) => ({ model: operation.model, id: operation.id as string }));
    let lease: Lease;
    let steps: Step[];
    try {
      await this.locks.acquire(refs.map((ref) => documentKey(ref.model, ref.id)), txId, options.lockTimeoutMs ?? this.options.lockTimeoutMs);
      crashPoint('batch:locked');
      const images = await this.documents.readImages(refs);
      const now = Date.now();
      steps = planBatch(operations, images, (identity) => this.infoOf(identity) as ModelInfo, now);
      lease = new Lease(this.store, txId, owner, this.options.leaseMs, now);
      const log = this.newLog(txId, owner, 'batch', options, lease, now, steps);
      if (!(await this.store.insertLog(log))) {
        throw new TransactError('lease_lost', `transaction ${txId} was declared dead by recovery before it could log`);
      }
    } catch (err) {
      await this.locks.release(txId).catch(() => undefined); // nothing written yet; recovery frees what this misses
      throw err;
    }
    crashPoint('batch:logged');
    await this.runToCommit(txId, lease, () => steps, async () => {
      for (const action of redoPlan(steps, (identity) => this.infoOf(identity) as ModelInfo)) {
        lease.assertHeld();
        await this.documents.apply(action);
        crashPoint('batch:applied');
      }
    });
    crashPoint('batch:committed');
    await this.locks.release(txId);
    crashPoint('batch:released');
    return { id: txId, state: 'committed', steps };
  }

  /**
   * Runs `work` as one transaction: its writes through `tx` commit together when it returns,
   * and are compensated if it throws or the process dies before the commit point.
   */
  async interactive<T>(work: (tx: Transaction) => Promise<T>, rawOptions?: TransactionOptions): Promise<T> {
    const options = validateOptions(rawOptions);
    if (options.onCrash === 'rollforward') {
      throw new TransactError('validation_failed', 'an interactive transaction can only be rolled back: its operations are code, not data', { path: 'options.onCrash' });
    }
    const txId = newId();
    const now = Date.now();
    const lease = new Lease(this.store, txId, ownerToken(this.options.instanceId), this.options.leaseMs, now);
    await this.store.insertLog(this.newLog(txId, lease.owner, 'interactive', options, lease, now, []));
    crashPoint('tx:begun');
    const tx = new Transaction(txId, {
      store: this.store,
      locks: this.locks,
      documents: this.documents,
      lease,
      infoOf: (identity) => this.infoOf(identity),
      lockTimeoutMs: options.lockTimeoutMs ?? this.options.lockTimeoutMs,
    });
    let result: T | undefined;
    try {
      await this.runToCommit(txId, lease, () => [...tx.steps], async () => {
        try {
          result = await work(tx);
        } finally {
          tx.close();
        }
      });
    } finally {
      tx.close();
    }
    crashPoint('tx:committed');
    await this.locks.release(txId);
    crashPoint('tx:released');
    return result as T;
  }

  /**
   * Runs the writes under a heartbeat, then commits with one compare-and-set of the log's state;
   * on any failure compensates what was written (if it still owns the transaction) and rethrows.
   */
  private async runToCommit(txId: string, lease: Lease, steps: () => Step[], writes: () => Promise<void>): Promise<void> {
    lease.startHeartbeat();
    try {
      await writes();
      lease.assertHeld();
      if (!(await this.store.updateLog(txId, { states: ['pending'], owner: lease.owner }, { state: 'committed', endedAt: Date.now() }))) {
        lease.markLost();
        lease.assertHeld();
      }
    } catch (err) {
      lease.stopHeartbeat();
      await this.abort(txId, lease, steps(), err);
      throw err;
    } finally {
      lease.stopHeartbeat();
    }
  }

  private async abort(txId: string, lease: Lease, steps: Step[], cause: unknown): Promise<void> {
    const error = { code: cause instanceof TransactError ? cause.code : 'aborted', message: cause instanceof Error ? cause.message : String(cause) };
    try {
      const claimed = await this.store.updateLog(txId, { states: ['pending'], owner: lease.owner }, { state: 'rolling-back', error, leaseUntil: lease.renewal() });
      if (!claimed) return;
      crashPoint('rollback:claimed');
      await this.recovery.compensate({ id: txId, steps }, lease.owner);
    } catch {
      // The log still says pending/rolling-back under our lease: recovery finishes the rollback.
    }
  }

  private newLog(id: string, owner: string, mode: LogDocument['mode'], options: TransactionOptions, lease: Lease, now: number, steps: Step[]): LogDocument {
    return {
      id,
      state: 'pending',
      mode,
      onCrash: mode === 'batch' ? options.onCrash ?? this.options.onCrash : 'rollback',
      label: options.label ?? null,
      idempotencyKey: null,
      owner,
      leaseUntil: lease.leaseUntil,
      steps,
      error: null,
      startedAt: now,
      endedAt: null,
      recoveries: 0,
    };
  }
}
