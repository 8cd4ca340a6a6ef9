/**
 * The lease a transaction's owner holds on its log document. Recovery may claim a transaction
 * only after its lease ran out (on the server's clock), so a live owner keeps it fresh with a
 * heartbeat. The lease decides *when* recovery may step in; whether a write lands is decided by
 * the fence (transaction id and epoch), checked by the datastore with every write.
 */
import type { ServerClock } from './clock';
import { TransactError } from './errors';
import type { AtomicStore } from './store';
import type { Fence, LogGuard, LogPatch, TxState } from './types';

export class Lease {
  private until: number;
  private lost = false;
  private timer: NodeJS.Timeout | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: AtomicStore,
    readonly fence: Fence,
    readonly owner: string,
    private readonly leaseMs: number,
    private readonly clock: ServerClock,
    /** The state the transaction is in while this lease runs: pending for owners, rolling-back for compensators. */
    private readonly state: TxState = 'pending',
  ) {
    this.until = clock.now() + leaseMs;
  }

  get txId(): string {
    return this.fence.txId;
  }

  get leaseUntil(): number {
    return this.until;
  }

  /** Guards a write to the log on still holding it: same state, same owner. */
  get guard(): LogGuard {
    return { states: [this.state], owner: this.owner };
  }

  /** The next expiry to write along with a log update, which renews the lease for free. */
  renewal(): number {
    this.until = this.clock.now() + this.leaseMs;
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

  /** Renews the lease every third of its length while the work runs. */
  startHeartbeat(): void {
    const beat = async (): Promise<void> => {
      const next = this.clock.now() + this.leaseMs;
      try {
        const renewed = await this.writeLog(this.guard, { leaseUntil: next });
        if (renewed) this.until = next;
        else this.lost = true;
      } catch {
        // A failed heartbeat is retried at the next beat; the fence guards the writes meanwhile.
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

  get isLost(): boolean {
    return this.lost;
  }

  /**
   * Refuses to go on when the lease was taken over, or is within a tenth of its length of
   * running out. Only spares work that would be refused: the fence is what refuses it.
   */
  assertHeld(): void {
    if (this.lost || this.clock.now() > this.until - this.leaseMs / 10) {
      throw new TransactError('lease_lost', `transaction ${this.txId} lost its lease; recovery owns it now`, { details: { transaction: this.txId } });
    }
  }
}
