/** Committed reads: the engine's `reads`, the pure parts they are built from, and the GET blueprint actions. */
export { CommittedReads, type ReadQuery } from './reads';
export { comparator, matches, parseQuery, parseSort, parseWhere, type ParsedQuery, type SortClause, type Where } from './criteria';
export { committedRows, heldImages, type StoreView } from './view';
export { findAction, findOneAction, type EngineGetter } from './blueprint-actions';
