/**
 * In-process lines of waiters, one per document key: a waiter joins the line, waits until it is
 * first, and the first one alone is woken when the document is released in this process. Pure
 * bookkeeping over promises and timers; it never touches a datastore.
 */

export class WaitQueues {
  private readonly lines = new Map<string, Place[]>();

  join(key: string): Place {
    const line = this.lines.get(key) ?? [];
    const place = new Place(key, () => this.leave(key, place));
    line.push(place);
    this.lines.set(key, line);
    if (line.length === 1) place.becomeFirst(false);
    return place;
  }

  /** The document was released in this process: the first waiter tries it now. */
  notify(key: string): void {
    this.lines.get(key)?.[0]?.notify();
  }

  /** How many wait in this process for `key` (for tests and metrics). */
  waiting(key: string): number {
    return this.lines.get(key)?.length ?? 0;
  }

  private leave(key: string, place: Place): void {
    const line = this.lines.get(key);
    if (line === undefined) return;
    const index = line.indexOf(place);
    if (index === -1) return;
    line.splice(index, 1);
    if (line.length === 0) this.lines.delete(key);
    else if (index === 0) line[0].becomeFirst();
  }
}

export class Place {
  private isFirst = false;
  private notified = false;
  private onFirst: (() => void) | undefined;
  private onWake: (() => void) | undefined;

  constructor(readonly key: string, readonly leave: () => void) {}

  /**
   * Called by the line; wakes a wait for the turn.
   * @param lookAgain the one before us released or gave up: whatever we saw is stale
   */
  becomeFirst(lookAgain = true): void {
    this.isFirst = true;
    this.notified ||= lookAgain;
    this.onFirst?.();
  }

  notify(): void {
    this.notified = true;
    this.onWake?.();
  }

  /**
   * Resolves true once first in line, false after `ms` (the caller then renews what it holds and
   * calls again, or gives up past its deadline).
   */
  first(ms: number): Promise<boolean> {
    if (this.isFirst) return Promise.resolve(true);
    return this.waitUntil(ms, (resolve) => (this.onFirst = resolve), () => (this.onFirst = undefined)).then(() => this.isFirst);
  }

  /** Resolves true when woken by a release (or one that came since the last wait), false after `ms`. */
  wake(ms: number): Promise<boolean> {
    if (this.notified) {
      this.notified = false;
      return Promise.resolve(true);
    }
    return this.waitUntil(ms, (resolve) => (this.onWake = resolve), () => (this.onWake = undefined)).then(() => {
      const woken = this.notified;
      this.notified = false;
      return woken;
    });
  }

  private waitUntil(ms: number, arm: (resolve: () => void) => void, disarm: () => void): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        disarm();
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      arm(done);
    });
  }
}
