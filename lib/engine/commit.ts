/**
 * The log protocol's lifecycle, shared by batches and interactive transactions: the pending log
 * a transaction starts with, the commit point (one compare-and-set of the log document), the
 * rollback on any failure before it, and releasing the locks after it.
 */
import { crashPoint } from '../core/crash-points';
import { TransactError } from '../core/errors';
import { Lease } from '../protocol/lease';
import { newLog, storedError, touchedDocuments } from '../core/log-document';
import { isTransient, unavailableIfTransient } from '../store/retrying';
import type { TransactionOptions } from '../core/validation';
import { isTerminal } from '../core/state';
import type { Fence, LogDocument, LogPatch, Step, TxError } from '../core/types';
import type { EngineContext } from './context';
import type { TransactionLogs } from './logs';
import type { EngineOptions } from './options';

/** A new transaction's pending log (a batch's crash policy defaults to the engine's; an interactive one only rolls back). */
export function logFor(defaults: Pick<EngineOptions, 'onCrash'>, id: string, owner: string, mode: LogDocument['mode'], options: TransactionOptions, leaseUntil: number, steps: Step[]): LogDocument {
  return newLog({
    id,
    state: 'pending',
    mode,
    onCrash: mode === 'batch' ? options.onCrash ?? defaults.onCrash : 'rollback',
    label: options.label ?? null,
    idempotencyKey: options.idempotencyKey ?? null,
    idempotencyScope: options.idempotencyKey === undefined ? null : options.idempotencyScope ?? null,
    owner,
    leaseUntil,
    steps,
    documents: touchedDocuments(steps),
    startedAt: Date.now(),
  });
}

/** Whether `log` is still the attempt `lease` was taken for: its owner token and its fence epoch. */
function isOwnAttempt(log: LogDocument, lease: Lease): boolean {
  return log.owner === lease.owner && log.epoch === lease.fence.epoch;
}

/** A keyed attempt that lost its transaction to another owner before its commit landed (runOnce replays the key's outcome, if decided). */
export function takenOver(txId: string): TransactError {
  return new TransactError('lease_lost', `transaction ${txId} lost its lease before it committed; another owner took it over`, { details: { transaction: txId, takenOver: true } });
}

export class CommitProtocol {
  constructor(
    private readonly ctx: Pick<EngineContext, 'store' | 'locks' | 'recovery' | 'clock' | 'options' | 'warn'>,
    /** Asked who decided a transaction that recovery took over at its commit point. */
    private readonly logs: Pick<TransactionLogs, 'outcome'>,
  ) {}

  /**
   * Runs the writes under a heartbeat, then commits with one compare-and-set of the log's state;
   * on any failure before the commit point compensates what was written (if it still owns the
   * transaction) and rethrows. At the commit point: a reply that was lost is looked up; when the
   * outcome cannot be known it throws `outcome_unknown` (the log is then settled by recovery, and
   * `outcome(id)` tells which way); when another owner took over first, that owner decides.
   *
   * When a caller may report success: only for a commit of its own attempt — the commit landed
   * under its lease, or the log reads committed under its owner token AND epoch (a lost reply).
   * An unkeyed id is one attempt's alone, so its commit by recovery (rolled forward) is of this
   * attempt's own steps. A keyed id is reopened for another attempt after an undecided failure:
   * there a commit under any other owner or epoch may be another attempt's, with other steps, so
   * the caller gets `lease_lost` (details.takenOver) and may answer with the key's decided outcome
   * only as a replay (Idempotency.runOnce), never as its own. Without a commit of its own it
   * releases no locks: they belong to whoever owns the transaction now.
   */
  async runToCommit(lease: Lease, keyed: boolean, steps: () => Step[], result: (() => unknown) | null, skipEmptyLog: boolean, writes: () => Promise<void>): Promise<void> {
    const { txId } = lease;
    let commit: LogPatch;
    lease.startHeartbeat();
    try {
      await writes();
      lease.assertHeld();
      commit = { state: 'committed', endedAt: Date.now(), result: result === null ? null : result() };
    } catch (err) {
      lease.stopHeartbeat();
      throw await this.failAttempt(lease, keyed, steps(), err);
    }
    if (!lease.logged && skipEmptyLog) {
      // A lazily logged transaction that wrote nothing: nothing to commit, nothing to log.
      lease.stopHeartbeat();
      return;
    }
    let landed: boolean;
    try {
      // A pause here (GC, a frozen VM) comes after the lease check: only the compare-and-set decides.
      crashPoint('commit:sending');
      landed = await lease.writeLog(lease.guard, commit);
    } catch (err) {
      lease.stopHeartbeat();
      const log = await this.ctx.store.getLog(txId).catch(() => null);
      if (log?.state === 'committed' && (!keyed || isOwnAttempt(log, lease))) return; // it landed; only the reply was lost
      if (log?.state === 'pending' && log.owner === lease.owner) {
        // It did not land and is still ours: undo it, and say the store failed.
        throw await this.failAttempt(lease, keyed, steps(), err);
      }
      if (keyed && log !== null && !isOwnAttempt(log, lease)) throw takenOver(txId);
      throw new TransactError('outcome_unknown', `transaction ${txId}: the commit was sent but its outcome is unknown (${err instanceof Error ? err.message : String(err)}); ask outcome("${txId}")`, {
        details: { transaction: txId },
        cause: err,
      });
    }
    lease.stopHeartbeat();
    if (landed) return;
    // A keyed id may be on another attempt by now: what became of the key is the replay's to say.
    if (keyed) throw takenOver(txId);
    // Recovery took the transaction over before the commit point; it decides (a batch may be rolled forward).
    const decided = await this.logs.outcome(txId, this.ctx.options.leaseMs);
    if (decided.state === 'committed') return;
    if (!isTerminal(decided.state)) {
      throw new TransactError('outcome_unknown', `transaction ${txId} was taken over by recovery at its commit point and is not settled yet; ask outcome("${txId}")`, { details: { transaction: txId } });
    }
    throw new TransactError('lease_lost', `transaction ${txId} lost its lease before it committed; recovery rolled it back`, { details: { transaction: txId } });
  }

  /**
   * After the commit point nothing may fail the caller: a lock left behind expires, and recovery
   * releases it. Released at the committing attempt's epoch (`fence`): what a recoverer fenced
   * higher is that recoverer's to release.
   */
  async releaseAfterCommit({ txId, epoch }: Fence): Promise<void> {
    try {
      await this.ctx.locks.release(txId, epoch);
    } catch (err) {
      this.ctx.locks.abandon(txId);
      this.ctx.warn(`transaction ${txId} committed, but releasing its locks failed; recovery releases them once their lease ends`, err);
    }
  }

  /**
   * Ends an attempt that failed before its commit point: rolls it back (abort) and returns what
   * its caller is told. The rule of runToCommit holds for every way an attempt ends, not only its
   * commit: a keyed caller may report its own failure only when that failure is what the log
   * records, i.e. its own rollback claim landed under its lease. Otherwise the log is no longer
   * (or not surely) this attempt's — recovery rolled it back as owner_died, a repeat may have
   * reopened the key and committed, and an error planned on that state (already_exists,
   * bound_violation) would be a second answer for the key — so it gets `lease_lost`
   * (details.takenOver) and runOnce answers with the key's decided outcome as a replay, if any.
   */
  async failAttempt(lease: Lease, keyed: boolean, steps: Step[], cause: unknown): Promise<unknown> {
    const own = await this.abort(lease, steps, cause);
    return keyed && !own ? takenOver(lease.txId) : unavailableIfTransient(cause);
  }

  /**
   * After a refused claim: locks this attempt took at its own epoch once the transaction had moved
   * past it (a waiter granted its locks after recovery settled it, or after a repeat reopened and
   * committed the key) are nobody else's, so they are freed at that epoch — a later attempt's,
   * at a higher epoch, stay (AtomicStore.deleteLocks). Not while the log is rolling back, nor,
   * while it is pending, those on documents its log names: a recoverer rolling it back or forward
   * (pending at a higher epoch too) may not have fenced them yet, and frees them itself (sim seed
   * 113: this release landed before the roll-forward's fenceLocks, the recoverer lost its locks
   * and a waiter wrote under it). A reopened attempt holds the locks of the documents it names.
   */
  private async releaseLate(lease: Lease): Promise<void> {
    const log = await this.ctx.store.getLog(lease.txId);
    if (log === null || log.epoch <= lease.fence.epoch) return;
    if (isTerminal(log.state)) await this.ctx.locks.release(lease.txId, lease.fence.epoch);
    else if (log.state === 'pending') await this.ctx.locks.releaseExcept(lease.txId, lease.fence.epoch, new Set(log.documents));
  }

  /**
   * Rolls back an attempt that failed before its commit point. True when the rollback is this
   * attempt's own: it surely never logged, or its claim of the log (pending → rolling-back under its
   * owner token) landed, so the log records `cause`; false when the claim was refused or its
   * reply was lost (another owner has the log, or recovery settles it under its own error).
   */
  async abort(lease: Lease, steps: Step[], cause: unknown): Promise<boolean> {
    if (lease.logUnknown) {
      // Its log may have landed (with its first step): the locks stay for recovery, which settles
      // it under its own error (the compensation of that step needs them), or frees them once
      // they expire with no log.
      this.ctx.locks.abandon(lease.txId);
      return false;
    }
    if (!lease.logged) {
      // Never logged, so never wrote: only its locks to free (recovery frees what this misses).
      await this.ctx.locks.release(lease.txId, lease.fence.epoch).catch(() => this.ctx.locks.abandon(lease.txId));
      return true;
    }
    // A TransactError keeps its code, path and details (replayed under its key); anything else is aborted or unavailable.
    const error: TxError = storedError(cause, isTransient(cause) ? 'unavailable' : 'aborted');
    // The rollback moves to the next epoch: a write of ours still in flight (its reply lost, say)
    // carries the old one and is refused once it arrives after the undo.
    const fence = { txId: lease.txId, epoch: lease.fence.epoch + 1 };
    let claimed = false;
    try {
      claimed = await lease.writeLog(lease.guard, { state: 'rolling-back', error, leaseUntil: lease.renewal(), epoch: fence.epoch });
      if (!claimed) {
        await this.releaseLate(lease);
        return false;
      }
      crashPoint('rollback:claimed');
      await this.ctx.store.fenceLocks(lease.txId, fence.epoch);
      await this.ctx.recovery.compensate({ id: lease.txId, steps }, new Lease(this.ctx.store, fence, lease.owner, this.ctx.options.leaseMs, this.ctx.clock, 'rolling-back'));
    } catch {
      // The log still says pending/rolling-back under our lease: recovery finishes the rollback
      // (with our error, once our claim landed).
    } finally {
      this.ctx.locks.abandon(lease.txId);
    }
    return claimed;
  }
}
