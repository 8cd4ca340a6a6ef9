/**
 * A heartbeat's rhythm, for every lease a transaction keeps alive (log protocol v2's log and locks,
 * v3's records and keyed log): `beat` runs one at a time, the next a period after the last one
 * began — at once when that one took longer than a period. Not a timer at a fixed rate: on a
 * datastore slower than the period those beats pile up behind each other, and a renewal dated
 * when it was queued lands staler than the last (Lease.startHeartbeat says what that did). Beats
 * every third of the lease, so that two may be lost before it ends. The timer is unref'd: a beat
 * never keeps a process alive.
 */
export interface Beats {
  /** No beat starts after this; one running finishes. */
  stop(): void;
}

/** Beats every `periodMs` until stopped, or until `done()` says so after a beat. */
export function beatEvery(periodMs: number, beat: () => Promise<void>, done: () => boolean = () => false): Beats {
  const state = { stopped: false, wake: (): void => undefined };
  void (async () => {
    let startedAt = Date.now();
    while (!state.stopped && !done()) {
      const wait = Math.max(0, periodMs - (Date.now() - startedAt));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        timer.unref();
        state.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (state.stopped) return;
      startedAt = Date.now();
      await beat();
    }
  })();
  return {
    stop: () => {
      state.stopped = true;
      state.wake();
    },
  };
}

/** A third of the lease: two beats may be lost before it runs out. */
export function beatPeriod(leaseMs: number): number {
  return Math.max(1, Math.floor(leaseMs / 3));
}
