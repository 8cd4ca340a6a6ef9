/**
 * Document locks: one record per locked document, keyed `model:id`, inserted atomically by the
 * store, carrying the fence epoch its transaction writes at. A batch takes all its locks in one
 * sorted sweep, keeping only the prefix it got, so two batches never wait on each other in a
 * cycle; interactive transactions lock as they go and break any cycle with a timeout.
 *
 * Waiting is a queue, not a poll: in one process the waiters for a document line up (WaitQueues);
 * only the first one looks at the datastore, a release in this process hands the document to it
 * at once, and while the holder is in this process nobody polls at all. A holder in another
 * process is polled by the first waiter alone, with capped, jittered backoff.
 */
import type { ServerClock } from './clock';
import { TransactError } from '../core/errors';
import { newId } from '../core/ids';
import type { AtomicStore } from '../store';
import { type Place, WaitQueues } from './wait-queues';

export interface LockOptions {
  /** Lease written on each lock: after it, recovery may treat the lock as an orphan. */
  leaseMs: number;
  /** How long to wait for a held lock before giving up. */
  timeoutMs: number;
  /** First wait after a conflict with a holder in another process; doubles up to 16x, with full jitter. */
  pollMs: number;
}

/**
 * Called with the transaction id holding an expired lock, so recovery can settle it; true when it
 * was settled (the lock is worth trying again now), false when recovery must wait (the holder's
 * log still has its lease): the waiter then backs off as behind a live holder.
 */
export type ExpiredHolderHandler = (holderTxId: string) => Promise<boolean>;

export class Locks {
  private readonly queues = new WaitQueues();
  /** Which owner in this process holds each key, and the keys of each owner. */
  private readonly holderOf = new Map<string, string>();
  private readonly keysOf = new Map<string, Set<string>>();

  constructor(
    private readonly store: AtomicStore,
    private readonly clock: ServerClock,
    private readonly options: LockOptions,
    private readonly onExpiredHolder: ExpiredHolderHandler,
  ) {}

  /**
   * Locks every key for `owner` at fence `epoch`, in sorted order; keys must not be held by
   * `owner` already. On timeout it throws `lock_timeout`; locks already taken stay with the
   * owner, which releases them when it aborts.
   */
  async acquire(keys: Iterable<string>, owner: string, epoch: number, timeoutMs = this.options.timeoutMs): Promise<void> {
    let wanted = [...new Set(keys)].sort();
    const deadline = Date.now() + timeoutMs;
    let renewedAt = Date.now();
    let holding = false;
    // An unkeyed batch has no log while it waits: its held locks' leases are all that say it is
    // alive. (A keyed batch is logged before it waits: its heartbeat renews its log and locks.)
    const renew = async (): Promise<void> => {
      if (!holding || Date.now() - renewedAt <= this.options.leaseMs / 3) return;
      renewedAt = Date.now();
      await this.store.renewLocks(owner, epoch, this.clock.now() + this.options.leaseMs);
    };
    let place: Place | undefined;
    try {
      while (wanted.length > 0) {
        const leaseUntil = this.clock.now() + this.options.leaseMs;
        // This round's own identity: its give-back below must never free what a later round of
        // the same owner and epoch takes again, however late it is delivered (AtomicStore.deleteLocks).
        const grant = newId();
        const got = await this.store.insertLocks(wanted.map((id) => ({ id, owner, leaseUntil, epoch, grant })));
        for (const key of got) this.remember(owner, key);
        const firstMissing = wanted.findIndex((key) => !got.has(key));
        if (firstMissing === -1) return;
        // Keep only the sorted prefix: holding a lock past one we wait for is how cycles form.
        const beyond = wanted.slice(firstMissing).filter((key) => got.has(key));
        if (beyond.length > 0) {
          await this.store.deleteLocks(owner, epoch, beyond, grant);
          for (const key of beyond) this.forget(owner, key);
        }
        holding ||= firstMissing > 0;
        wanted = wanted.slice(firstMissing);
        if (place?.key !== wanted[0]) {
          place?.leave();
          place = this.queues.join(wanted[0]);
        }
        await this.waitTurn(place, deadline, renew);
      }
    } finally {
      place?.leave();
    }
  }

  /**
   * Releases every lock `owner` holds at `epoch` or below — the epoch the caller holds the
   * transaction at (AtomicStore.deleteLocks: a later holder's locks are never freed) — and hands
   * each document to the first waiter in this process.
   */
  async release(owner: string, epoch: number): Promise<void> {
    await this.store.deleteLocks(owner, epoch);
    this.abandon(owner);
  }

  /**
   * Releases the locks `owner` took here at `epoch` on documents outside `kept`, and forgets them
   * all (the kept ones belong to whoever owns the transaction now). A lock this process never
   * took for `owner` is not touched.
   */
  async releaseExcept(owner: string, epoch: number, kept: ReadonlySet<string>): Promise<void> {
    const ids = [...(this.keysOf.get(owner) ?? [])].filter((key) => !kept.has(key));
    if (ids.length > 0) await this.store.deleteLocks(owner, epoch, ids);
    this.abandon(owner);
  }

  /** Forgets what `owner` holds here (its locks are settled elsewhere), waking the waiters. */
  abandon(owner: string): void {
    for (const key of [...(this.keysOf.get(owner) ?? [])]) this.forget(owner, key);
  }

  private remember(owner: string, key: string): void {
    this.holderOf.set(key, owner);
    this.keysOf.set(owner, (this.keysOf.get(owner) ?? new Set()).add(key));
  }

  /** `owner` no longer holds `key`: the first waiter for it in this process looks again. */
  private forget(owner: string, key: string): void {
    if (this.holderOf.get(key) === owner) this.holderOf.delete(key);
    const keys = this.keysOf.get(owner);
    keys?.delete(key);
    if (keys?.size === 0) this.keysOf.delete(owner);
    this.queues.notify(key);
  }

  /** Returns when the document at `place` is worth trying again; throws `lock_timeout` past the deadline. */
  private async waitTurn(place: Place, deadline: number, renew: () => Promise<void>): Promise<void> {
    const slice = this.options.leaseMs / 3;
    const timeout = (heldBy: string | null): TransactError =>
      new TransactError('lock_timeout', `timed out waiting for the lock on ${place.key}`, { details: { document: place.key, heldBy } });
    // Behind earlier waiters of this process: no database traffic until it is our turn.
    while (!(await place.first(Math.min(slice, deadline - Date.now())))) {
      if (Date.now() >= deadline) throw timeout(this.holderOf.get(place.key) ?? null);
      await renew();
    }
    for (let attempt = 0; ; attempt++) {
      const remaining = deadline - Date.now();
      const localHolder = this.holderOf.get(place.key);
      if (localHolder !== undefined) {
        // Held in this process: its release wakes us.
        if (remaining <= 0) throw timeout(localHolder);
        if (await place.wake(Math.min(remaining, slice))) return;
        await renew();
        continue;
      }
      const [holder] = await this.store.findLocks([place.key]);
      if (holder === undefined) return;
      if (holder.leaseUntil < this.clock.now() && (await this.onExpiredHolder(holder.owner))) return;
      if (remaining <= 0) throw timeout(holder.owner);
      const backoff = Math.random() * this.options.pollMs * 2 ** Math.min(attempt, 4);
      const woken = await place.wake(Math.min(remaining, backoff));
      await renew();
      if (woken) return;
    }
  }
}
