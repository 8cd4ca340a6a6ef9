/**
 * Document locks: one record per locked document, keyed `model:id`, inserted atomically by the
 * store. A batch takes all its locks in one sorted sweep, keeping only the prefix it got, so
 * two batches never wait on each other in a cycle; interactive transactions lock as they go and
 * break any cycle with a timeout.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { TransactError } from './errors';
import type { AtomicStore } from './store';

export interface LockOptions {
  /** Lease written on each lock: after it, recovery may treat the lock as an orphan. */
  leaseMs: number;
  /** How long to wait for a held lock before giving up. */
  timeoutMs: number;
  /** First wait after a conflict; doubles up to 16x, with full jitter. */
  pollMs: number;
}

/** Called with the transaction id holding an expired lock, so recovery can settle it. */
export type ExpiredHolderHandler = (holderTxId: string) => Promise<void>;

export class Locks {
  constructor(
    private readonly store: AtomicStore,
    private readonly options: LockOptions,
    private readonly onExpiredHolder: ExpiredHolderHandler,
  ) {}

  /**
   * Locks every key for `owner`, in sorted order; keys must not be held by `owner` already.
   * On timeout it throws `lock_timeout`; locks already taken stay with the owner, which
   * releases them when it aborts.
   */
  async acquire(keys: Iterable<string>, owner: string, timeoutMs = this.options.timeoutMs): Promise<void> {
    let wanted = [...new Set(keys)].sort();
    const deadline = Date.now() + timeoutMs;
    let renewedAt = Date.now();
    let holding = false;
    for (let attempt = 0; wanted.length > 0; attempt++) {
      const leaseUntil = Date.now() + this.options.leaseMs;
      const got = await this.store.insertLocks(wanted.map((id) => ({ id, owner, leaseUntil })));
      const firstMissing = wanted.findIndex((key) => !got.has(key));
      if (firstMissing === -1) return;
      // Keep only the sorted prefix: holding a lock past one we wait for is how cycles form.
      const beyond = wanted.slice(firstMissing).filter((key) => got.has(key));
      if (beyond.length > 0) await this.store.deleteLocks(owner, beyond);
      holding ||= firstMissing > 0;
      wanted = wanted.slice(firstMissing);
      // A batch has no log while it waits: its held locks' leases are all that say it is alive.
      if (holding && Date.now() - renewedAt > this.options.leaseMs / 3) {
        renewedAt = Date.now();
        await this.store.renewLocks(owner, renewedAt + this.options.leaseMs);
      }
      await this.waitFor(wanted[0], deadline, attempt);
    }
  }

  async release(owner: string): Promise<void> {
    await this.store.deleteLocks(owner);
  }

  private async waitFor(key: string, deadline: number, attempt: number): Promise<void> {
    const [holder] = await this.store.findLocks([key]);
    if (holder !== undefined && holder.leaseUntil < Date.now()) await this.onExpiredHolder(holder.owner);
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw new TransactError('lock_timeout', `timed out waiting for the lock on ${key}`, {
        details: { document: key, heldBy: holder?.owner ?? null },
      });
    }
    const ceiling = this.options.pollMs * 2 ** Math.min(attempt, 4);
    await sleep(Math.min(remaining, Math.random() * ceiling));
  }
}
