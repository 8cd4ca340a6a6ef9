/**
 * After-commit and after-rollback hooks: what an interactive transaction's callback registers on
 * its handle (`tx.afterCommit(fn)`, `tx.afterRollback(fn)`, and the same on Waterline's `db`) to
 * run once its outcome is known. One runner for every commit path (the log protocol, log protocol
 * v3, PostgreSQL's native path): the engine calls it around the whole run (InteractiveTransactions),
 * never from inside a path, so "when" is decided once.
 *
 * In-process and not durable, on purpose: a hook is a closure, which no log can hold. A process
 * that dies after the commit point and before its hooks ran never runs them (recovery does not
 * know them): at most once per process, never after a crash. What must happen surely belongs in
 * the transaction itself (a document a job works off), not in a hook.
 */
import { TransactError } from '../core/errors';

export type AfterCommit = () => unknown;
export type AfterRollback = (err: unknown) => unknown;
export type HookKind = 'afterCommit' | 'afterRollback';

/** A hook that threw or rejected: reported (logged, counted), never the transaction's error. */
export interface HookFailure {
  kind: HookKind;
  txId: string;
  /** Its place among the hooks of its kind, from 0, in registration order. */
  index: number;
  error: unknown;
}

export type HookFailureReport = (failure: HookFailure) => void;

/** The hooks one run of a callback registered, in registration order. */
export class OutcomeHooks {
  readonly onCommit: AfterCommit[] = [];
  readonly onRollback: AfterRollback[] = [];

  add(kind: HookKind, fn: unknown): void {
    // Refused at registration, where the caller's stack still says who passed it.
    if (typeof fn !== 'function') throw new TransactError('validation_failed', `${kind} takes a function`, { path: kind });
    if (kind === 'afterCommit') this.onCommit.push(fn as AfterCommit);
    else this.onRollback.push(fn as AfterRollback);
  }
}

/**
 * Which run of a callback is the caller's own, and how it ended. Hooks run only for an outcome
 * this run decided and the caller is told: never for a keyed replay (that outcome is an earlier
 * run's, whose hooks ran, or not, where it ran), never for a run that `retry` started again (its
 * hooks are dropped with it: the next run registers its own).
 */
export class CallerRun {
  private hooks: OutcomeHooks | undefined;
  private txId = '';
  private ended: { committed: true } | { failed: unknown } | undefined;

  /** `work` as each run of it starts: that run's handle carries the hooks that count from now. */
  track<H extends { readonly id: string; readonly hooks: OutcomeHooks }, T>(work: (tx: H) => Promise<T>): (tx: H) => Promise<T> {
    return (tx) => {
      this.hooks = tx.hooks;
      this.txId = tx.id;
      return work(tx);
    };
  }

  /**
   * One attempt of the run (a path's whole lifecycle, commit included): what it returns or throws
   * is this run's own outcome. Anything else the caller gets (runOnce's replay) is not.
   */
  async own<T>(attempt: () => Promise<T>): Promise<T> {
    this.hooks = undefined;
    this.ended = undefined;
    try {
      const value = await attempt();
      this.ended = { committed: true };
      return value;
    } catch (err) {
      this.ended = { failed: err };
      throw err;
    }
  }

  /** The hooks to run now that the caller succeeded: this run's afterCommit ones, if it committed itself. */
  committed(): { txId: string; hooks: AfterCommit[] } {
    const own = this.ended !== undefined && 'committed' in this.ended;
    return { txId: this.txId, hooks: own ? this.hooks?.onCommit ?? [] : [] };
  }

  /**
   * The hooks to run now that the caller failed with `err`: this run's afterRollback ones, if it
   * failed itself and the failure decided that it never commits. outcome_unknown decides nothing
   * (the commit may have landed; recovery and outcome(id) tell later): neither kind runs.
   */
  rolledBack(err: unknown): { txId: string; hooks: AfterRollback[] } {
    const failed = this.ended !== undefined && 'failed' in this.ended ? this.ended.failed : undefined;
    const unknown = isOutcomeUnknown(err) || isOutcomeUnknown(failed);
    return { txId: this.txId, hooks: failed !== undefined && !unknown ? this.hooks?.onRollback ?? [] : [] };
  }
}

function isOutcomeUnknown(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'outcome_unknown';
}

/**
 * The one runner: `settled` is the whole run (retries and replays included); once it is over,
 * the hooks its outcome calls for run one after another, in registration order, each awaited,
 * before the caller gets the outcome. One that throws is reported and the next runs.
 */
export async function withOutcomeHooks<T>(run: CallerRun, settled: Promise<T>, report: HookFailureReport): Promise<T> {
  let value: T;
  try {
    value = await settled;
  } catch (err) {
    const { txId, hooks } = run.rolledBack(err);
    await runInOrder('afterRollback', txId, hooks, err, report);
    throw err;
  }
  const { txId, hooks } = run.committed();
  await runInOrder('afterCommit', txId, hooks, undefined, report);
  return value;
}

async function runInOrder(kind: HookKind, txId: string, hooks: readonly ((err: unknown) => unknown)[], err: unknown, report: HookFailureReport): Promise<void> {
  for (const [index, hook] of hooks.entries()) {
    try {
      await hook(err);
    } catch (error) {
      try {
        report({ kind, txId, index, error });
      } catch {
        // A reporter that throws must not turn a hook's failure into the transaction's.
      }
    }
  }
}
