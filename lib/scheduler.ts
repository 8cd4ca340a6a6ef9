/**
 * The scheduler: periodic jobs with jitter, never overlapping with themselves in one instance,
 * stopped cleanly on `sails.lower()`. A job that works on items shared by several instances
 * (a payment, an order) claims each item with a lease in the datastore, so that one instance at a
 * time works on it. Recovery is one of its jobs; the app registers its own in config/transact.js.
 */
import { CLAIM_PREFIX } from './core/ids';
import type { AtomicStore } from './store';

export interface JobContext<App = unknown> {
  /** The app the job runs for (the Sails app that lifted the hook): jobs read nothing global. */
  readonly app: App;
  /** Claims an item for this instance for `leaseMs`; false if another instance holds it. */
  claim(item: string, leaseMs?: number): Promise<boolean>;
  /** Gives an item back before its lease ends. */
  release(item: string): Promise<void>;
  /** True once the scheduler is stopping: long jobs should return early. */
  readonly stopping: boolean;
}

export interface JobDefinition<App = unknown> {
  /** Every `intervalMs` (plus up to `jitterMs`, random), the job runs once. */
  intervalMs: number;
  jitterMs?: number;
  /** `false` registers the job but never runs it on its timer. */
  enabled?: boolean;
  /** The work; what it returns is kept as the run's summary. */
  run(context: JobContext<App>): Promise<unknown>;
}

export interface JobStatus {
  name: string;
  enabled: boolean;
  intervalMs: number;
  running: boolean;
  runs: number;
  failures: number;
  lastStartedAt: number | null;
  lastDurationMs: number | null;
  lastSummary: unknown;
  lastError: string | null;
  nextRunAt: number | null;
}

interface Job<App> extends JobStatus {
  definition: JobDefinition<App>;
  timer: NodeJS.Timeout | undefined;
  current: Promise<void> | undefined;
}

/** Job leases are not transactions: no fence, one epoch. */
const JOB_LEASE_EPOCH = 0;

export class Scheduler<App = unknown> {
  private readonly jobs = new Map<string, Job<App>>();
  private started = false;
  private stopped = false;

  constructor(
    private readonly store: AtomicStore,
    /** A unique owner for this instance's item leases. */
    private readonly owner: string,
    private readonly defaultLeaseMs: number,
    private readonly onError: (job: string, err: unknown) => void,
    /** Handed to every run in its context. */
    private readonly app: App,
  ) {}

  register(name: string, definition: JobDefinition<App>): void {
    if (this.jobs.has(name)) throw new Error(`sails-hook-transact: job "${name}" is registered twice`);
    const job: Job<App> = {
      name,
      definition,
      enabled: definition.enabled !== false,
      intervalMs: definition.intervalMs,
      running: false,
      runs: 0,
      failures: 0,
      lastStartedAt: null,
      lastDurationMs: null,
      lastSummary: null,
      lastError: null,
      nextRunAt: null,
      timer: undefined,
      current: undefined,
    };
    this.jobs.set(name, job);
    if (this.started) this.schedule(job);
  }

  start(): void {
    this.started = true;
    for (const job of this.jobs.values()) this.schedule(job);
  }

  /** Runs a job now (or joins the run in progress); resolves with its summary when it ends. */
  async runNow(name: string): Promise<unknown> {
    const job = this.jobs.get(name);
    if (job === undefined) throw new Error(`sails-hook-transact: no job "${name}"`);
    await this.execute(job);
    return job.lastSummary;
  }

  /** Stops every timer and waits for running jobs to finish: nothing is left running. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const job of this.jobs.values()) {
      if (job.timer !== undefined) clearTimeout(job.timer);
      job.timer = undefined;
      job.nextRunAt = null;
    }
    await Promise.all([...this.jobs.values()].map((job) => job.current));
  }

  status(): JobStatus[] {
    return [...this.jobs.values()].map(({ definition: _d, timer: _t, current: _c, ...status }) => ({ ...status }));
  }

  private schedule(job: Job<App>): void {
    if (!job.enabled || this.stopped || job.intervalMs <= 0) return;
    const delay = job.intervalMs + Math.floor(Math.random() * (job.definition.jitterMs ?? 0));
    job.nextRunAt = Date.now() + delay;
    job.timer = setTimeout(() => {
      job.timer = undefined;
      void this.execute(job).finally(() => this.schedule(job));
    }, delay);
    job.timer.unref();
  }

  /** Starts a run unless one is in progress, which is then joined: never two at once. */
  private execute(job: Job<App>): Promise<void> {
    if (job.current !== undefined) return job.current;
    const run = async (): Promise<void> => {
      job.running = true;
      job.lastStartedAt = Date.now();
      try {
        job.lastSummary = await job.definition.run(this.context());
        job.lastError = null;
      } catch (err) {
        job.failures++;
        job.lastError = err instanceof Error ? err.message : String(err);
        this.onError(job.name, err);
      } finally {
        job.runs++;
        job.running = false;
        job.lastDurationMs = Date.now() - (job.lastStartedAt ?? Date.now());
        job.current = undefined;
      }
    };
    job.current = run();
    return job.current;
  }

  /** A job's context for work done outside a run (e.g. an operator's "retry now"): the same claims. */
  context(): JobContext<App> {
    const stopped = (): boolean => this.stopped;
    return {
      app: this.app,
      get stopping() {
        return stopped();
      },
      claim: (item, leaseMs) => this.claim(item, leaseMs ?? this.defaultLeaseMs),
      release: (item) => this.store.deleteLocks(this.owner, JOB_LEASE_EPOCH, [CLAIM_PREFIX + item]),
    };
  }

  /** Inserts the item's lease record, or takes over one whose lease has ended. */
  private async claim(item: string, leaseMs: number): Promise<boolean> {
    const id = CLAIM_PREFIX + item;
    const lease = { id, owner: this.owner, leaseUntil: Date.now() + leaseMs, epoch: JOB_LEASE_EPOCH };
    if ((await this.store.insertLocks([lease])).has(id)) return true;
    const [holder] = await this.store.findLocks([id]);
    if (holder === undefined || holder.leaseUntil >= Date.now()) return false;
    // Over: remove exactly that expired lease (owner-guarded), then race for a fresh one.
    await this.store.deleteLocks(holder.owner, JOB_LEASE_EPOCH, [id]);
    return (await this.store.insertLocks([{ ...lease, leaseUntil: Date.now() + leaseMs }])).has(id);
  }
}
