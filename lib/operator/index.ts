/**
 * The read side of the log (and the one operator action on it), as plain functions over the
 * engine: the REST endpoints (lib/http), the demo's admin page and the ops page all use these.
 */
export { listTransactions, MIN_LABEL_SEARCH, summaryOf, SUMMARY_FIELDS, type ListCursor, type ListOptions, type TransactionPage, type TransactionQuery, type TransactionSummary } from './transactions';
export { MAX_BULK_SETTLE, previewOf, previewSettle, settleMany, settleStuck, stuckTransactions, type BulkSettleItem, type SettleAction, type SettleNote, type SettlePreview, type SettleResult, type StuckPage, type StuckTransaction } from './stuck';
export { ATTENTION_SCAN, stateCounts, type StateCounts } from './overview';
export { healthOf, type TransactHealth } from './health';
