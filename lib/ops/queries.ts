/**
 * What the ops page reads and the one thing it settles: lib/queries' listTransactions,
 * stuckTransactions and settleStuck (shared with the REST endpoints), bound to one engine so the
 * pages need not know the signatures' extra arguments.
 */
import type { Engine } from '../engine';
import { listTransactions, settleStuck, stuckTransactions, type ListOptions, type SettleNote, type SettleResult, type StuckPage, type TransactionPage, type TransactionQuery } from '../queries';

export type { StuckTransaction, TransactionPage, TransactionQuery, TransactionSummary } from '../queries';

export interface OpsQueries {
  list(query: TransactionQuery, options: ListOptions): Promise<TransactionPage>;
  stuck(page: { limit: number; skip: number }): Promise<StuckPage>;
  settle(txId: string, note: SettleNote): Promise<SettleResult>;
}

export function queriesFor(engine: Engine): OpsQueries {
  return {
    list: (query, options) => listTransactions(engine, query, options),
    stuck: (page) => stuckTransactions(engine, page),
    settle: (txId, note) => settleStuck(engine, txId, note),
  };
}
