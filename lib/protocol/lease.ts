/**
 * The lease a transaction's owner holds on its log document. Recovery may claim a transaction
 * only after its lease ran out (on the server's clock), so a live owner keeps it fresh with a
 * heartbeat. The lease decides *when* recovery may step in; whether a write lands is decided by
 * the fence (transaction id and epoch), checked by the datastore with every write.
 */
import { beatEvery, type Beats, beatPeriod } from './beats';
import type { ServerClock } from './clock';
import { TransactError } from '../core/errors';
import { touchedDocuments } from '../core/log-document';
import type { AtomicStore } from '../store';
import type { Fence, LogDocument, LogGuard, LogPatch, Step, TxState } from '../core/types';

export class Lease {
  private until: number;
  private lost = false;
  /** The running heartbeat, if any: stopped is read by its loop, wake ends its wait at once. */
  private beating: Beats | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * The log document, while it is not inserted yet: an interactive transaction logs at its first
   * write (a refusal before any write leaves no log at all). Until then its locks are all that
   * say it is alive; the heartbeat renews them, and a waiter that finds them expired tombstones
   * the id (recovery's orphan_locks), which makes the late insert fail: the transaction is lost.
   */
  private unlogged: LogDocument | null = null;
  /** Set while the deferred log's insert is unanswered; stays set when it failed (its outcome unknown). */
  private insertUnanswered = false;

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

  /** Logs lazily: `log` is inserted by the first writeLog (with its patch applied), not now. */
  deferLog(log: LogDocument): void {
    this.unlogged = log;
  }

  /** Whether the log document exists (always, unless deferred and not written yet). */
  get logged(): boolean {
    return this.unlogged === null;
  }

  /** Whether the deferred log's insert failed without an answer: it may exist, with its first step. */
  get logUnknown(): boolean {
    return this.unlogged !== null && this.insertUnanswered;
  }

  /** Guards a write to the log on still holding it: same state, same owner. */
  get guard(): LogGuard {
    return { states: [this.state], owner: this.owner };
  }

  /**
   * Appends steps to the log, renewing the lease: `steps` is the whole list, of which the log holds
   * the first `held` now. The protocol's rule for step appends: each is guarded by the count it
   * extends (LogGuard.stepCount) besides the lease, so they land in order only. Under the lease
   * guard alone a delayed duplicate of an older append (a request still in flight, a driver's
   * re-send) lands after a newer one and sets the shorter list back: recovery then leaves the
   * dropped steps' writes in place, and a commit makes the log lie about what it changed.
   */
  writeSteps(steps: readonly Step[], held: number): Promise<boolean> {
    return this.writeLog({ ...this.guard, stepCount: held }, { steps: [...steps], documents: touchedDocuments(steps), leaseUntil: this.renewal() });
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
    return this.writeLogAsSent(guard, () => patch);
  }

  /** writeLog, its patch made when its turn comes (a renewal dated when it is sent, not when it was queued). */
  private writeLogAsSent(guard: LogGuard, patchOf: () => LogPatch): Promise<boolean> {
    const write = async (): Promise<boolean> => {
      const patch = patchOf();
      const deferred = this.unlogged;
      if (deferred === null) return this.store.updateLog(this.txId, guard, patch);
      if (guard.states !== undefined && !guard.states.includes(deferred.state)) return false;
      // The first write inserts the log; an id already taken means recovery declared the locks orphaned.
      this.insertUnanswered = true;
      const inserted = await this.store.insertLog({ ...deferred, ...patch } as LogDocument);
      this.insertUnanswered = false;
      if (inserted) this.unlogged = null;
      else this.lost = true;
      return inserted;
    };
    const run = this.queue.then(write, write);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Renews the lease every third of its length while the work runs: the log's, and its locks'.
   * A lock's lease says its holder is alive to whoever waits for it in another instance: one
   * that ran out sends the waiter to recovery, so a live holder's locks must never run out, or
   * every waiter behind a long transaction would be sent to recovery (which answers 'wait') on
   * every poll. Orphan detection stays what it was: a lock runs out only once its holder stops
   * beating, and then its log (if any) runs out with it.
   *
   * One beat at a time, each renewal dated when it is sent: on a datastore slower than a third of
   * the lease, beats on a timer piled up behind each other in the log's write queue, each one
   * dated when it was queued, so every renewal landed staler than the last and the lease ran out
   * (locally, and in the log) under an owner that was alive and beating.
   */
  startHeartbeat(): void {
    if (this.beating !== undefined) return;
    const period = beatPeriod(this.leaseMs);
    const beat = async (): Promise<void> => {
      try {
        if (this.unlogged !== null) {
          // No log yet: the locks' leases are what recovery judges (as for a batch waiting for its locks).
          const next = this.clock.now() + this.leaseMs;
          await this.store.renewLocks(this.txId, this.fence.epoch, next);
          this.until = Math.max(this.until, next);
          return;
        }
        let next = 0;
        const [renewed] = await Promise.all([
          this.writeLogAsSent(this.guard, () => ({ leaseUntil: (next = this.clock.now() + this.leaseMs) })),
          // Beside the log's renewal, not after it: one round trip a beat. A lock the owner no
          // longer holds is at a later epoch, and renewing it only helps its new holder.
          this.store.renewLocks(this.txId, this.fence.epoch, this.clock.now() + this.leaseMs),
        ]);
        if (renewed) this.until = Math.max(this.until, next);
        else this.lost = true;
      } catch {
        // A failed heartbeat is retried at the next beat; the fence guards the writes meanwhile.
      }
    };
    this.beating = beatEvery(period, beat, () => this.lost);
  }

  stopHeartbeat(): void {
    this.beating?.stop();
    this.beating = undefined;
  }

  markLost(): void {
    this.lost = true;
  }

  get isLost(): boolean {
    return this.lost;
  }

  /**
   * Refuses to go on only once another owner took the transaction over (a heartbeat, or a log
   * write, found the log moved on): what recovery checks between its writes. Its own estimate of
   * the time must not stop it: on a slow datastore a recoverer that gave its claim up on that
   * estimate was claimed again by the next pass, which undid from the last step again, and so on
   * (a transaction whose first step was never undone). Another recoverer's claim raises the
   * epoch, which refuses every later write of this one: that, not the clock, is what stops it.
   */
  assertOwned(): void {
    if (this.lost) throw new TransactError('lease_lost', `transaction ${this.txId} was taken over by another owner`, { details: { transaction: this.txId } });
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
