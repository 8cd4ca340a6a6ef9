/**
 * One attempt of a transaction on log protocol v3 (docs/protocol-v3.md), shared by batches and
 * interactive transactions: a keyed attempt's pending log (R8), the heartbeat that keeps its
 * leases, the commit point (R3: the log inserted committed, or a keyed log's compare-and-set),
 * the apply after it (R4), and a failure before it (nothing to undo: the records are freed).
 */
import { beatEvery, type Beats, beatPeriod } from '../../protocol/beats';
import type { ServerClock } from '../../protocol/clock';
import { TransactError } from '../../core/errors';
import { newLog, storedError, touchedDocuments } from '../../core/log-document';
import { changedFields, documentKey } from '../../core/operations';
import { ownerToken } from '../../protocol/recovery';
import { isTransient, unavailableIfTransient } from '../../store/retrying';
import type { TransactionOptions } from '../../core/validation';
import type { AtomicStore } from '../../store';
import type { LogDocument, Step, Values } from '../../core/types';
import type { Reopened } from '../idempotency';
import type { EngineOptions, EngineWarning } from '../options';
import { guarded, type RecordLocks } from '../../protocol/redo/locks';
import { type DocRecord, type GuardedWrite, lastStepOn, type RecordLock, type RecordStore, lockToken, type Stub } from '../../store/records';

export interface RedoContext {
  records: RecordStore;
  /** The log's primitives (retried on transient errors). */
  logs: AtomicStore;
  locks: RecordLocks;
  clock: ServerClock;
  options: EngineOptions;
  warn: EngineWarning;
  stats: { committed: number };
}

/** Who runs an attempt, and its lock: the token `txId.epoch` its records are held by. */
export interface Attempt {
  txId: string;
  owner: string;
  epoch: number;
  keyed: boolean;
  lock: RecordLock;
  /** The log document's fields fixed at the start. */
  log: LogDocument;
}

export interface AttemptSpec {
  txId: string;
  mode: LogDocument['mode'];
  options: TransactionOptions;
  /** A keyed batch's fingerprint (null: a keyed interactive transaction, or not keyed). */
  print: string | null;
  reopened?: Reopened;
  /** A reversal's link and reason. */
  reverses?: string | null;
  reason?: string | null;
}

export class RedoAttempts {
  constructor(readonly ctx: RedoContext) {}

  /** Starts an attempt; a keyed one first inserts its pending log, which is what makes it run once (R8). */
  async begin(spec: AttemptSpec): Promise<Attempt> {
    const { clock, options } = this.ctx;
    const { txId, reopened } = spec;
    const owner = reopened?.owner ?? ownerToken(options.instanceId);
    const epoch = reopened?.epoch ?? 0;
    const keyed = spec.options.idempotencyKey !== undefined;
    const lock: RecordLock = { token: lockToken(txId, epoch), until: clock.now() + options.leaseMs };
    const log = newLog({
      id: txId,
      state: 'pending',
      mode: spec.mode,
      onCrash: 'rollback',
      label: spec.options.label ?? null,
      idempotencyKey: spec.options.idempotencyKey ?? null,
      idempotencyScope: keyed ? spec.options.idempotencyScope ?? null : null,
      owner,
      epoch,
      leaseUntil: lock.until,
      startedAt: Date.now(),
      fingerprint: spec.print,
      reverses: spec.reverses ?? null,
      reason: spec.reason ?? null,
    });
    if (keyed && reopened === undefined && !(await this.ctx.logs.insertLog(log))) throw new TransactError('in_progress', 'duplicate', { details: { duplicate: true } });
    return { txId, owner, epoch, keyed, lock, log };
  }

  heartbeat(attempt: Attempt, models: ReadonlySet<string>): Heartbeat {
    return new Heartbeat(this.ctx, attempt, models);
  }

  /**
   * R9 for updates, before the commit point: the new unique values the steps' updates give their
   * documents are claimed for the records the attempt holds, or the attempt fails with nothing
   * written (`already_exists`; `unique_change_unsupported` where the store cannot claim them).
   * So are the values of a create whose record is no stub its own reservation filled
   * (`reservedByCreate`: `model:id` of those that are).
   */
  async claimUniqueChanges(attempt: Attempt, steps: readonly Step[], uniqueKeysOf: (model: string) => readonly (readonly string[])[], reservedByCreate: ReadonlySet<string>): Promise<void> {
    const { records } = this.ctx;
    for (const [model, claims] of uniqueChanges(steps, uniqueKeysOf, reservedByCreate)) {
      if (records.claimUnique === undefined) {
        const { id, values } = claims[0];
        const attributes = Object.keys(values);
        throw new TransactError('unique_change_unsupported', `${model} ${id}: changing ${attributes.join(', ')} (unique) is not supported on log protocol v3 on this datastore yet; nothing was written`, { details: { model, id, attributes } });
      }
      await records.claimUnique(model, claims, attempt.lock);
    }
  }

  /**
   * R3: the commit point. Returns once committed; throws `outcome_unknown` when the commit was
   * sent and its outcome cannot be read, `lease_lost` (having freed `held`) when a waiter declared
   * the attempt dead first or a keyed attempt was taken over. Steps carry their record's version.
   */
  async commit(attempt: Attempt, steps: readonly Step[], result: unknown, held: readonly DocRecord[]): Promise<void> {
    const { logs } = this.ctx;
    const { txId, owner, epoch } = attempt;
    const committed = { state: 'committed' as const, steps: [...steps], documents: touchedDocuments(steps), endedAt: Date.now(), result };
    let landed: boolean;
    try {
      landed = attempt.keyed ? await logs.updateLog(txId, { states: ['pending'], owner, epoch }, committed) : await logs.insertLog({ ...attempt.log, ...committed });
    } catch (err) {
      // Sent, unanswered: the log says which. Either way the records are settled by R5.
      const log = await logs.getLog(txId).catch(() => null);
      if (!(log?.state === 'committed' && log.owner === owner && log.epoch === epoch)) {
        this.ctx.locks.abandon(held);
        throw new TransactError('outcome_unknown', `transaction ${txId}: the commit was sent but its outcome is unknown (${err instanceof Error ? err.message : String(err)}); ask outcome("${txId}")`, { details: { transaction: txId }, cause: err });
      }
      landed = true;
    }
    if (!landed) {
      await this.ctx.locks.free(held).catch(() => undefined);
      throw new TransactError('lease_lost', `transaction ${txId} lost its locks before its commit point; nothing was written`, { details: { transaction: txId, ...(attempt.keyed ? { takenOver: true } : {}) } });
    }
    this.ctx.stats.committed++;
  }

  /**
   * R4: each held record takes its last step's after-image (or is freed, when only read), in one
   * write per collection. After the commit point nothing may fail the caller: what this misses
   * stays held under the committed log, and the next to touch it (a waiter, recovery) applies it.
   */
  async apply(held: readonly DocRecord[], steps: readonly Step[]): Promise<void> {
    const writes: GuardedWrite[] = held.map((record) => {
      const last = lastStepOn(steps, record.model, record.id);
      return guarded(record, last === undefined ? { kind: 'free' } : { kind: 'apply', after: last.after });
    });
    if (writes.length === 0) return;
    try {
      await this.ctx.locks.write(writes);
    } catch (err) {
      this.ctx.warn(`a committed transaction's documents could not all be written now; the next transaction or recovery pass that meets them writes them`, err);
    }
  }

  /** A failure before the commit point: frees what it holds; a keyed attempt records the failure at the next epoch. Returns what to throw. */
  async fail(attempt: Attempt, held: readonly DocRecord[], cause: unknown): Promise<unknown> {
    await this.ctx.locks.free(held).catch(() => undefined); // what this misses, R5 frees on contact
    if (attempt.keyed) {
      const error = storedError(cause, isTransient(cause) ? 'unavailable' : 'aborted');
      const ended = await this.ctx.logs.updateLog(attempt.txId, { states: ['pending'], owner: attempt.owner, epoch: attempt.epoch }, { state: 'rolled-back', epoch: attempt.epoch + 1, error, endedAt: Date.now() }).catch(() => false);
      if (!ended) return new TransactError('lease_lost', `transaction ${attempt.txId} was taken over before it could record its failure`, { details: { transaction: attempt.txId, takenOver: true } });
    }
    return unavailableIfTransient(cause);
  }
}

/**
 * R9 for updates: the new values of the unique keys an update changes, per model — each key whole
 * (a key of two fields is claimed as the pair, though one of them changed). And for a create
 * whose record is not a stub its own reservation filled with its values (`reservedByCreate`:
 * `model:id` of those): a tombstone granted as it is (a store's reserve that inserts only ids never
 * seen, or whose take-back lost a race), or an interactive transaction's stub reserved by a read
 * before the create — each of its unique keys given a whole value. One claim per document, its
 * last step's (a record holds one claim at a time; its apply writes that step's image).
 */
export function uniqueChanges(steps: readonly Step[], uniqueKeysOf: (model: string) => readonly (readonly string[])[], reservedByCreate: ReadonlySet<string> = new Set()): Map<string, Stub[]> {
  const byModel = new Map<string, Map<string, Stub>>();
  for (const step of steps) {
    if (step.after === null) continue;
    const after = step.after;
    const keys = step.before === null
      ? reservedByCreate.has(documentKey(step.model, step.id)) ? [] : uniqueKeysOf(step.model).filter((key) => key.every((field) => after[field] !== undefined && after[field] !== null))
      : uniqueKeysOf(step.model).filter((key) => key.some((field) => Object.prototype.hasOwnProperty.call(changedFields(step.before as Values, after), field)));
    if (keys.length === 0) continue;
    const values: Values = Object.fromEntries(keys.flat().map((field) => [field, after[field]]));
    const ofModel = byModel.get(step.model) ?? new Map<string, Stub>();
    ofModel.set(step.id, { id: step.id, values });
    byModel.set(step.model, ofModel);
  }
  return new Map([...byModel].map(([model, claims]) => [model, [...claims.values()]]));
}

/** Steps with the version each one's record had once held (R3: the guard its apply is judged by). */
export function withVersions(steps: readonly Step[], records: ReadonlyMap<string, DocRecord>): Step[] {
  return steps.map((step) => {
    const record = records.get(documentKey(step.model, step.id));
    if (record === undefined) throw new Error(`${step.model} ${step.id} was written without its record held`);
    return { ...step, version: record.version };
  });
}

/**
 * Keeps a live attempt's leases from running out while it waits and plans: its records' and, when
 * keyed, its log's, at the rhythm of protocol/beats.ts. A lost beat only lets a waiter declare it
 * dead early, which its commit then learns (the id is taken, or the log moved).
 */
export class Heartbeat {
  private beats: Beats | null = null;

  constructor(
    private readonly ctx: Pick<RedoContext, 'records' | 'logs' | 'clock' | 'options'>,
    private readonly attempt: Attempt,
    /** The collections the attempt holds records in (an interactive transaction adds to it as it goes). */
    private readonly models: ReadonlySet<string>,
  ) {}

  start(): void {
    this.beats = beatEvery(beatPeriod(this.ctx.options.leaseMs), () => this.beat().catch(() => undefined));
  }

  stop(): void {
    this.beats?.stop();
    this.beats = null;
  }

  private async beat(): Promise<void> {
    const { txId, owner, epoch, keyed, lock } = this.attempt;
    const until = this.ctx.clock.now() + this.ctx.options.leaseMs;
    // Grants still to come carry the renewed lease too: a record granted after a long wait must not arrive expired.
    lock.until = until;
    if (keyed) await this.ctx.logs.updateLog(txId, { states: ['pending'], owner, epoch }, { leaseUntil: until });
    for (const model of [...this.models]) await this.ctx.records.renew(model, lock.token, until);
  }
}
