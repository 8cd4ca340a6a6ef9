/**
 * Recovery: settles transactions whose owner died. It claims each one by moving its lease with
 * a compare-and-set (so exactly one instance works on it), then compensates it (or completes
 * it, for a batch whose crash policy is 'rollforward'), then releases its locks. Every step is
 * idempotent, so a crash during recovery is just one more crash to recover from.
 *
 * The owner's own abort path uses the same compensation, so there is one way to undo.
 */
import { crashPoint } from './crash-points';
import type { Documents } from './documents';
import { newId } from './ids';
import { newLog } from './log';
import type { ModelInfo } from './model-info';
import { compensationPlan, redoPlan } from './operations';
import { CLAIM_PREFIX } from './scheduler';
import { decideRecovery } from './state';
import type { AtomicStore } from './store';
import { ACTIVE_STATES, type LogDocument, type TxError } from './types';

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
}

export interface RecoverySummary {
  rolledBack: number;
  rolledForward: number;
  locksReleased: number;
  orphans: number;
}

/** An owner token: the instance, and a nonce that tells this holder from any other of the instance. */
export function ownerToken(instanceId: string): string {
  return `${instanceId}#${newId()}`;
}

/**
 * A rolled-back log under the id of a transaction that never logged: it settles that id, and
 * fences off the transaction should it still be alive (its own insert of that id now fails).
 */
export function tombstone(txId: string, owner: string, code: string, message: string): LogDocument {
  const now = Date.now();
  return newLog({ id: txId, state: 'rolled-back', mode: 'batch', onCrash: 'rollback', owner, leaseUntil: now, startedAt: now, endedAt: now, recoveries: 1, error: { code, message } });
}

export function instanceOf(owner: string): string {
  const hash = owner.lastIndexOf('#');
  return hash === -1 ? owner : owner.slice(0, hash);
}

export class Recovery {
  constructor(
    private readonly store: AtomicStore,
    private readonly documents: Documents,
    private readonly infoOf: (model: string) => ModelInfo,
    private readonly options: RecoveryOptions,
    private readonly stats: TransactionStats = { committed: 0, rolledBack: 0, recovered: 0 },
  ) {}

  /**
   * One pass: expired active transactions, then expired locks.
   * @param startup on the first pass after start, transactions owned by an earlier incarnation
   *   of this instance (same stable instanceId), or any on a single-process store, are known dead
   *   and are recovered without waiting for their lease.
   */
  async runOnce(startup = false): Promise<RecoverySummary> {
    const summary: RecoverySummary = { rolledBack: 0, rolledForward: 0, locksReleased: 0, orphans: 0 };
    const now = Date.now();
    const horizon = startup ? Number.MAX_SAFE_INTEGER : now - this.options.clockSkewMs;
    for (const log of await this.store.findExpiredLogs(ACTIVE_STATES, horizon, this.options.batchSize)) {
      const outcome = await this.settle(log, startup && this.diedWithUs(log));
      if (outcome === 'rollback') summary.rolledBack++;
      if (outcome === 'rollforward') summary.rolledForward++;
    }
    // Job item leases share the lock records; an expired one is simply taken over by the next claim.
    const expiredLocks = (await this.store.findExpiredLocks(now - this.options.clockSkewMs, this.options.batchSize)).filter((lock) => !lock.id.startsWith(CLAIM_PREFIX));
    for (const holder of new Set(expiredLocks.map((lock) => lock.owner))) {
      const outcome = await this.settleHolder(holder);
      if (outcome === 'orphan') summary.orphans++;
      if (outcome !== 'wait') summary.locksReleased += expiredLocks.filter((lock) => lock.owner === holder).length;
    }
    return summary;
  }

  /**
   * Settles the transaction holding an expired lock. A lock without a log belongs to a batch
   * that died before writing its log (so it wrote nothing): a tombstone log takes its id first,
   * which also fences that batch off should it still be alive.
   */
  async settleHolder(txId: string): Promise<'wait' | 'orphan' | 'settled'> {
    let log = await this.store.getLog(txId);
    if (log === null) {
      if (await this.store.insertLog(tombstone(txId, ownerToken(this.options.instanceId), 'orphan_locks', 'locks found without a log: the transaction died before logging, nothing was written'))) {
        await this.store.deleteLocks(txId);
        return 'orphan';
      }
      log = await this.store.getLog(txId);
      if (log === null) return 'wait';
    }
    return (await this.settle(log, false)) === 'wait' ? 'wait' : 'settled';
  }

  /** Recovers one transaction if recovery is due; returns what was decided. */
  async settle(log: LogDocument, ignoreLease: boolean): Promise<ReturnType<typeof decideRecovery>> {
    const now = Date.now();
    const decision = decideRecovery(ignoreLease ? { ...log, leaseUntil: -Infinity } : log, now, this.options.clockSkewMs);
    if (decision === 'wait') return decision;
    if (decision === 'release-locks') {
      await this.store.deleteLocks(log.id);
      return decision;
    }
    const owner = ownerToken(this.options.instanceId);
    const claimed = await this.store.updateLog(
      log.id,
      { states: [log.state], owner: log.owner, leaseUntil: log.leaseUntil },
      {
        state: decision === 'rollback' ? 'rolling-back' : 'pending',
        owner,
        leaseUntil: now + this.options.leaseMs,
        recoveries: log.recoveries + 1,
        // Say why, for auditors and for a repeated idempotency key, unless the owner already did.
        ...(decision === 'rollback' && log.error === null ? { error: { code: 'owner_died', message: `the process running it (${instanceOf(log.owner)}) stopped before it committed; recovery rolled it back` } } : {}),
      },
    );
    if (!claimed) return 'wait'; // another instance (or the owner) moved first
    this.stats.recovered++;
    if (decision === 'rollback') {
      crashPoint('rollback:claimed');
      await this.compensate(log, owner);
    } else {
      crashPoint('rollforward:claimed');
      await this.complete(log, owner);
    }
    return decision;
  }

  /**
   * Undoes every step, last first, then marks the transaction rolled back and unlocks it.
   * The caller must hold the transaction in state rolling-back under `owner`.
   */
  async compensate(log: Pick<LogDocument, 'id' | 'steps'>, owner: string, error: TxError | null = null): Promise<void> {
    for (const action of compensationPlan(log.steps, this.infoOf)) {
      await this.documents.apply(action);
      crashPoint('rollback:undone');
    }
    const patch = error === null ? { state: 'rolled-back' as const, endedAt: Date.now() } : { state: 'rolled-back' as const, endedAt: Date.now(), error };
    await this.store.updateLog(log.id, { states: ['rolling-back'], owner }, patch);
    this.stats.rolledBack++;
    crashPoint('rollback:ended');
    await this.store.deleteLocks(log.id);
  }

  /** Re-applies every step of a pending batch, commits it, and unlocks it. */
  private async complete(log: LogDocument, owner: string): Promise<void> {
    try {
      for (const action of redoPlan(log.steps, this.infoOf)) {
        await this.documents.apply(action);
        crashPoint('rollforward:redone');
      }
    } catch (err) {
      // It cannot be completed (e.g. the adapter refuses a value): undo it instead.
      const error = { code: 'rollforward_failed', message: err instanceof Error ? err.message : String(err) };
      if (await this.store.updateLog(log.id, { states: ['pending'], owner }, { state: 'rolling-back', error })) await this.compensate(log, owner, error);
      return;
    }
    await this.store.updateLog(log.id, { states: ['pending'], owner }, { state: 'committed', endedAt: Date.now() });
    this.stats.committed++;
    crashPoint('rollforward:ended');
    await this.store.deleteLocks(log.id);
  }

  private diedWithUs(log: LogDocument): boolean {
    return !this.store.multiProcess || instanceOf(log.owner) === this.options.instanceId;
  }
}
