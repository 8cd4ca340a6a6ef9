/** What every checker shares: its name, what it found, and what it is given at the end of a run. */
import type { SimWorld } from '../cluster';
import type { DbEvent, Doc } from '../database';
import type { Workload } from '../workload';

export interface Violation {
  checker: string;
  message: string;
  /** Documents (`model:id`) and transaction ids involved: the trace is filtered by them. */
  refs: string[];
  /** Virtual time it was seen at. */
  at: number;
}

/** What a run hands the checkers once it stopped: the world, the calls made, the initial data, whether recovery quiesced. */
export interface RunEnd {
  world: SimWorld;
  workload: Workload;
  /** `model:id` → the document as seeded, before any instance ran. */
  initial: ReadonlyMap<string, Doc>;
  /** Faults off, every instance up, recovery passes until nothing was active: reached within the bound. */
  quiesced: boolean;
  /** Total time each process spent paused, by process label (liveness allows for it). */
  pausedMs: ReadonlyMap<string, number>;
}

export abstract class Checker {
  abstract readonly name: string;
  readonly violations: Violation[] = [];

  constructor(protected readonly world: SimWorld) {}

  /** Sees every write the database accepts, as it is applied. */
  observe(_event: DbEvent): void {}

  /** Judges the run once it stopped. */
  finish(_end: RunEnd): void {}

  protected report(message: string, refs: readonly string[]): void {
    // One report per document or transaction is enough to explain a run (and keeps a runaway short).
    if (this.violations.length >= 10 || this.violations.some((v) => v.message === message || (refs.length > 0 && v.refs[0] === refs[0]))) return;
    this.violations.push({ checker: this.name, message, refs: [...refs], at: this.world.runtime.now });
  }
}
