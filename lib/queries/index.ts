/**
 * The read side of the log (and the one operator action on it), as plain functions over the
 * engine: the REST endpoints (lib/http), the demo's admin page and the ops page all use these.
 */
export { listTransactions, summaryOf, SUMMARY_FIELDS, type ListOptions, type TransactionPage, type TransactionQuery, type TransactionSummary } from './transactions';
export { settleStuck, stuckTransactions, type SettleNote, type SettleResult, type StuckPage, type StuckTransaction } from './stuck';
export { healthOf, type TransactHealth } from './health';
