/** What happened in a run, in order, with virtual times: hashed to prove determinism, filtered to explain a failure. */
import { createHash } from 'node:crypto';
import { EPOCH_MS } from './runtime';

export interface TraceEntry {
  /** Virtual time, ms since the simulation's epoch. */
  t: number;
  who: string;
  text: string;
  /** The documents (`model:id`) and transaction ids the entry is about. */
  refs: readonly string[];
}

export class Trace {
  readonly entries: TraceEntry[] = [];

  add(now: number, who: string, text: string, refs: readonly string[] = []): void {
    this.entries.push({ t: now - EPOCH_MS, who, text, refs });
  }

  hash(): string {
    const hash = createHash('sha256');
    for (const entry of this.entries) hash.update(`${format(entry)}\n`);
    return hash.digest('hex');
  }

  /**
   * The entries about any of `refs` (a reference matches when one contains the other: a
   * transaction id matches the lock `model:id` it names, an archived attempt `<id>.<epoch>` its id),
   * and every fault: the shortest trace that still explains what the checkers saw.
   */
  about(refs: readonly string[]): TraceEntry[] {
    const wanted = refs.filter((ref) => ref !== '');
    return this.entries.filter((entry) => entry.who === 'fault' || entry.refs.some((ref) => wanted.some((w) => ref.includes(w) || w.includes(ref))));
  }
}

export function format(entry: TraceEntry): string {
  return `${(entry.t / 1000).toFixed(3).padStart(9)}s ${entry.who.padEnd(10)} ${entry.text}`;
}
