/**
 * The simulation's deterministic runtime: one seeded PRNG (forked per purpose), a virtual clock
 * and one event queue own every source of time and randomness the engine reads — `Date.now`, the
 * global timers, `node:timers/promises`' setTimeout, `Math.random` and `crypto.randomBytes`.
 *
 * Virtual time moves only when the scheduler takes the next event. Between two events the real
 * `setImmediate` lets every microtask the last event started run to its end, so the order in
 * which things happen is a function of the seed alone: same seed, same trace, byte for byte.
 *
 * Every timer and every store reply is attributed to the simulated process that caused it (an
 * AsyncLocalStorage context captured when it was scheduled, which follows awaits). A crashed
 * process's events are dropped forever; a paused one's are held and run, in their order, when it
 * resumes (as after SIGCONT); a process's clock can be moved (its `Date.now` is skewed).
 *
 * The globals are patched once, by `installRuntime()`, with dispatchers: outside a running
 * simulation they call the real functions (mocha keeps working), inside one the active runtime.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
// `import x = require()`: the module objects themselves (an `import * as` namespace is a getter-only copy).
import crypto = require('node:crypto');
import timersPromises = require('node:timers/promises');

/** A seeded stream of numbers in [0, 1) (mulberry32: small, fast, good enough for schedules). */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  /**
   * An independent stream for one purpose, derived from this one's seed and the label only: a
   * new purpose (a fault kind) never shifts the numbers another purpose draws.
   */
  static fork(seed: number, label: string): Prng {
    let h = (seed ^ 0x9e3779b9) >>> 0;
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
    return new Prng(h);
  }
}

/** One simulated process (an incarnation of an instance: a restart is a new SimProcess with the same name). */
export class SimProcess {
  alive = true;
  /** While paused, its events wait here, in the order they were due. */
  paused = false;
  held: SimEvent[] = [];
  /** How far its wall clock is from the true (virtual) time. */
  clockOffsetMs = 0;

  constructor(readonly name: string, readonly incarnation: number) {}

  get label(): string {
    return `${this.name}#${this.incarnation}`;
  }
}

/** What the code running now belongs to: a process, and the workload operation (if any) it serves. */
export interface SimContext {
  process: SimProcess | null;
  /** The workload operation being served (store calls are counted against it), or null (recovery, the world). */
  op: number | null;
}

interface SimEvent {
  time: number;
  seq: number;
  context: SimContext;
  run: () => void;
  cancelled: boolean;
}

/** A timer handle with what Node's Timeout offers and lib/ or its dependencies call. */
export class SimTimer {
  event: SimEvent | undefined;

  constructor(private readonly runtime: SimRuntime, readonly id: number, private readonly delay: number, private readonly repeat: boolean, private readonly fire: () => void) {}

  arm(): void {
    this.event = this.runtime.schedule(this.delay, () => {
      if (this.repeat) this.arm();
      else this.event = undefined;
      this.fire();
    });
  }

  cancel(): void {
    if (this.event !== undefined) this.event.cancelled = true;
    this.event = undefined;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  hasRef(): boolean {
    return true;
  }

  refresh(): this {
    this.cancel();
    this.arm();
    return this;
  }

  close(): this {
    this.cancel();
    return this;
  }

  [Symbol.toPrimitive](): number {
    return this.id;
  }
}

/** Min-heap of events by (time, seq): seq breaks ties in the order they were scheduled. */
class EventQueue {
  private readonly heap: SimEvent[] = [];

  get size(): number {
    return this.heap.length;
  }

  push(event: SimEvent): void {
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  pop(): SimEvent | undefined {
    const heap = this.heap;
    if (heap.length === 0) return undefined;
    const top = heap[0];
    const last = heap.pop() as SimEvent;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l], heap[m])) m = l;
        if (r < heap.length && before(heap[r], heap[m])) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m], heap[i]];
        i = m;
      }
    }
    return top;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

const real = {
  dateNow: Date.now,
  setTimeout: globalThis.setTimeout,
  setInterval: globalThis.setInterval,
  clearTimeout: globalThis.clearTimeout,
  clearInterval: globalThis.clearInterval,
  setImmediate: globalThis.setImmediate,
  clearImmediate: globalThis.clearImmediate,
  random: Math.random,
  randomBytes: crypto.randomBytes,
  sleep: timersPromises.setTimeout,
};

/** The real setImmediate: one turn of it runs every microtask already queued. */
export function realTurn(): Promise<void> {
  return new Promise((resolve) => real.setImmediate(resolve));
}

let active: SimRuntime | null = null;
let installed = false;

/**
 * One context store for every run of the process. Node propagates each live AsyncLocalStorage at
 * every promise it creates, so one per run made a process's runs slower and slower (500 seeds in
 * one process took 20 times what they take in fresh ones). Runs go one at a time; a context's
 * process belongs to the run that scheduled it.
 */
const contexts = new AsyncLocalStorage<SimContext>();

/** Where the simulation starts: virtual time is a fixed date, so ids and traces do not depend on when it runs. */
export const EPOCH_MS = Date.UTC(2030, 0, 1);

export class SimRuntime {
  private readonly queue = new EventQueue();
  private seq = 0;
  private timerIds = 0;
  /** True time, in virtual ms. */
  now = EPOCH_MS;
  readonly als = contexts;
  /** What Math.random draws inside this run (lib/protocol/locks.ts' jitter, async-retry's randomize, MongoStore's backoff). */
  private readonly random: Prng;
  /** What crypto.randomBytes returns inside this run (lib/core/ids.ts). */
  private readonly bytes: Prng;
  /** Errors thrown by an event's callback: a bug of the simulation or of lib/, reported by the run. */
  readonly thrown: unknown[] = [];
  events = 0;

  constructor(readonly seed: number) {
    this.random = Prng.fork(seed, 'math.random');
    this.bytes = Prng.fork(seed, 'crypto.randomBytes');
  }

  /** The context of the code running now. */
  get context(): SimContext {
    return this.als.getStore() ?? { process: null, op: null };
  }

  /** The current process's wall clock: true time plus its offset. */
  wallClock(): number {
    return this.now + (this.als.getStore()?.process?.clockOffsetMs ?? 0);
  }

  /** Runs `run` after `delayMs` of virtual time, in the context of the code scheduling it (or `context`). */
  schedule(delayMs: number, run: () => void, context: SimContext = this.context): SimEvent {
    const event: SimEvent = { time: this.now + Math.max(0, Number.isFinite(delayMs) ? delayMs : 0), seq: this.seq++, context, run, cancelled: false };
    this.queue.push(event);
    return event;
  }

  /** Runs `work` as the given process and operation (what a workload call or an instance's timer runs in). */
  within<T>(context: SimContext, work: () => T): T {
    return this.als.run(context, work);
  }

  timer(delayMs: number, repeat: boolean, fire: () => void): SimTimer {
    const timer = new SimTimer(this, ++this.timerIds, Math.max(repeat ? 1 : 0, Number(delayMs) || 0), repeat, fire);
    timer.arm();
    return timer;
  }

  sleep<T>(delayMs: number, value?: T, options?: { signal?: AbortSignal }): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      const timer = this.timer(Number(delayMs) || 0, false, () => resolve(value));
      options?.signal?.addEventListener('abort', () => {
        timer.cancel();
        reject(options.signal?.reason);
      });
    });
  }

  /** Resumes a paused process: its held events run now, in the order they were due. */
  resume(process: SimProcess): void {
    process.paused = false;
    const held = process.held;
    process.held = [];
    for (const event of held) {
      if (!event.cancelled) this.queue.push({ ...event, time: this.now, seq: this.seq++ });
    }
  }

  /**
   * Runs events until `done()` holds (checked between events), the queue is empty, or virtual
   * time passes `untilMs`. Each event runs alone, then every microtask it queued.
   */
  async run(done: () => boolean, untilMs: number): Promise<void> {
    const previous = active;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the global dispatchers reach the running simulation through this one slot
    active = this;
    try {
      await realTurn();
      while (!done()) {
        const event = this.queue.pop();
        if (event === undefined) break;
        if (event.cancelled) continue;
        if (event.time > untilMs) {
          this.queue.push(event);
          this.now = untilMs;
          break;
        }
        const process = event.context.process;
        if (process !== null && !process.alive) continue;
        if (process !== null && process.paused) {
          process.held.push(event);
          continue;
        }
        this.now = Math.max(this.now, event.time);
        this.events++;
        try {
          this.als.run(event.context, event.run);
        } catch (err) {
          this.thrown.push(err);
        }
        await realTurn();
      }
    } finally {
      active = previous;
    }
  }

  randomNumber(): number {
    return this.random.next();
  }

  randomBuffer(size: number): Buffer {
    const buffer = Buffer.alloc(size);
    for (let i = 0; i < size; i++) buffer[i] = Math.floor(this.bytes.next() * 256);
    return buffer;
  }
}

/** The runtime of the simulation running now (null outside one). */
export function activeRuntime(): SimRuntime | null {
  return active;
}

type TimerCallback = (...args: unknown[]) => void;

/**
 * Replaces the globals with dispatchers (once per process). Call before lib/ runs (the sim's
 * entry points import ./install first): lib/ reads each of them at call time — `Date.now()`,
 * `setTimeout`, `(0, promises_1.setTimeout)(…)`, `(0, crypto_1.randomBytes)(…)` — so patching the
 * module objects' properties reaches it.
 */
export function installRuntime(): void {
  if (installed) return;
  installed = true;
  const g = globalThis as unknown as Record<string, unknown>;
  Date.now = () => (active === null ? real.dateNow() : active.wallClock());
  Math.random = () => (active === null ? real.random() : active.randomNumber());
  g.setTimeout = (fn: TimerCallback, ms?: number, ...args: unknown[]) => (active === null ? real.setTimeout(fn, ms, ...args) : active.timer(ms ?? 0, false, () => fn(...args)));
  g.setInterval = (fn: TimerCallback, ms?: number, ...args: unknown[]) => (active === null ? real.setInterval(fn, ms, ...args) : active.timer(ms ?? 0, true, () => fn(...args)));
  g.setImmediate = (fn: TimerCallback, ...args: unknown[]) => (active === null ? real.setImmediate(fn, ...args) : active.timer(0, false, () => fn(...args)));
  const clear = (handle: unknown, realClear: (h: never) => void): void => {
    if (handle instanceof SimTimer) handle.cancel();
    else if (handle !== undefined && handle !== null) realClear(handle as never);
  };
  g.clearTimeout = (handle: unknown) => clear(handle, real.clearTimeout);
  g.clearInterval = (handle: unknown) => clear(handle, real.clearInterval);
  g.clearImmediate = (handle: unknown) => clear(handle, real.clearImmediate);
  const promises = timersPromises as unknown as Record<string, unknown>;
  promises.setTimeout = (ms?: number, value?: unknown, options?: { signal?: AbortSignal }) => (active === null ? real.sleep(ms, value, options) : active.sleep(ms ?? 0, value, options));
  const cryptoModule = crypto as unknown as Record<string, unknown>;
  cryptoModule.randomBytes = (size: number, callback?: (err: Error | null, buf: Buffer) => void) => {
    if (active === null) return callback === undefined ? real.randomBytes(size) : real.randomBytes(size, callback);
    const buffer = active.randomBuffer(size);
    if (callback !== undefined) active.timer(0, false, () => callback(null, buffer));
    return buffer;
  };
}
