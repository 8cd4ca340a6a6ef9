/**
 * What the ops page reads and the one thing it settles: lib/operator' listTransactions,
 * stuckTransactions, stateCounts, previewSettle and settleStuck / settleMany (shared with the
 * REST endpoints), bound to one engine so the pages need not know the signatures' extra arguments.
 */
import type { Engine } from '../engine';
import {
  type BulkSettleItem,
  listTransactions,
  type ListOptions,
  previewSettle,
  type SettleNote,
  type SettlePreview,
  type SettleResult,
  settleMany,
  settleStuck,
  stateCounts,
  type StateCounts,
  type StuckPage,
  stuckTransactions,
  type TransactionPage,
  type TransactionQuery,
} from '../operator';

export type { BulkSettleItem, ListCursor, SettleAction, SettlePreview, StateCounts, StuckTransaction, TransactionPage, TransactionQuery, TransactionSummary } from '../operator';
export { MAX_BULK_SETTLE, MIN_LABEL_SEARCH, summaryOf } from '../operator';

export interface OpsQueries {
  list(query: TransactionQuery, options: ListOptions): Promise<TransactionPage>;
  stuck(page: { limit: number; skip: number }): Promise<StuckPage>;
  counts(): Promise<StateCounts>;
  settle(txId: string, note: SettleNote): Promise<SettleResult>;
  /** The dry run of a bulk settle: writes nothing. */
  preview(ids: readonly string[]): Promise<SettlePreview[]>;
  settleMany(ids: readonly string[], note: SettleNote): Promise<BulkSettleItem[]>;
}

export function queriesFor(engine: Engine): OpsQueries {
  return {
    list: (query, options) => listTransactions(engine, query, options),
    stuck: (page) => stuckTransactions(engine, page),
    counts: () => stateCounts(engine),
    settle: (txId, note) => settleStuck(engine, txId, note),
    preview: (ids) => previewSettle(engine, ids),
    settleMany: (ids, note) => settleMany(engine, ids, note),
  };
}
