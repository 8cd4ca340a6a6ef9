/**
 * What the ops page reads and the one thing it settles, behind one small interface. The shapes
 * (and, once merged, the implementations) are lib/queries' — listTransactions, stuckTransactions,
 * settleStuck — shared with the REST API.
 *
 * TEMPORARY BRIDGE: until lib/queries lands on this branch, the same functions are written here
 * over the Waterline log model. After the merge this file delegates to lib/queries and the log
 * model goes away.
 */
import type { Engine } from '../engine';
import { TransactError } from '../errors';
import { toLogDocument } from '../store/store';
import type { Attention, LogDocument, TxError, TxMode, TxState } from '../types';
import type { WaterlineModel } from '../waterline';

export interface TransactionQuery {
  state?: TxState;
  model?: string;
  label?: string;
  idempotencyKey?: string;
  from?: number;
  to?: number;
  limit: number;
  skip: number;
}

export interface TransactionSummary {
  id: string;
  state: TxState;
  mode: TxMode;
  label: string | null;
  idempotencyKey: string | null;
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
  scanned?: number;
  total?: number;
}

export interface StuckTransaction {
  id: string;
  state: TxState;
  label: string | null;
  startedAt: number;
  ageMs: number;
  leaseUntil: number;
  recoveries: number;
  attention: Attention | null;
  error: TxError | null;
  reason: string;
}

export interface StuckPage {
  items: StuckTransaction[];
  limit: number;
  skip: number;
}

export interface SettleResult {
  id: string;
  state: 'rolled-back';
  outcome: string;
}

/** The reads and the settle action, bound to one engine. */
export interface OpsQueries {
  list(query: TransactionQuery, options: { count?: boolean; maxScan?: number }): Promise<TransactionPage>;
  stuck(page: { limit: number; skip: number }): Promise<StuckPage>;
  settle(txId: string, note: { by: string; reason: string | null }): Promise<SettleResult>;
}

const SCAN_PAGE = 200;
const ACTIVE: TxState[] = ['pending', 'rolling-back'];
const NEWEST_FIRST = [{ startedAt: 'DESC' }, { id: 'DESC' }];

function summaryOf(log: LogDocument): TransactionSummary {
  const { id, state, mode, label, idempotencyKey, startedAt, endedAt, documents, reverses, reversedBy, reason, error } = log;
  return { id, state, mode, label, idempotencyKey, startedAt, endedAt, documents, reverses, reversedBy, reason, error };
}

function whereOf(query: TransactionQuery): Record<string, unknown> {
  const where: Record<string, unknown> = {};
  if (query.state !== undefined) where.state = query.state;
  if (query.label !== undefined) where.label = { contains: query.label };
  if (query.idempotencyKey !== undefined) where.idempotencyKey = query.idempotencyKey;
  if (query.from !== undefined || query.to !== undefined) {
    const range: Record<string, number> = {};
    if (query.from !== undefined) range['>='] = query.from;
    if (query.to !== undefined) range['<'] = query.to;
    where.startedAt = range;
  }
  return where;
}

interface LogFinder {
  find(criteria: object): Promise<Record<string, unknown>[]>;
  count(where: object): Promise<number>;
}

export function queriesFor(engine: Engine, logModel: WaterlineModel): OpsQueries {
  const logs = logModel as unknown as LogFinder;
  const find = async (criteria: object): Promise<LogDocument[]> => (await logs.find(criteria)).map(toLogDocument);
  return {
    async list(query, options) {
      const { limit, skip } = query;
      const where = whereOf(query);
      if (query.model === undefined) {
        const [found, total] = await Promise.all([find({ where, sort: NEWEST_FIRST, skip, limit }), options.count === true ? logs.count(where) : Promise.resolve(undefined)]);
        return { items: found.map(summaryOf), limit, skip, ...(total === undefined ? {} : { total }) };
      }
      const maxScan = options.maxScan ?? 1_000_000;
      const prefix = `${query.model}:`;
      const matches: LogDocument[] = [];
      let scanned = 0;
      while (matches.length < skip + limit && scanned < maxScan) {
        const page = await find({ where, sort: NEWEST_FIRST, skip: scanned, limit: SCAN_PAGE });
        scanned += page.length;
        for (const log of page) if (log.documents.some((key) => key.startsWith(prefix))) matches.push(log);
        if (page.length < SCAN_PAGE) break;
      }
      return { items: matches.slice(skip, skip + limit).map(summaryOf), limit, skip, scanned };
    },

    async stuck(page) {
      const now = engine.clock.now();
      const found: StuckTransaction[] = [];
      for (let scanned = 0; found.length < page.skip + page.limit && scanned < 100_000; scanned += 500) {
        const active = await find({ where: { state: ACTIVE }, sort: [{ startedAt: 'ASC' }, { id: 'ASC' }], skip: scanned, limit: 500 });
        for (const log of active) {
          if (log.attention === null && log.leaseUntil >= now - engine.options.clockSkewMs) continue;
          const reason = log.attention !== null ? `recovery could not settle it: ${log.attention.message}` : log.error !== null ? log.error.message : 'its lease expired before it finished';
          found.push({ id: log.id, state: log.state, label: log.label, startedAt: log.startedAt, ageMs: now - log.startedAt, leaseUntil: log.leaseUntil, recoveries: log.recoveries, attention: log.attention, error: log.error, reason });
        }
        if (active.length < 500) break;
      }
      return { items: found.slice(page.skip, page.skip + page.limit), limit: page.limit, skip: page.skip };
    },

    async settle(txId, note) {
      const log = await engine.getLog(txId);
      if (log === null) throw new TransactError('not_found', `no transaction ${txId}`, { path: 'id' });
      if (!ACTIVE.includes(log.state)) throw new TransactError('conflict', `transaction ${txId} is ${log.state}, not stuck`);
      const outcome = await engine.recovery.settle(log, false);
      const after = await engine.getLog(txId);
      if (after === null || after.state !== 'rolled-back') throw new TransactError('conflict', `recovery did not roll ${txId} back (${String(outcome)}): its owner's lease may still be live`);
      const by = `settled by ${note.by} at ${new Date().toISOString()}${note.reason === null ? '' : `: ${note.reason}`}`;
      await engine.store.updateLog(txId, { states: ['rolled-back'] }, { error: { code: after.error?.code ?? 'rolled_back', message: `${after.error?.message ?? 'rolled back'}; ${by}`.slice(0, 2000) } });
      return { id: txId, state: 'rolled-back', outcome: String(outcome) };
    },
  };
}
