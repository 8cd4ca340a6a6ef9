/**
 * A declarative batch on log protocol v3 (docs/protocol-v3.md): lock and read (R1), plan, the
 * commit point (R3: the log inserted committed, or a keyed log's compare-and-set), then apply
 * (R4). Nothing but locks and stubs is written before the commit point, so a failure before it
 * only frees them.
 */
import { crashPoint } from '../crash-points';
import { TransactError } from '../errors';
import { newLog, storedError, touchedDocuments } from '../log';
import { changedFields, documentKey, planBatch } from '../operations';
import { ownerToken } from '../recovery';
import { isTransient, unavailableIfTransient } from '../retry';
import type { TransactionOptions } from '../schema';
import type { AtomicStore } from '../store';
import type { Image, Operation, Step } from '../types';
import type { ServerClock } from '../clock';
import type { ModelInfo } from '../model-info';
import type { Reopened } from '../engine/idempotency';
import type { EngineOptions, EngineWarning, TransactionResult } from '../engine/types';
import { guarded, type RecordLocks, type RecordRef } from './locks';
import { type DocRecord, type GuardedWrite, lastStepOn, type RecordLock, type RecordStore, lockToken } from './records';

/** What a v3 batch asks of the engine's reference checks (lib/engine/references.ts). */
export interface BatchReferences {
  referenceLocks(operations: readonly Operation[]): { model: string; id: string }[];
  checkBatchReferences(operations: readonly Operation[], steps: readonly Step[], locked: ReadonlyMap<string, Image | null>): Promise<void>;
}

export interface RedoBatchContext {
  records: RecordStore;
  /** The log's primitives (retried on transient errors). */
  logs: AtomicStore;
  locks: RecordLocks;
  clock: ServerClock;
  options: EngineOptions;
  knownInfo: (model: string) => ModelInfo;
  references: BatchReferences;
  /** A model's unique keys, as attribute names (lib/indexes.ts uniqueAttributeSets). */
  uniqueKeys: (model: string) => readonly (readonly string[])[];
  warn: EngineWarning;
  stats: { committed: number };
}

export class RedoBatches {
  constructor(private readonly ctx: RedoBatchContext) {}

  /**
   * One attempt of a batch (ids chosen, operations validated). `print` is the keyed batch's
   * fingerprint (null: not keyed); `reopened` the owner and epoch of a keyed batch run again.
   */
  async run(txId: string, operations: Operation[], options: TransactionOptions, print: string | null, reopened?: Reopened): Promise<TransactionResult> {
    const { clock, logs, locks } = this.ctx;
    const { leaseMs, instanceId } = this.ctx.options;
    const owner = reopened?.owner ?? ownerToken(instanceId);
    const epoch = reopened?.epoch ?? 0;
    const keyed = print !== null;
    const lock: RecordLock = { token: lockToken(txId, epoch), until: clock.now() + leaseMs };
    const startedAt = Date.now();
    const base = { id: txId, mode: 'batch' as const, onCrash: 'rollback' as const, label: options.label ?? null, idempotencyKey: options.idempotencyKey ?? null, idempotencyScope: options.idempotencyKey === undefined ? null : options.idempotencyScope ?? null, owner, epoch, startedAt };
    if (keyed && reopened === undefined) {
      // R8: the pending log under the key's id is what makes it run once.
      if (!(await logs.insertLog(newLog({ ...base, state: 'pending', leaseUntil: lock.until, fingerprint: print })))) throw new TransactError('in_progress', 'duplicate', { details: { duplicate: true } });
      crashPoint('batch:logged');
    }
    const refs: RecordRef[] = [
      ...operations.map((operation) => ({ model: operation.model, id: operation.id as string, ...(operation.op === 'create' ? { create: operation.values } : {}) })),
      ...this.ctx.references.referenceLocks(operations),
    ];
    const heartbeat = new Heartbeat(this.ctx, txId, owner, epoch, keyed, lock, [...new Set(refs.map((ref) => ref.model))]);
    let held: DocRecord[] = [];
    let steps: Step[];
    try {
      heartbeat.start();
      const acquired = await locks.acquire(refs, lock, options.lockTimeoutMs ?? this.ctx.options.lockTimeoutMs);
      held = acquired.held;
      crashPoint('batch:locked');
      const images = new Map([...acquired.records].map(([key, record]) => [key, record.image]));
      const planned = planBatch(operations, images, this.ctx.knownInfo, Date.now());
      await this.ctx.references.checkBatchReferences(operations, planned, images);
      refuseUniqueChanges(planned, this.ctx.uniqueKeys);
      steps = planned.map((step) => ({ ...step, version: (acquired.records.get(documentKey(step.model, step.id)) as DocRecord).version }));
    } catch (err) {
      heartbeat.stop();
      await locks.free(held).catch(() => undefined); // what this misses, R5 frees on contact
      if (keyed) await this.endKeyed(txId, owner, epoch, err);
      throw unavailableIfTransient(err);
    }
    heartbeat.stop();
    const committed = { state: 'committed' as const, steps, documents: touchedDocuments(steps), endedAt: Date.now(), result: null };
    crashPoint('commit:sending');
    let landed: boolean;
    try {
      landed = keyed
        ? await logs.updateLog(txId, { states: ['pending'], owner, epoch }, committed)
        : await logs.insertLog(newLog({ ...base, ...committed, leaseUntil: lock.until }));
    } catch (err) {
      // Sent, unanswered: the log says which. Either way the records are settled by R5.
      const log = await logs.getLog(txId).catch(() => null);
      if (!(log?.state === 'committed' && log.owner === owner && log.epoch === epoch)) {
        throw new TransactError('outcome_unknown', `transaction ${txId}: the commit was sent but its outcome is unknown (${err instanceof Error ? err.message : String(err)}); ask outcome("${txId}")`, { details: { transaction: txId }, cause: err });
      }
      landed = true;
    }
    if (!landed) {
      // A waiter declared it dead first (its tombstone took the id), or a keyed attempt was taken over.
      await locks.free(held).catch(() => undefined);
      throw new TransactError('lease_lost', `transaction ${txId} lost its locks before its commit point; nothing was written`, { details: { transaction: txId, ...(keyed ? { takenOver: true } : {}) } });
    }
    this.ctx.stats.committed++;
    crashPoint('batch:committed');
    await this.apply(held, steps);
    crashPoint('batch:applied');
    return { id: txId, state: 'committed', steps };
  }

  /**
   * R4: each held record takes its last step's after-image (or is freed, when only read), in one
   * write per collection. After the commit point nothing may fail the caller: what this misses
   * stays held under the committed log, and the next to touch it (a waiter, recovery) applies it.
   */
  private async apply(held: readonly DocRecord[], steps: readonly Step[]): Promise<void> {
    const writes: GuardedWrite[] = held.map((record) => {
      const last = lastStepOn(steps, record.model, record.id);
      return guarded(record, last === undefined ? { kind: 'free' } : { kind: 'apply', after: last.after });
    });
    try {
      await this.ctx.records.write(writes);
    } catch (err) {
      this.ctx.warn(`a committed transaction's documents could not all be written now; the next transaction or recovery pass that meets them writes them`, err);
    }
  }

  /** A keyed attempt that failed before its commit point: its log records the failure (decided or not), at the next epoch. */
  private async endKeyed(txId: string, owner: string, epoch: number, cause: unknown): Promise<void> {
    const error = storedError(cause, isTransient(cause) ? 'unavailable' : 'aborted');
    const ended = await this.ctx.logs.updateLog(txId, { states: ['pending'], owner, epoch }, { state: 'rolled-back', epoch: epoch + 1, error, endedAt: Date.now() }).catch(() => false);
    if (!ended) throw new TransactError('lease_lost', `transaction ${txId} was taken over before it could record its failure`, { details: { transaction: txId, takenOver: true } });
  }
}

/**
 * R9 for updates is not built yet (a stub `~unique:<index>:<value>` reserving the new value): an
 * apply could then meet a duplicate after the commit point, so an update that changes a unique
 * attribute's value is refused before it, while nothing but locks is written.
 */
function refuseUniqueChanges(steps: readonly Step[], uniqueKeys: RedoBatchContext['uniqueKeys']): void {
  for (const step of steps) {
    if (step.before === null || step.after === null) continue;
    const changed = changedFields(step.before, step.after);
    const attributes = [...new Set(uniqueKeys(step.model).flat())].filter((name) => Object.prototype.hasOwnProperty.call(changed, name));
    if (attributes.length > 0) {
      throw new TransactError('unique_change_unsupported', `${step.model} ${step.id}: changing ${attributes.join(', ')} (unique) is not supported on log protocol v3 yet; nothing was written`, { details: { model: step.model, id: step.id, attributes } });
    }
  }
}

/**
 * Keeps a live attempt's leases from running out while it waits and plans: its records' and, when
 * keyed, its log's. Beats one at a time; a lost beat only lets a waiter declare it dead early,
 * which its commit then learns (the id is taken, or the log moved).
 */
class Heartbeat {
  private timer: NodeJS.Timeout | null = null;
  private beating: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: Pick<RedoBatchContext, 'records' | 'logs' | 'clock' | 'options'>,
    private readonly txId: string,
    private readonly owner: string,
    private readonly epoch: number,
    private readonly keyed: boolean,
    private readonly lock: RecordLock,
    private readonly models: readonly string[],
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.beating = this.beating.then(() => this.beat()).catch(() => undefined);
    }, Math.max(1, Math.floor(this.ctx.options.leaseMs / 3)));
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private async beat(): Promise<void> {
    const until = this.ctx.clock.now() + this.ctx.options.leaseMs;
    // The lock acquire grants from here on carries the new lease too: a record granted after a
    // wait longer than the lease would otherwise be born expired, and a waiter would declare its
    // live holder dead (lease_lost under contention).
    this.lock.until = until;
    if (this.keyed) await this.ctx.logs.updateLog(this.txId, { states: ['pending'], owner: this.owner, epoch: this.epoch }, { leaseUntil: until });
    for (const model of this.models) await this.ctx.records.renew(model, this.lock.token, until);
  }
}
