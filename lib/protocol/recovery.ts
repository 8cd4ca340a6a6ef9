/**
 * Recovery: settles transactions whose owner died or stalled. It claims each one with a
 * compare-and-set on its log that moves the owner and raises the fence epoch, fences the
 * transaction's locks at that epoch (so a write from any earlier owner is refused from then on),
 * then compensates it (or completes it, for a batch whose crash policy is 'rollforward') under a
 * lease it renews, and releases its locks only if its own final compare-and-set landed. Every
 * step is idempotent, so a crash during recovery is just one more crash to recover from.
 *
 * The owner's own abort path uses the same compensation, so there is one way to undo.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServerClock } from './clock';
import { crashPoint } from '../core/crash-points';
import type { Documents } from './documents';
import { isTransactError, TransactError } from '../core/errors';
import { newId } from '../core/ids';
import { Lease } from './lease';
import { newLog, storedError } from '../core/log-document';
import type { ModelInfo } from '../core/model-info';
import { compensationPlan, type FencedWrite, redoPlan } from '../core/operations';
import { CLAIM_PREFIX } from '../core/ids';
import { decideRecovery } from '../core/state';
import type { AtomicStore } from '../store';
import { ACTIVE_STATES, type LogDocument, type TxError } from '../core/types';

export interface RecoveryOptions {
  instanceId: string;
  leaseMs: number;
  clockSkewMs: number;
  /** Most transactions (and expired locks) handled per pass. */
  batchSize: number;
}

/** Running counts of how transactions ended, in this process (for metrics). */
export interface TransactionStats {
  committed: number;
  rolledBack: number;
  /** Transactions recovery claimed from a dead owner (then rolled back or forward). */
  recovered: number;
  /** Recovery could not settle a transaction and marked it for an operator. */
  attention: number;
  /** afterCommit / afterRollback hooks that threw (logged; the transaction's outcome stands). */
  hookFailures: number;
  /** Runs of a transaction started again by its `retry` option (lib/engine/reruns.ts). */
  transactionRetries: number;
}

export interface RecoverySummary {
  rolledBack: number;
  rolledForward: number;
  locksReleased: number;
  orphans: number;
  /** Transactions this pass could not settle (each marked `attention` on its log). */
  failed: number;
}

export type SettleOutcome = ReturnType<typeof decideRecovery> | 'lost';

/** An owner token: the instance, and a nonce that tells this holder from any other of the instance. */
export function ownerToken(instanceId: string): string {
  return `${instanceId}#${newId()}`;
}

/**
 * A rolled-back log under the id of a transaction that never logged: it settles that id, and
 * fences off the transaction should it still be alive (its own insert of that id now fails).
 */
export function tombstone(txId: string, owner: string, code: string, message: string, now: number): LogDocument {
  return newLog({ id: txId, state: 'rolled-back', mode: 'batch', onCrash: 'rollback', owner, leaseUntil: now, startedAt: now, endedAt: now, recoveries: 1, epoch: 1, error: { code, message } });
}

export function instanceOf(owner: string): string {
  const hash = owner.lastIndexOf('#');
  return hash === -1 ? owner : owner.slice(0, hash);
}

function describe(err: unknown): TxError {
  return storedError(err, 'recovery_failed');
}

/** What the engine's callers ask of recovery, on either log protocol (lib/protocol/redo/recovery.ts is v3's). */
export interface TransactionRecovery {
  runOnce(startup?: boolean): Promise<RecoverySummary>;
  settle(log: LogDocument, ignoreLease: boolean): Promise<SettleOutcome>;
}

export class Recovery implements TransactionRecovery {
  constructor(
    private readonly store: AtomicStore,
    private readonly documents: Documents,
    private readonly infoOf: (model: string) => ModelInfo | undefined,
    private readonly clock: ServerClock,
    private readonly options: RecoveryOptions,
    private readonly stats: TransactionStats,
    /** Told about each transaction recovery could not settle (logged by the hook). */
    private readonly onFailure: (txId: string, err: unknown) => void = () => undefined,
  ) {}

  /**
   * One pass: expired active transactions, then expired locks. A transaction that cannot be
   * settled is marked for attention and skipped; the pass goes on.
   * @param startup on the first pass after start, transactions owned by an earlier incarnation
   *   of this instance (same stable instanceId), or any on a single-process store, are known dead
   *   and are recovered without waiting for their lease. (If that earlier incarnation is in fact
   *   still running, its writes are fenced out: it loses its transactions, nothing else.)
   */
  async runOnce(startup = false): Promise<RecoverySummary> {
    const summary: RecoverySummary = { rolledBack: 0, rolledForward: 0, locksReleased: 0, orphans: 0, failed: 0 };
    const now = this.clock.now();
    const horizon = startup ? Number.MAX_SAFE_INTEGER : now - this.options.clockSkewMs;
    for (const log of await this.store.findExpiredLogs(ACTIVE_STATES, horizon, this.options.batchSize)) {
      try {
        const outcome = await this.settle(log, startup && this.diedWithUs(log));
        if (outcome === 'rollback') summary.rolledBack++;
        if (outcome === 'rollforward') summary.rolledForward++;
      } catch (err) {
        summary.failed++;
        await this.markForAttention(log.id, err);
      }
    }
    // Job item leases share the lock records but are not transactions: the query skips them.
    const expiredLocks = await this.store.findExpiredLocks(now - this.options.clockSkewMs, this.options.batchSize, CLAIM_PREFIX);
    for (const holder of new Set(expiredLocks.map((lock) => lock.owner))) {
      try {
        const outcome = await this.settleHolder(holder);
        if (outcome === 'orphan') summary.orphans++;
        if (outcome !== 'wait') summary.locksReleased += expiredLocks.filter((lock) => lock.owner === holder).length;
      } catch (err) {
        summary.failed++;
        await this.markForAttention(holder, err);
      }
    }
    return summary;
  }

  /**
   * Before log protocol v3 runs on a datastore where the log protocol (v2) ran: every v2
   * transaction still holding lock rows (its process died under the earlier version, or still
   * runs) is settled as this recovery would — rolled back, or forward — once its lease is over,
   * waiting at most `waitMs`. v3 itself never writes a document's lock row, so none is left after.
   * Returns how many were settled; throws `protocol_mismatch` when one is still held by a live
   * owner at the end (an instance of the earlier protocol is running: two protocols on one
   * datastore do not exclude each other).
   */
  async settleEarlierProtocol(waitMs: number, pollMs: number): Promise<number> {
    const deadline = Date.now() + waitMs;
    const settled = new Set<string>();
    for (;;) {
      const locks = await this.store.findExpiredLocks(Number.MAX_SAFE_INTEGER, this.options.batchSize, CLAIM_PREFIX);
      if (locks.length === 0) return settled.size;
      const owners = [...new Set(locks.map((lock) => lock.owner))];
      if (Date.now() >= deadline) {
        throw new TransactError('protocol_mismatch', `the datastore holds lock rows of the log protocol (v2) whose owners are alive (${owners.slice(0, 5).join(', ')}): an instance runs the earlier protocol; stop it (docs/operations.md, "Changing protocol") before starting log protocol v3`, { details: { transactions: owners } });
      }
      let waiting = false;
      for (const holder of owners) {
        if ((await this.settleHolder(holder)) === 'wait') waiting = true;
        else settled.add(holder);
      }
      // Settled: the next pass finds their rows gone at once; a live lease is waited out.
      if (waiting) await sleep(pollMs);
    }
  }

  /**
   * Settles the transaction holding an expired lock. A lock without a log belongs to a batch
   * that died before writing its log (so it wrote nothing): a tombstone log takes its id first,
   * which also fences that batch off should it still be alive.
   */
  async settleHolder(txId: string): Promise<'wait' | 'orphan' | 'settled'> {
    let log = await this.store.getLog(txId);
    if (log === null) {
      const message = 'locks found without a log: the transaction died before logging, nothing was written';
      const stone = tombstone(txId, ownerToken(this.options.instanceId), 'orphan_locks', message, this.clock.now());
      if (await this.store.insertLog(stone)) {
        // At the tombstone's epoch: the orphan's locks are below it; a keyed repeat reopening the id later locks above it.
        await this.store.deleteLocks(txId, stone.epoch);
        return 'orphan';
      }
      log = await this.store.getLog(txId);
      if (log === null) return 'wait';
    }
    const outcome = await this.settle(log, false);
    return outcome === 'wait' || outcome === 'lost' ? 'wait' : 'settled';
  }

  /** Recovers one transaction if recovery is due; returns what was decided ('lost': another owner moved first). */
  async settle(log: LogDocument, ignoreLease: boolean): Promise<SettleOutcome> {
    const now = this.clock.now();
    const decision = decideRecovery(ignoreLease ? { ...log, leaseUntil: -Infinity } : log, now, this.options.clockSkewMs);
    if (decision === 'wait') return decision;
    if (decision === 'release-locks') {
      // At the epoch the log was read at: if it was reopened since (a keyed repeat), the new attempt's locks are above it.
      await this.store.deleteLocks(log.id, log.epoch);
      return decision;
    }
    for (const step of log.steps) {
      if (this.infoOf(step.model) === undefined) throw new Error(`the log names model "${step.model}", which this app does not define (or not as a transactional model)`);
    }
    const owner = ownerToken(this.options.instanceId);
    const epoch = log.epoch + 1;
    const state = decision === 'rollback' ? 'rolling-back' : 'pending';
    const claimed = await this.store.updateLog(
      log.id,
      { states: [log.state], owner: log.owner, leaseUntil: log.leaseUntil, epoch: log.epoch },
      {
        state,
        owner,
        leaseUntil: now + this.options.leaseMs,
        recoveries: log.recoveries + 1,
        epoch,
        // Say why, for auditors and for a repeated idempotency key, unless the owner already did.
        ...(decision === 'rollback' && log.error === null ? { error: { code: 'owner_died', message: `the process running it (${instanceOf(log.owner)}) stopped or stalled before it committed; recovery rolled it back` } } : {}),
      },
    );
    if (!claimed) return 'wait'; // another instance (or the owner) moved first
    this.stats.recovered++;
    // From here on, only writes at this epoch land: the old owner, if it still runs, is fenced out.
    await this.store.fenceLocks(log.id, epoch);
    const lease = new Lease(this.store, { txId: log.id, epoch }, owner, this.options.leaseMs, this.clock, state);
    if (decision === 'rollback') {
      crashPoint('rollback:claimed');
      return (await this.compensate(log, lease)) ? decision : 'lost';
    }
    crashPoint('rollforward:claimed');
    return (await this.complete(log, lease)) ? decision : 'lost';
  }

  /**
   * Undoes every step, last first, then marks the transaction rolled back and unlocks it. The
   * caller holds the transaction in state rolling-back under `lease`, which is renewed while this
   * runs. Returns false when it lost the transaction to another owner: it then stops writing
   * and leaves the locks to that owner.
   */
  async compensate(log: Pick<LogDocument, 'id' | 'steps'>, lease: Lease, error: TxError | null = null): Promise<boolean> {
    if (!(await this.writeAll(compensationPlan(log.steps, this.knownInfo), lease, 'rollback:undone'))) return false;
    const ended = { state: 'rolled-back' as const, endedAt: this.clock.now(), ...(error === null ? {} : { error }) };
    if (!(await lease.writeLog(lease.guard, ended))) return false;
    this.stats.rolledBack++;
    crashPoint('rollback:ended');
    await this.store.deleteLocks(log.id, lease.fence.epoch);
    return true;
  }

  /** Re-applies every step of a pending batch, commits it, and unlocks it (false: lost it to another owner). */
  private async complete(log: LogDocument, lease: Lease): Promise<boolean> {
    try {
      if (!(await this.writeAll(redoPlan(log.steps, this.knownInfo), lease, 'rollforward:redone'))) return false;
    } catch (err) {
      // It cannot be completed (e.g. the adapter refuses a value): undo it instead.
      const error = { code: 'rollforward_failed', message: err instanceof Error ? err.message : String(err) };
      if (!(await lease.writeLog(lease.guard, { state: 'rolling-back', error, leaseUntil: lease.renewal() }))) return false;
      return this.compensate(log, new Lease(this.store, lease.fence, lease.owner, this.options.leaseMs, this.clock, 'rolling-back'), error);
    }
    if (!(await lease.writeLog(lease.guard, { state: 'committed', endedAt: this.clock.now() }))) return false;
    this.stats.committed++;
    crashPoint('rollforward:ended');
    await this.store.deleteLocks(log.id, lease.fence.epoch);
    return true;
  }

  /** Applies the writes one by one under `lease`, renewing it; false once the datastore refused one (another owner has it now). */
  private async writeAll(writes: readonly FencedWrite[], lease: Lease, point: 'rollback:undone' | 'rollforward:redone'): Promise<boolean> {
    lease.startHeartbeat();
    try {
      for (const write of writes) {
        lease.assertOwned();
        await this.documents.write([write], lease.fence);
        crashPoint(point);
      }
      return true;
    } catch (err) {
      if (isTransactError(err, 'lease_lost')) return false;
      throw err;
    } finally {
      lease.stopHeartbeat();
    }
  }

  /** Models of a log that passed settle()'s check. */
  private readonly knownInfo = (model: string): ModelInfo => this.infoOf(model) as ModelInfo;

  /** Records on the log why recovery could not settle it; the next pass tries again. */
  private async markForAttention(txId: string, err: unknown): Promise<void> {
    this.stats.attention++;
    this.onFailure(txId, err);
    await this.store.updateLog(txId, {}, { attention: { ...describe(err), at: this.clock.now() } }).catch(() => undefined);
  }

  private diedWithUs(log: LogDocument): boolean {
    return !this.store.multiProcess || instanceOf(log.owner) === this.options.instanceId;
  }
}
