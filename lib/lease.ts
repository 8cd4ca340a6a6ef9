/**
 * The lease a transaction's owner holds on its log document. Recovery may claim a transaction
 * only after its lease ran out, so a live owner keeps it fresh with a heartbeat, and refuses to
 * write once it can no longer be sure it still holds it.
 */
import { TransactError } from './errors';
import type { AtomicStore } from './store';
import type { LogGuard, LogPatch } from './types';

export class Lease {
  private until: number;
  private lost = false;
  private timer: NodeJS.Timeout | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: AtomicStore,
    private readonly txId: string,
    readonly owner: string,
    private readonly leaseMs: number,
    now: number,
  ) {
    this.until = now + leaseMs;
  }

  get leaseUntil(): number {
    return this.until;
  }

  /** The next expiry to write along with a log update, which renews the lease for free. */
  renewal(now = Date.now()): number {
    this.until = now + this.leaseMs;
    return this.until;
  }

  /**
   * Writes to this transaction's log, one at a time (heartbeats included). Some MongoDB-compatible
   * servers (FerretDB) apply an update as a read-modify-write of the whole document, so a
   * heartbeat racing a step or the commit could write back the older state.
   */
  writeLog(guard: LogGuard, patch: LogPatch): Promise<boolean> {
    const run = this.queue.then(
      () => this.store.updateLog(this.txId, guard, patch),
      () => this.store.updateLog(this.txId, guard, patch),
    );
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Renews the lease every third of its length while the transaction runs. */
  startHeartbeat(): void {
    const beat = async (): Promise<void> => {
      const next = Date.now() + this.leaseMs;
      try {
        const renewed = await this.writeLog({ states: ['pending'], owner: this.owner }, { leaseUntil: next });
        if (renewed) this.until = next;
        else this.lost = true;
      } catch {
        // A failed heartbeat is retried at the next beat; assertHeld() guards the writes meanwhile.
      }
    };
    this.timer = setInterval(() => void beat(), Math.max(1, Math.floor(this.leaseMs / 3)));
    this.timer.unref();
  }

  stopHeartbeat(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  markLost(): void {
    this.lost = true;
  }

  /**
   * Refuses to go on when the lease was taken over, or is within a tenth of its length of
   * running out: past that point recovery on another instance may already be compensating.
   */
  assertHeld(now = Date.now()): void {
    if (this.lost || now > this.until - this.leaseMs / 10) {
      throw new TransactError('lease_lost', `transaction ${this.txId} lost its lease; recovery owns it now`);
    }
  }
}
