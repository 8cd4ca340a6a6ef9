/**
 * At most once per idempotency key: a keyed transaction's log id derives from its key, so only
 * one run can insert it; every other caller gets that run's decided outcome.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isTransactError, TransactError } from '../core/errors';
import { isDecided, keyedTransactionId, replayedError } from '../core/log-document';
import { ownerToken, type TransactionRecovery } from '../protocol/recovery';
import { isTransient, unavailableIfTransient } from '../store/retrying';
import type { TransactionOptions } from '../core/validation';
import type { LogDocument, LogPatch } from '../core/types';
import type { EngineContext } from './context';

/** A keyed transaction taken back to pending for another run: its new owner and epoch. */
export interface Reopened {
  owner: string;
  epoch: number;
}

/** The transaction id of a keyed transaction: its key's, within its scope (lib/core/log-document keyedTransactionId). */
export function keyedIdOf(options: Required<Pick<TransactionOptions, 'idempotencyKey'>> & Pick<TransactionOptions, 'idempotencyScope'>): string {
  return keyedTransactionId(options.idempotencyKey, options.idempotencyScope ?? null);
}

export class Idempotency {
  constructor(
    private readonly ctx: Pick<EngineContext, 'store' | 'clock' | 'options'> & { recovery: Pick<TransactionRecovery, 'settle'> },
    /**
     * Log protocol v3: applies what a committed log's owner has not applied yet (RecordLocks.applyCommitted),
     * before its outcome is replayed — a replay's caller then reads the committed writes, as the owner's does.
     */
    private readonly applyCommitted: (log: LogDocument) => Promise<void> = async () => undefined,
  ) {}

  private async replayCommitted<T>(log: LogDocument, replay: (log: LogDocument) => T): Promise<T> {
    await this.applyCommitted(log);
    return replay(log);
  }

  /**
   * At most once per idempotency key and scope: the first caller runs `attempt`; any other gets
   * the first run's decided outcome — waiting for it while it runs, recovering it if its process
   * died, and running it again (once, whoever wins the reopening) when its failure decided nothing.
   */
  async runOnce<T>(
    options: Required<Pick<TransactionOptions, 'idempotencyKey'>> & Pick<TransactionOptions, 'idempotencyScope'>,
    print: string | null,
    replay: (log: LogDocument) => T,
    attempt: (reopened?: Reopened) => Promise<T>,
  ): Promise<T> {
    const txId = keyedIdOf(options);
    if (options.idempotencyScope !== undefined) await this.refuseUnscopedTwin(options.idempotencyKey);
    try {
      return await this.ownOrReplayed(txId, replay, attempt);
    } catch (err) {
      if (!(err instanceof TransactError && err.details?.duplicate === true)) throw err;
    }
    const deadline = Date.now() + this.ctx.options.leaseMs + this.ctx.options.clockSkewMs + this.ctx.options.lockTimeoutMs;
    for (let wait = this.ctx.options.lockPollMs; ; wait = Math.min(wait * 2, 500)) {
      const log = await this.ctx.store.getLog(txId);
      if (log === null) throw new TransactError('in_progress', `transaction ${txId} is being set up`);
      if (print !== null && log.fingerprint !== print) {
        throw new TransactError('idempotency_conflict', 'this idempotency key was used for different operations', { details: { transaction: txId } });
      }
      if (log.state === 'committed') return this.replayCommitted(log, replay);
      if (log.state === 'rolled-back') {
        if (isDecided(log)) throw replayedError(log);
        const reopened = await this.reopen(log);
        if (reopened !== null) return this.ownOrReplayed(txId, replay, () => attempt(reopened));
        continue; // another caller reopened it first: its run is the one to wait for
      }
      // Still running, or its process died: recovery settles it once its lease is over.
      await this.ctx.recovery.settle(log, false);
      if (Date.now() > deadline) throw new TransactError('in_progress', `transaction ${txId} with this idempotency key is still running`, { details: { transaction: txId } });
      await sleep(wait);
    }
  }

  /**
   * One attempt's answer. An attempt that lost the transaction to another owner before its commit
   * landed (CommitProtocol.runToCommit's rule: success only for a commit of its own attempt) may
   * answer with the key's outcome only once that outcome is decided, and only as a replay — what
   * every other caller of the key gets; undecided, it reports its own `lease_lost`.
   */
  private async ownOrReplayed<T>(txId: string, replay: (log: LogDocument) => T, attempt: () => Promise<T>): Promise<T> {
    try {
      return await attempt();
    } catch (err) {
      // A transient error past the retries (the key's log insert, say) reaches the caller typed: unavailable, which decides nothing.
      if (!isTransactError(err, 'lease_lost') || err.details?.takenOver !== true) throw unavailableIfTransient(err);
      const log = await this.ctx.store.getLog(txId);
      if (log?.state === 'committed') return this.replayCommitted(log, replay);
      if (log?.state === 'rolled-back' && isDecided(log)) throw replayedError(log);
      throw err;
    }
  }

  /**
   * A scoped key whose unscoped twin exists was used before keys had scopes (or by an unscoped
   * caller): whose it was is unknown, so neither replaying that outcome nor running again is
   * safe (a client's retry across the upgrade would run twice). Refused, naming nothing of it.
   */
  private async refuseUnscopedTwin(key: string): Promise<void> {
    if ((await this.ctx.store.getLog(keyedTransactionId(key))) === null) return;
    throw new TransactError('idempotency_conflict', 'this idempotency key was used without a scope (before keys were scoped to their caller): use a new key', { details: { unscoped: true } });
  }

  /**
   * After a native transaction failed with a transient error once its work was done, whether its
   * COMMIT landed anyway: its log row (written in that transaction) exists exactly when it did.
   * Throws outcome_unknown when even that cannot be read.
   */
  async committedNatively(txId: string, owner: string, err: unknown): Promise<boolean> {
    if (!isTransient(err)) return false;
    try {
      const log = await this.ctx.store.getLog(txId);
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
    const owner = ownerToken(this.ctx.options.instanceId);
    const epoch = log.epoch + 1;
    await this.ctx.store.insertLog({ ...log, id: `${log.id}.${log.epoch}`, idempotencyKey: null });
    const patch: LogPatch = { state: 'pending', owner, epoch, leaseUntil: this.ctx.clock.now() + this.ctx.options.leaseMs, steps: [], documents: [], error: null, endedAt: null, result: null, startedAt: Date.now() };
    return (await this.ctx.store.updateLog(log.id, { states: ['rolled-back'], owner: log.owner, epoch: log.epoch }, patch)) ? { owner, epoch } : null;
  }
}
