/**
 * Bounded re-runs of a transaction (`options.retry`): a run that failed with an error that
 * decided nothing — it surely never committed (lib/core/validation.ts RETRYABLE_CODES) — is started again
 * after a jittered exponential pause, until it succeeds, fails otherwise, runs `attempts` times
 * or would overrun `budgetMs`; the caller then gets the last run's error. Not lib/store/retrying.ts: that
 * retries one datastore call on a transient error; this runs a whole transaction again.
 *
 * outcome_unknown is never run again (validation refuses it in `on`, and this checks anyway): its
 * commit may have landed, and a second run would apply it twice. A keyed transaction runs again
 * under its key, so what its key promises (at most once) holds across the runs.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isTransactError } from '../core/errors';
import type { RetryableCode, TransactionOptions, TransactionRetry } from '../core/validation';

/** The ceiling of the first pause, and of every pause: full jitter under an exponential ceiling. */
const FIRST_PAUSE_MS = 20;
const MAX_PAUSE_MS = 1_000;
/** What a retry runs again on when `on` is not given: the one failure contention makes. */
const DEFAULT_ON: readonly RetryableCode[] = ['lock_timeout'];

/** Where re-runs are counted (TransactionStats.transactionRetries). */
export interface RerunCounter {
  transactionRetries: number;
}

/**
 * Runs `attempt` once, or — with `options.retry` — again on the failures it names, within its
 * bounds. Each run gets the options it runs with: `retry` left out, and the lock wait cut to
 * what the budget has left, so that a run waiting on a lock cannot outlast the budget.
 */
export async function withReruns<T>(options: TransactionOptions, defaultLockTimeoutMs: number, counter: RerunCounter, attempt: (options: TransactionOptions) => Promise<T>, random: () => number = Math.random): Promise<T> {
  const { retry, ...once } = options;
  if (retry === undefined) return attempt(once);
  const deadline = retry.budgetMs === undefined ? Infinity : Date.now() + retry.budgetMs;
  for (let run = 1; ; run++) {
    try {
      return await attempt(withinBudget(once, deadline, defaultLockTimeoutMs));
    } catch (err) {
      if (run >= retry.attempts || !runsAgainOn(err, retry)) throw err;
      const pause = pauseBefore(run + 1, random);
      // A pause that would end past the budget leaves no time for a run: the last error stands.
      if (Date.now() + pause >= deadline) throw err;
      await sleep(pause);
      counter.transactionRetries++;
    }
  }
}

/** Whether `err` decided nothing and is one the caller asked to run again on. */
function runsAgainOn(err: unknown, retry: TransactionRetry): boolean {
  if (!isTransactError(err) || err.code === 'outcome_unknown') return false;
  return (retry.on ?? DEFAULT_ON).includes(err.code as RetryableCode);
}

/** Full jitter: anywhere from 0 to the ceiling, which doubles each run (so contenders spread out). */
function pauseBefore(run: number, random: () => number): number {
  const ceiling = Math.min(MAX_PAUSE_MS, FIRST_PAUSE_MS * 2 ** (run - 2));
  return Math.floor(random() * ceiling);
}

/** The run's options, its lock wait no longer than the budget's rest (at least 1 ms: 0 means "no timeout" to PostgreSQL). */
function withinBudget(options: TransactionOptions, deadline: number, defaultLockTimeoutMs: number): TransactionOptions {
  if (deadline === Infinity) return options;
  const left = Math.max(1, deadline - Date.now());
  return { ...options, lockTimeoutMs: Math.min(options.lockTimeoutMs ?? defaultLockTimeoutMs, left) };
}
