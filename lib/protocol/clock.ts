/**
 * The one clock leases are written and judged by: the datastore server's. Each instance
 * estimates its offset from the server (the midpoint of one round trip), refreshes it now and
 * then, and reads the time as its own clock plus that offset. Two instances whose wall clocks
 * disagree by minutes still agree on when a lease ends, to within their estimates' error: half a
 * round trip each, plus whatever their clocks drift between two refreshes.
 *
 * Safety never rests on this clock: every document write is fenced. A wrong clock can only make
 * recovery take over a live owner too early (which then loses its transaction, cleanly) or late.
 */
export type TimeSource = () => Promise<number>;

export class ServerClock {
  private offset = 0;
  private syncedAt = Number.NEGATIVE_INFINITY;
  private syncing: Promise<void> | undefined;

  constructor(
    private readonly server: TimeSource,
    private readonly refreshMs: number,
    private readonly local: () => number = () => Date.now(),
  ) {}

  /** Measures the offset now (also the first time, before any lease is written). */
  sync(): Promise<void> {
    this.syncing ??= (async () => {
      try {
        const sent = this.local();
        const serverTime = await this.server();
        const received = this.local();
        this.offset = serverTime - (sent + received) / 2;
        this.syncedAt = received;
      } finally {
        this.syncing = undefined;
      }
    })();
    return this.syncing;
  }

  /** The server's time as this instance estimates it; refreshes the estimate in the background when it is old. */
  now(): number {
    const local = this.local();
    if (local - this.syncedAt > this.refreshMs && this.syncing === undefined) this.sync().catch(() => undefined);
    return local + this.offset;
  }

  /** How far this instance's own clock is from the server's (for health pages and tests). */
  get offsetMs(): number {
    return this.offset;
  }
}
