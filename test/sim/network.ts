/**
 * The simulated network between the instances and the database: every store or driver call is a
 * request delivered to the database after a seeded latency and answered after another, and each
 * gets a seeded fate — normal, delayed (which reorders concurrent calls), stalled (delayed past a
 * lease), failed before it applies (the caller sees a network error), applied with its reply lost
 * (the caller sees a network error although it landed), or delivered twice (a driver's retry: the
 * operation is applied again, later).
 *
 * The request, once sent, belongs to the database: it lands even if its sender crashed or paused.
 * The reply belongs to the sender: dropped if it crashed, held while it is paused.
 */
import type { Transport } from './database';
import { Prng, type SimContext, type SimRuntime } from './runtime';
import type { Trace } from './trace';

export type Fate = 'normal' | 'delayed' | 'stalled' | 'fail-before' | 'lost-reply' | 'duplicate';

/** Probability of each fate other than normal, per call. */
export interface NetworkFaults {
  delayed: number;
  stalled: number;
  failBefore: number;
  lostReply: number;
  duplicate: number;
}

export const NO_FAULTS: NetworkFaults = { delayed: 0, stalled: 0, failBefore: 0, lostReply: 0, duplicate: 0 };

/** The errors the caller's driver raises (MongoDB's network errors, or a socket's for the generic store). */
export interface NetworkErrors {
  /** The request never reached the server. */
  notSent(label: string): Error;
  /** The request was sent; no reply came (it may have landed). */
  noReply(label: string): Error;
}

const WORLD: SimContext = { process: null, op: null };

export class SimNetwork implements Transport {
  private readonly prng: Prng;
  faults: NetworkFaults = NO_FAULTS;
  /** Faults injected so far, by fate. */
  readonly injected = new Map<Fate, number>();
  /** Store calls per workload operation, per virtual second: `op` → second → count. */
  readonly callsByOp = new Map<number, Map<number, number>>();
  /** Network faults drawn so far (each numbered in draw order, suppressed ones included). */
  drawnFaults = 0;
  /** Numbers of the faults to turn into normal calls (a failing run being shrunk). */
  suppressed: ReadonlySet<number> = new Set();
  /** How long the stalls last (set from the cluster's lease: past it). */
  stallMs: [number, number] = [1_000, 3_000];

  constructor(private readonly runtime: SimRuntime, private readonly trace: Trace, seed: number, private readonly errors: NetworkErrors) {
    this.prng = Prng.fork(seed, 'network');
  }

  call<T>(label: string, refs: readonly string[], apply: () => T): Promise<T> {
    const { runtime, trace } = this;
    const caller = runtime.context;
    const who = caller.process?.label ?? 'world';
    // Every call draws the same numbers, whatever its fate: suppressing one fault (to shrink a
    // failing run) changes that call alone, not the draws of the calls after it.
    const drawn = this.fate();
    const index = drawn === 'normal' ? -1 : this.drawnFaults++;
    const fate = index !== -1 && this.suppressed.has(index) ? 'normal' : drawn;
    const out = this.latency(fate);
    const again = this.prng.int(5, 400);
    const back = this.prng.int(1, 4);
    if (fate !== 'normal') this.injected.set(fate, (this.injected.get(fate) ?? 0) + 1);
    if (caller.op !== null) this.count(caller.op);
    const tag = fate === 'normal' ? '' : ` [${fate} #${index}]`;
    return new Promise<T>((resolve, reject) => {
      runtime.schedule(out, () => {
        if (fate === 'fail-before') {
          trace.add(runtime.now, who, `${label} NOT SENT #${index}`, refs);
          runtime.schedule(0, () => reject(this.errors.notSent(label)), caller);
          return;
        }
        let result: T | undefined;
        let error: unknown;
        let failed = false;
        try {
          result = apply();
        } catch (err) {
          failed = true;
          error = err;
        }
        trace.add(runtime.now, who, `${label}${tag} -> ${failed ? `error ${describe(error)}` : summary(result)}`, refs);
        if (fate === 'duplicate') {
          runtime.schedule(again, () => {
            let secondResult: string;
            try {
              secondResult = summary(apply());
            } catch (err) {
              secondResult = `error ${describe(err)}`;
            }
            trace.add(runtime.now, who, `${label} [delivered again #${index}] -> ${secondResult}`, refs);
          }, WORLD);
        }
        runtime.schedule(back, () => {
          if (fate === 'lost-reply') reject(this.errors.noReply(label));
          else if (failed) reject(error);
          else resolve(result as T);
        }, caller);
      }, WORLD);
    });
  }

  private fate(): Fate {
    const f = this.faults;
    const x = this.prng.next();
    let edge = f.failBefore;
    if (x < edge) return 'fail-before';
    if (x < (edge += f.lostReply)) return 'lost-reply';
    if (x < (edge += f.duplicate)) return 'duplicate';
    if (x < (edge += f.stalled)) return 'stalled';
    if (x < (edge += f.delayed)) return 'delayed';
    return 'normal';
  }

  private latency(fate: Fate): number {
    if (fate === 'stalled') return this.prng.int(this.stallMs[0], this.stallMs[1]);
    if (fate === 'delayed') return this.prng.int(5, 300);
    return this.prng.int(1, 4);
  }

  private count(op: number): void {
    const second = Math.floor(this.runtime.now / 1000);
    const bySecond = this.callsByOp.get(op) ?? new Map<number, number>();
    bySecond.set(second, (bySecond.get(second) ?? 0) + 1);
    this.callsByOp.set(op, bySecond);
  }
}

function describe(err: unknown): string {
  const e = err as { name?: unknown; code?: unknown; message?: unknown };
  return `${String(e.name ?? 'Error')}${e.code === undefined ? '' : `(${String(e.code)})`}`;
}

function summary(result: unknown): string {
  if (result === undefined) return 'ok';
  if (result instanceof Set) return `{${[...result].join(',')}}`;
  if (Array.isArray(result)) return `${result.length} rows`;
  if (typeof result === 'object' && result !== null) {
    const r = result as Record<string, unknown>;
    if ('matchedCount' in r) return `matched ${String(r.matchedCount)}`;
    if ('deletedCount' in r) return `deleted ${String(r.deletedCount)}`;
    return 'ok';
  }
  return String(result);
}
