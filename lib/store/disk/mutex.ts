/**
 * sails-disk's compare-and-set: NeDB lives in one process, so a read-check-write run while no
 * other touches the same rows is atomic. Runs on disjoint keys overlap (one's file append while
 * another computes); a run that must see one instant of everything (`exclusive`) waits for all.
 */
export class DiskMutex {
  /** Per key, the last run that holds it. */
  private readonly tails = new Map<string, Promise<unknown>>();
  /** Runs by key not finished yet: what an exclusive run waits for. */
  private readonly running = new Set<Promise<unknown>>();
  /** The last exclusive run: every later run waits for it. */
  private exclusiveTail: Promise<unknown> = Promise.resolve();

  /**
   * Runs `work` once no earlier run holds any of `keys`, nor an earlier exclusive one. Every key is
   * queued in the same tick, so two runs never wait on each other.
   */
  keyed<T>(keys: readonly string[], work: () => Promise<T>): Promise<T> {
    const held = [...new Set(keys)];
    const run = Promise.all([this.exclusiveTail, ...held.map((key) => this.tails.get(key))]).then(work, work);
    const settled = run.catch(() => undefined);
    for (const key of held) this.tails.set(key, settled);
    this.running.add(settled);
    void settled.then(() => {
      this.running.delete(settled);
      for (const key of held) if (this.tails.get(key) === settled) this.tails.delete(key);
    });
    return run;
  }

  /** Runs `work` alone: after every earlier run, before every later one. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = Promise.all([this.exclusiveTail, ...this.running]).then(work, work);
    const settled = run.catch(() => undefined);
    this.exclusiveTail = settled;
    return run;
  }
}
