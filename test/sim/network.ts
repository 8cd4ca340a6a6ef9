/**
 * The simulated network between the instances and the database: every store or driver call is a
 * request delivered to the database after a seeded latency and answered after another, and each
 * gets a seeded fate — normal, delayed (which reorders concurrent calls), stalled (delayed past a
 * lease), failed before it applies (the caller sees a network error), applied with its reply lost
 * (the caller sees a network error although it landed), or delivered twice (a driver's retry: the
 * operation is applied again, later). A multi-document request (MongoDB's updateMany, insertMany,
 * bulkWrite on log protocol v3's records) lands as one atomic step per document, others landing
 * between them, and can be cut part way: some of its steps applied, no reply (callSteps).
 *
 * The request, once sent, belongs to the database: it lands even if its sender crashed or paused.
 * The reply belongs to the sender: dropped if it crashed, held while it is paused.
 */
import type { Stepwise, Transport } from './database';
import { Prng, type SimContext, type SimRuntime } from './runtime';
import type { Trace } from './trace';

export type Fate = 'normal' | 'delayed' | 'stalled' | 'fail-before' | 'lost-reply' | 'duplicate' | 'cut';

/** What a delivery did: its answer or its error; cut: a multi-step request stopped part way (no answer). */
type Landed<T> = { failed: false; result: T; cut?: true } | { failed: true; error: unknown };

/** Probability of each fate other than normal, per call. */
export interface NetworkFaults {
  delayed: number;
  stalled: number;
  failBefore: number;
  lostReply: number;
  duplicate: number;
  /** Of the multi-step requests (Transport.callSteps), those cut part way: see SimNetwork.callSteps. */
  cut: number;
}

export const NO_FAULTS: NetworkFaults = { delayed: 0, stalled: 0, failBefore: 0, lostReply: 0, duplicate: 0, cut: 0 };

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
  /** Multi-step requests' own draws (their cuts, their gaps): see callSteps. */
  private readonly steps: Prng;
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
    this.steps = Prng.fork(seed, 'network-steps');
  }

  call<T>(label: string, refs: readonly string[], apply: () => T): Promise<T> {
    return this.send(label, refs, (_first, landed) => {
      try {
        landed({ failed: false, result: apply() }, '');
      } catch (err) {
        landed({ failed: true, error: err }, '');
      }
    });
  }

  /**
   * A request applied as several atomic steps (Transport.callSteps): the same fates as `call`, and
   * between two steps a gap of 0–2 ms in which other requests land. Its first delivery may also be
   * cut (fate `cut`, rate `faults.cut`): the server stops after k of its n steps (0 ≤ k < n: the
   * connection or the primary lost mid-request), the k stay applied, and the caller sees no reply.
   * Its own numbers come from a stream of their own, so that the runs that send no such request
   * (the v2 flavours, the generic stores) draw exactly what they drew before it existed.
   */
  callSteps<T>(label: string, refs: readonly string[], plan: () => Stepwise<T>): Promise<T> {
    return this.send(label, refs, (first, landed) => {
      let planned: Stepwise<T>;
      try {
        planned = plan();
      } catch (err) {
        landed({ failed: true, error: err }, '');
        return;
      }
      const { steps, result } = planned;
      // Every delivery draws the same two numbers, cut or not (shrinking changes that call alone).
      const x = this.steps.next();
      const where = this.steps.next();
      let cutAfter = -1;
      let note = steps.length > 1 ? ` [${steps.length} steps]` : '';
      if (first && steps.length > 0 && x < this.faults.cut) {
        const index = this.drawnFaults++;
        if (!this.suppressed.has(index)) {
          cutAfter = Math.floor(where * steps.length);
          this.injected.set('cut', (this.injected.get('cut') ?? 0) + 1);
          note = ` [cut #${index} after ${cutAfter} of ${steps.length} steps]`;
        }
      }
      let done = 0;
      const next = (): void => {
        if (done === cutAfter) {
          landed({ failed: false, result: undefined as T, cut: true }, note);
          return;
        }
        if (done < steps.length) {
          try {
            steps[done++]();
          } catch (err) {
            landed({ failed: true, error: err }, `${note} [stopped at step ${done} of ${steps.length}]`);
            return;
          }
          if (done < steps.length) {
            this.runtime.schedule(this.steps.int(0, 2), next, WORLD);
            return;
          }
        }
        try {
          landed({ failed: false, result: result() }, note);
        } catch (err) {
          landed({ failed: true, error: err }, note);
        }
      };
      next();
    });
  }

  /** One request: its fate drawn now, delivered after its latency (`deliver` tells `landed` what it did), answered after another. */
  private send<T>(label: string, refs: readonly string[], deliver: (first: boolean, landed: (outcome: Landed<T>, note: string) => void) => void): Promise<T> {
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
        deliver(true, (outcome, note) => {
          trace.add(runtime.now, who, `${label}${tag}${note} -> ${outcome.failed ? `error ${describe(outcome.error)}` : outcome.cut === true ? 'cut: no reply' : summary(outcome.result)}`, refs);
          if (fate === 'duplicate') {
            runtime.schedule(again, () => {
              deliver(false, (second, secondNote) => {
                trace.add(runtime.now, who, `${label} [delivered again #${index}]${secondNote} -> ${second.failed ? `error ${describe(second.error)}` : summary(second.result)}`, refs);
              });
            }, WORLD);
          }
          runtime.schedule(back, () => {
            if (fate === 'lost-reply' || (!outcome.failed && outcome.cut === true)) reject(this.errors.noReply(label));
            else if (outcome.failed) reject(outcome.error);
            else resolve(outcome.result);
          }, caller);
        });
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
