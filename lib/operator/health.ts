/**
 * The hook's health, for an app's health endpoint: can the log's datastore be reached, how many
 * transactions are stuck past their lease, and this instance's counters. Counts only: nothing
 * secret, nothing personal.
 */
import type { Engine } from '../engine';
import type { TransactionStats } from '../protocol/recovery';

export interface TransactHealth {
  /** 'degraded' when the log's datastore did not answer. */
  status: 'ok' | 'degraded';
  datastore: { adapter: Engine['store']['kind']; status: 'ok' | 'unreachable' };
  recovery: {
    /** Pending or rolling back past their lease (and the clock-skew allowance); null when unreachable. */
    stuckTransactions: number | null;
    /** Datastore calls this instance retried after a transient error. */
    transientRetries: number;
  };
  /** This instance's transactions since it started. */
  transactions: TransactionStats;
}

/** One count of the stuck ones (an index range on state, leaseUntil); a failure of it is the datastore's. */
export async function healthOf(engine: Engine): Promise<TransactHealth> {
  let stuck: number | null;
  try {
    stuck = await engine.countLogs({ state: ['pending', 'rolling-back'], leaseUntil: { '<': engine.clock.now() - engine.options.clockSkewMs } });
  } catch {
    stuck = null;
  }
  const reachable = stuck !== null;
  return {
    status: reachable ? 'ok' : 'degraded',
    datastore: { adapter: engine.store.kind, status: reachable ? 'ok' : 'unreachable' },
    recovery: { stuckTransactions: stuck, transientRetries: engine.retries.retried },
    transactions: { ...engine.stats },
  };
}
