/**
 * The transaction log as a listing: newest first, filtered, paginated on the server. Shared by
 * the REST endpoint (GET <prefix>/transaction), the demo's admin page and the ops page. No HTTP
 * here: callers validate their input and shape their answer.
 */
import type { Engine, LogReadOptions } from '../engine';
import { ACTIVE_STATES, type LogDocument, type TxError, type TxMode, type TxState } from '../core/types';

/** A position in the newest-first order: a page by key starts right after (or before) it, at an index seek, whatever its depth. */
export interface ListCursor {
  startedAt: number;
  id: string;
}

export interface TransactionQuery {
  state?: TxState;
  /** Transactions that touched a document of this model. */
  model?: string;
  /** Label contains this text, whatever the case (its characters taken literally: `%` and `_` too). */
  label?: string;
  /** Exactly this idempotency key (as the engine stores it, e.g. `http:<key>` for the REST API's). */
  idempotencyKey?: string;
  /** Keys of exactly this scope (null: unscoped keys only); any scope when absent. */
  idempotencyScope?: string | null;
  /** startedAt >= from (epoch ms). */
  from?: number;
  /** startedAt < to (epoch ms). */
  to?: number;
  /** Transactions whose `documents` hold exactly this `model:id` key (committed ones by the store's index, in-flight ones among the few active logs). */
  document?: string;
  /** Keyset paging: the page of logs older than this one (`skip` then counts from it). */
  before?: ListCursor;
  /** Keyset paging: the page of logs newer than this one, the nearest first, returned newest first. */
  after?: ListCursor;
  limit: number;
  skip: number;
}

/** A log document without its bulky parts (steps, before/after images, result). */
export interface TransactionSummary {
  id: string;
  state: TxState;
  mode: TxMode;
  label: string | null;
  idempotencyKey: string | null;
  idempotencyScope: string | null;
  startedAt: number;
  endedAt: number | null;
  documents: string[];
  reverses: string | null;
  reversedBy: string | null;
  reason: string | null;
  error: TxError | null;
}

export interface TransactionPage {
  items: TransactionSummary[];
  limit: number;
  skip: number;
  /** With a model filter: how many logs were scanned to find the page. */
  scanned?: number;
  /** With `count: true` and no model filter: how many logs match. */
  total?: number;
}

export interface ListOptions {
  /** Also count every match (one more query); ignored with a model filter. */
  count?: boolean;
  /**
   * With `count`: count only when at most this many matches follow `skip` (a probe at skip + cap
   * in the page's own index order tells), so the count reads no more than the page could; `total`
   * is exact when given, left out otherwise. Without it every match is counted (the whole log).
   */
  countCap?: number;
  /** With a model filter, scan at most this many logs (the filter runs here, not in the datastore). */
  maxScan?: number;
}

/**
 * The shortest label search the HTTP edges (the ops page, the REST listing) accept: PostgreSQL's
 * trigram index answers `ILIKE '%x%'` from three characters on; a shorter text makes no trigram,
 * and the index would be read whole (6 s at 1M logs, measured) — or the log, without it.
 */
export const MIN_LABEL_SEARCH = 3;

/** How many logs one scan step reads when filtering by model. */
const SCAN_PAGE = 200;

/** The summary fields, in one place (the ops page and the REST API show the same). */
export const SUMMARY_FIELDS = ['id', 'state', 'mode', 'label', 'idempotencyKey', 'idempotencyScope', 'startedAt', 'endedAt', 'documents', 'reverses', 'reversedBy', 'reason', 'error'] as const satisfies readonly (keyof TransactionSummary)[];

export function summaryOf(log: LogDocument): TransactionSummary {
  return {
    id: log.id,
    state: log.state,
    mode: log.mode,
    label: log.label,
    idempotencyKey: log.idempotencyKey,
    idempotencyScope: log.idempotencyScope,
    startedAt: log.startedAt,
    endedAt: log.endedAt,
    documents: Array.isArray(log.documents) ? log.documents : [],
    reverses: log.reverses,
    reversedBy: log.reversedBy,
    reason: log.reason,
    error: log.error,
  };
}

/**
 * `startedAt, id` strictly beyond the cursor in the page's direction. The plain range on
 * startedAt comes first so that PostgreSQL seeks the (startedAt, id) index to it; the `or`
 * only separates the logs of the cursor's own millisecond.
 */
function keysetOf(cursor: ListCursor, older: boolean): Record<string, unknown>[] {
  const [inclusive, strict] = older ? ['<=', '<'] : ['>=', '>'];
  return [{ startedAt: { [inclusive]: cursor.startedAt } }, { or: [{ startedAt: { [strict]: cursor.startedAt } }, { id: { [strict]: cursor.id } }] }];
}

function whereOf(query: TransactionQuery, withCursor = true): Record<string, unknown> {
  const where: Record<string, unknown> = {};
  if (query.state !== undefined) where.state = query.state;
  if (query.label !== undefined) where.label = { contains: query.label };
  if (query.idempotencyKey !== undefined) where.idempotencyKey = query.idempotencyKey;
  if (query.idempotencyScope !== undefined) where.idempotencyScope = query.idempotencyScope;
  if (query.from !== undefined || query.to !== undefined) {
    const range: Record<string, number> = {};
    if (query.from !== undefined) range['>='] = query.from;
    if (query.to !== undefined) range['<'] = query.to;
    where.startedAt = range;
  }
  const cursor = withCursor ? (query.before ?? query.after) : undefined;
  if (cursor !== undefined) return { and: [where, ...keysetOf(cursor, query.before !== undefined)] };
  return where;
}

/**
 * How the store reads a query's logs: a label search ignores case on every adapter (on
 * PostgreSQL an `ILIKE` the log's trigram index answers: lib/models/hook-models.ts, lib/store/postgres/store.ts).
 */
function readOf(query: TransactionQuery): LogReadOptions | undefined {
  return query.label === undefined ? undefined : { ignoreCase: true };
}

/** Newest first: startedAt, then id, so pages are stable when two logs start in the same ms. */
const NEWEST_FIRST: Record<string, 'ASC' | 'DESC'>[] = [{ startedAt: 'DESC' }, { id: 'DESC' }];
const OLDEST_FIRST: Record<string, 'ASC' | 'DESC'>[] = [{ startedAt: 'ASC' }, { id: 'ASC' }];

/** The order a page is read in: an `after` page reads toward the newer logs, nearest first. */
function orderOf(query: TransactionQuery): Record<string, 'ASC' | 'DESC'>[] {
  return (query.after !== undefined && query.before === undefined ? OLDEST_FIRST : NEWEST_FIRST).map((clause) => ({ ...clause }));
}

/**
 * Every match (the cursor left out), when at most `cap` of them follow the page's start (one
 * probe at that offset from the cursor, in the page's own order, says so; the count then covers
 * no more rows than the page could reach); undefined otherwise.
 */
async function countUpTo(engine: Pick<Engine, 'findLogs' | 'countLogs'>, query: TransactionQuery, cap: number): Promise<number | undefined> {
  const beyond = await engine.findLogs({ where: whereOf(query), sort: orderOf(query), skip: query.skip + cap, limit: 1 }, readOf(query));
  return beyond.length > 0 ? undefined : engine.countLogs(whereOf(query, false), readOf(query));
}

/** The newest-first order's key compared: negative when `a` started before `b`. */
function byStart(a: ListCursor, b: ListCursor): number {
  return a.startedAt - b.startedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Whether a log passes the query's filters (for logs found another way than by `whereOf`: by document). */
function matches(log: LogDocument, query: TransactionQuery): boolean {
  if (query.state !== undefined && log.state !== query.state) return false;
  if (query.label !== undefined && !(log.label ?? '').toLowerCase().includes(query.label.toLowerCase())) return false;
  if (query.idempotencyKey !== undefined && log.idempotencyKey !== query.idempotencyKey) return false;
  if (query.idempotencyScope !== undefined && log.idempotencyScope !== query.idempotencyScope) return false;
  if (query.from !== undefined && log.startedAt < query.from) return false;
  if (query.to !== undefined && log.startedAt >= query.to) return false;
  if (query.model !== undefined && !log.documents.some((key) => key.startsWith(`${query.model}:`))) return false;
  if (query.before !== undefined && byStart(log, query.before) >= 0) return false;
  if (query.before === undefined && query.after !== undefined && byStart(log, query.after) <= 0) return false;
  return true;
}

/** Active logs read at most when searching by document (in flight: few). */
const ACTIVE_SCAN = 2_000;

/**
 * The logs that touched one document: the committed ones through the store's index on
 * `documents` (GIN on PostgreSQL, multikey on MongoDB), the in-flight ones among the active logs
 * (a bounded scan). Rolled-back logs are not found this way: the store indexes a document's
 * committed history only, and a rolled-back transaction left nothing on the document.
 */
async function byDocument(engine: Pick<Engine, 'findLogs' | 'store'>, query: TransactionQuery & { document: string }): Promise<TransactionPage> {
  const committed = await engine.store.findCommittedTouching(query.document);
  const active = await engine.findLogs({ where: { state: [...ACTIVE_STATES] }, sort: OLDEST_FIRST.map((clause) => ({ ...clause })), limit: ACTIVE_SCAN });
  const uncursored: TransactionQuery = { ...query, before: undefined, after: undefined };
  const candidates = [...committed, ...active.filter((log) => log.documents.includes(query.document))].filter((log) => matches(log, uncursored));
  const found = candidates.filter((log) => matches(log, query));
  const older = query.after === undefined || query.before !== undefined;
  found.sort((a, b) => (older ? -1 : 1) * byStart(a, b));
  const page = found.slice(query.skip, query.skip + query.limit);
  return { items: (older ? page : page.reverse()).map(summaryOf), limit: query.limit, skip: query.skip, total: candidates.length };
}

/**
 * A page of the log. The model filter runs here, over pages of the log: the log's `documents`
 * holds `model:id` strings and sails-disk cannot query inside arrays; at most `maxScan` logs are
 * read for one page.
 */
export async function listTransactions(engine: Pick<Engine, 'findLogs' | 'countLogs'> & Partial<Pick<Engine, 'store'>>, query: TransactionQuery, options: ListOptions = {}): Promise<TransactionPage> {
  const { limit, skip } = query;
  const where = whereOf(query);
  if (query.document !== undefined) {
    if (engine.store === undefined) throw new Error('listTransactions: a document search needs the engine’s store');
    return byDocument({ findLogs: engine.findLogs.bind(engine), store: engine.store }, { ...query, document: query.document });
  }
  const newerPage = query.after !== undefined && query.before === undefined;
  if (query.model === undefined) {
    // Its own copy of the criteria: Waterline normalizes them in place (`contains` becomes `like`).
    const counting = options.count !== true ? Promise.resolve(undefined) : options.countCap === undefined ? engine.countLogs(whereOf(query, false), readOf(query)) : countUpTo(engine, query, options.countCap);
    const [logs, total] = await Promise.all([engine.findLogs({ where, sort: orderOf(query), skip, limit }, readOf(query)), counting]);
    if (newerPage) logs.reverse();
    return { items: logs.map(summaryOf), limit, skip, ...(total === undefined ? {} : { total }) };
  }
  const maxScan = options.maxScan ?? 1_000_000;
  const prefix = `${query.model}:`;
  const found: LogDocument[] = [];
  let scanned = 0;
  while (found.length < skip + limit && scanned < maxScan) {
    const page = await engine.findLogs({ where: whereOf(query), sort: orderOf(query), skip: scanned, limit: SCAN_PAGE }, readOf(query));
    scanned += page.length;
    for (const log of page) if (log.documents.some((key) => key.startsWith(prefix))) found.push(log);
    if (page.length < SCAN_PAGE) break;
  }
  const items = found.slice(skip, skip + limit);
  if (newerPage) items.reverse();
  return { items: items.map(summaryOf), limit, skip, scanned };
}
