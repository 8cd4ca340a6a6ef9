/**
 * The transaction log as a listing: newest first, filtered, paginated on the server. Shared by
 * the REST endpoint (GET <prefix>/transaction), the demo's admin page and the ops page. No HTTP
 * here: callers validate their input and shape their answer.
 */
import type { Engine } from '../engine';
import type { LogDocument, TxError, TxMode, TxState } from '../types';

export interface TransactionQuery {
  state?: TxState;
  /** Transactions that touched a document of this model. */
  model?: string;
  /** Label contains this text. */
  label?: string;
  /** Exactly this idempotency key (as the engine stores it, e.g. `http:<key>` for the REST API's). */
  idempotencyKey?: string;
  /** Keys of exactly this scope (null: unscoped keys only); any scope when absent. */
  idempotencyScope?: string | null;
  /** startedAt >= from (epoch ms). */
  from?: number;
  /** startedAt < to (epoch ms). */
  to?: number;
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

function whereOf(query: TransactionQuery): Record<string, unknown> {
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
  return where;
}

/** Newest first: startedAt, then id, so pages are stable when two logs start in the same ms. */
const NEWEST_FIRST: Record<string, 'ASC' | 'DESC'>[] = [{ startedAt: 'DESC' }, { id: 'DESC' }];

/**
 * Every match, when there are at most `skip + cap` of them (one probe at that offset in the page's
 * own order says so, then the count covers no more rows than that); undefined otherwise.
 */
async function countUpTo(engine: Pick<Engine, 'findLogs' | 'countLogs'>, where: () => Record<string, unknown>, skip: number, cap: number): Promise<number | undefined> {
  const beyond = await engine.findLogs({ where: where(), sort: NEWEST_FIRST.map((clause) => ({ ...clause })), skip: skip + cap, limit: 1 });
  return beyond.length > 0 ? undefined : engine.countLogs(where());
}

/**
 * A page of the log. The model filter runs here, over pages of the log: the log's `documents`
 * holds `model:id` strings and sails-disk cannot query inside arrays; at most `maxScan` logs are
 * read for one page.
 */
export async function listTransactions(engine: Pick<Engine, 'findLogs' | 'countLogs'>, query: TransactionQuery, options: ListOptions = {}): Promise<TransactionPage> {
  const { limit, skip } = query;
  const where = whereOf(query);
  if (query.model === undefined) {
    // Its own copy of the criteria: Waterline normalizes them in place (`contains` becomes `like`).
    const counting = options.count !== true ? Promise.resolve(undefined) : options.countCap === undefined ? engine.countLogs(whereOf(query)) : countUpTo(engine, () => whereOf(query), skip, options.countCap);
    const [logs, total] = await Promise.all([engine.findLogs({ where, sort: NEWEST_FIRST, skip, limit }), counting]);
    return { items: logs.map(summaryOf), limit, skip, ...(total === undefined ? {} : { total }) };
  }
  const maxScan = options.maxScan ?? 1_000_000;
  const prefix = `${query.model}:`;
  const matches: LogDocument[] = [];
  let scanned = 0;
  while (matches.length < skip + limit && scanned < maxScan) {
    const page = await engine.findLogs({ where, sort: NEWEST_FIRST, skip: scanned, limit: SCAN_PAGE });
    scanned += page.length;
    for (const log of page) if (log.documents.some((key) => key.startsWith(prefix))) matches.push(log);
    if (page.length < SCAN_PAGE) break;
  }
  return { items: matches.slice(skip, skip + limit).map(summaryOf), limit, skip, scanned };
}
