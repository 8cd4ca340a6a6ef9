/** Committed reads: the engine's `reads` and the pure parts they are built from (the GET blueprint actions are in lib/http/read-actions.ts). */
export { CommittedReads, type ReadQuery, type SumCheckPage, type SumMismatch } from './reads';
export type { SumCheck } from '../query/sums';
export { comparator, matches, parseQuery, parseSort, parseWhere, type ParsedQuery, type SortClause, type Where } from '../query/criteria';
export { committedRows, heldImages, type StoreView } from '../query/view';
