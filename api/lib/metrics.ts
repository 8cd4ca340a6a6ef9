/**
 * Prometheus metrics of the fund app (prom-client), in a Registry of its own per app (never the
 * global one: tests lift several apps in one process). Values are read at scrape time from the
 * hook (`stats()`, the scheduler's `status()`) and the dropped-orders job's counters; the job's
 * run durations are a histogram its scheduler entry (api/lib/jobs.ts) feeds.
 */
import { Counter, Gauge, Histogram, Registry, type LabelValues } from 'prom-client';
import { appState, type FundApp, transactOf } from './app';
import { countersOf } from './dropped-orders';

interface AppMetrics {
  registry: Registry;
  runs: Histogram;
}

/** A counter whose value is read at scrape time from a running total (or one per label set). */
function readCounter(registry: Registry, name: string, help: string, read: () => number | [LabelValues<string>, number][], labelNames: string[] = []): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      const value = read();
      if (Array.isArray(value)) for (const [labels, v] of value) this.inc(labels, v);
      else this.inc(value);
    },
  });
}

function build(app: FundApp): AppMetrics {
  const registry = new Registry();
  const stats = () => transactOf(app).stats();
  const jobs = () => transactOf(app).scheduler?.status() ?? [];
  const dropped = () => countersOf(app);

  readCounter(registry, 'transact_transactions_committed_total', 'Transactions committed by this instance', () => stats().committed);
  readCounter(registry, 'transact_transactions_rolled_back_total', 'Transactions rolled back by this instance', () => stats().rolledBack);
  readCounter(registry, 'transact_transactions_recovered_total', "Transactions of dead owners settled by this instance's recovery", () => stats().recovered);
  readCounter(registry, 'transact_recovery_attention_total', "Times this instance's recovery could not settle a transaction and marked it for attention", () => stats().attention);
  readCounter(registry, 'transact_transient_retries_total', 'Datastore calls retried after a transient error', () => stats().transientRetries);
  readCounter(registry, 'transact_hook_failures_total', 'afterCommit / afterRollback hooks that threw (the transactions stood)', () => stats().hookFailures);
  readCounter(registry, 'transact_transaction_retries_total', 'Runs of a transaction started again by its retry option', () => stats().transactionRetries);

  readCounter(registry, 'fund_dropped_orders_found_total', 'Dropped orders found (pending payments, orders awaiting payment or paid)', () => dropped().found);
  readCounter(registry, 'fund_dropped_orders_repaired_total', 'Dropped payments credited (and allocated) after asking the gateway', () => dropped().repaired);
  readCounter(registry, 'fund_dropped_orders_cancelled_total', 'Dropped payments cancelled (failed or expired at the gateway)', () => dropped().cancelled);
  readCounter(registry, 'fund_dropped_orders_allocated_total', 'Paid orders allocated by the job', () => dropped().allocated);
  readCounter(registry, 'fund_dropped_orders_escalated_total', 'Dropped orders marked needs_attention', () => dropped().escalated);
  readCounter(registry, 'fund_dropped_orders_errors_total', 'Items the job could not work (tried again next run)', () => dropped().errors);
  readCounter(registry, 'fund_gateway_requests_total', 'Status queries sent to the payment gateway', () => dropped().gatewayCalls);
  readCounter(registry, 'fund_gateway_request_failures_total', 'Status queries to the payment gateway that failed', () => dropped().gatewayFailures);

  readCounter(registry, 'transact_job_runs_total', 'Runs of each scheduler job', () => jobs().map((job) => [{ job: job.name }, job.runs]), ['job']);
  readCounter(registry, 'transact_job_failures_total', 'Runs of each scheduler job that threw', () => jobs().map((job) => [{ job: job.name }, job.failures]), ['job']);
  new Gauge({
    name: 'transact_job_last_duration_seconds',
    help: 'Duration of the last run of each scheduler job',
    labelNames: ['job'],
    registers: [registry],
    collect() {
      this.reset();
      for (const job of jobs()) if (job.lastDurationMs !== null) this.set({ job: job.name }, job.lastDurationMs / 1000);
    },
  });
  const runs = new Histogram({
    name: 'fund_dropped_orders_run_duration_seconds',
    help: "Duration of the dropped-orders job's runs",
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
    registers: [registry],
  });
  return { registry, runs };
}

function metricsOf(app: FundApp): AppMetrics {
  return appState(app, 'metrics', () => build(app));
}

/** Records the duration of one dropped-orders run. */
export function observeRun(app: FundApp, seconds: number): void {
  metricsOf(app).runs.observe(seconds);
}

/** The exposition text and its content type. */
export async function render(app: FundApp): Promise<{ contentType: string; body: string }> {
  const { registry } = metricsOf(app);
  return { contentType: registry.contentType, body: await registry.metrics() };
}
