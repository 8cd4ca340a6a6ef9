/**
 * Reconciliation, shared by GET /api/reconciliation and the admin page, a page at a time:
 *  - every investor's cash against the sum of its ledger lines on account 'cash';
 *  - every loan's raised against the sum of its allocations;
 *    each mismatch {model, id, field, expected (from the lines), actual (stored; null: no such document)};
 *  - stuck: transactions pending or rolling back whose lease ended (beyond the clock-skew
 *    allowance) or that recovery marked for attention (the hook's `stuck()`):
 *    {id, state, label, ageMs, leaseUntil, recoveries, error}.
 * Computed by the datastore (the hook's committed `reads().checkSums`: a GROUP BY on PostgreSQL, a
 * $group pipeline on MongoDB, a streamed merge on sails-disk); only the page's candidates are
 * loaded, and each is re-checked through committed reads, so a transaction in flight never shows
 * as a mismatch. Memory stays flat whatever the fund's size.
 *
 * Pages: `after` is the `next` of the previous page (the checks run in order: investors, then
 * loans); `stuckSkip` pages the stuck list. `detailed` adds names and the money totals (aggregate
 * sums) the admin page shows.
 */
import type { CommittedReads, SumCheck, TxError, TxState } from 'sails-hook-transact';
import { type FundApp, transactOf } from './app';
import { fundError } from './errors';

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

export const CHECKS: readonly (SumCheck & { field: string })[] = [
  { model: 'investor', field: 'cash', lines: { model: 'ledgerentry', sum: 'amount', by: 'investor', where: { account: 'cash' } } },
  { model: 'loan', field: 'raised', lines: { model: 'allocation', sum: 'amount', by: 'loan' } },
];

export interface Cursor {
  /** Index into CHECKS. */
  check: number;
  /** The last key of the previous page within that check (null: from its start). */
  key: string | null;
}

export interface PageRequest {
  after: Cursor;
  limit: number;
  stuckSkip: number;
}

export interface Mismatch {
  model: string;
  id: string;
  field: string;
  expected: number;
  actual: number | null;
  name?: string | null;
}

export interface StuckItem {
  id: string;
  state: TxState;
  label: string | null;
  ageMs: number;
  leaseUntil: number;
  recoveries: number;
  error: TxError | null;
}

export interface Totals {
  received: number;
  withdrawn: number;
  net: number;
  cashHeld: number;
  invested: number;
  held: number;
  raised: number;
  allocated: number;
  ok: boolean;
}

export interface Reconciliation {
  ok: boolean;
  checkedAt: string;
  mismatches: Mismatch[];
  next: string | null;
  stuck: StuckItem[];
  stuckNext: number | null;
  limit: number;
  totals?: Totals;
}

/** `model:key` (key empty: the check from its start). */
function parseCursor(after: unknown): Cursor {
  if (after === undefined || after === null || after === '') return { check: 0, key: null };
  const text = String(after);
  const colon = text.indexOf(':');
  const check = colon === -1 ? -1 : CHECKS.findIndex((c) => c.model === text.slice(0, colon));
  if (check === -1 || text.length > 500) throw fundError('validation_failed', 'after is the `next` of an earlier page', { path: 'after' });
  const key = text.slice(colon + 1);
  return { check, key: key === '' ? null : key };
}

function parseCount(value: unknown, name: string, { min, max, fallback }: { min: number; max: number; fallback: number }): number {
  if (value === undefined || value === null || value === '') return fallback;
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < min || number > max) throw fundError('validation_failed', `${name} is an integer from ${min} to ${max}`, { path: name });
  return number;
}

/** The page parameters of a request's query string; throws validation_failed (with its path) when one is wrong. */
export function pageOf(query: Record<string, unknown> = {}): PageRequest {
  return {
    after: parseCursor(query.after),
    limit: parseCount(query.limit, 'limit', { min: 1, max: MAX_LIMIT, fallback: DEFAULT_LIMIT }),
    stuckSkip: parseCount(query.stuckSkip, 'stuckSkip', { min: 0, max: 1_000_000, fallback: 0 }),
  };
}

/** Mismatches from `after` on, at most `limit`, across the checks in order; `next` continues (null: done). */
async function mismatchPage(reads: CommittedReads, after: Cursor, limit: number): Promise<{ mismatches: Mismatch[]; next: string | null; checked: number }> {
  const mismatches: Mismatch[] = [];
  let checked = 0;
  for (let check = after.check, key = after.key; check < CHECKS.length; check++, key = null) {
    const spec = CHECKS[check];
    const page = await reads.checkSums(spec, { after: key, limit: limit - mismatches.length });
    checked += page.candidates;
    for (const item of page.items) {
      const document = item.document as { name?: string; borrower?: string } | null;
      mismatches.push({ model: spec.model, id: item.id, field: spec.field, expected: item.expected, actual: item.actual, name: document ? (document.name ?? document.borrower ?? null) : null });
    }
    if (page.next !== null) return { mismatches, next: `${spec.model}:${page.next}`, checked };
    if (mismatches.length >= limit && check + 1 < CHECKS.length) return { mismatches, next: `${CHECKS[check + 1].model}:`, checked };
  }
  return { mismatches, next: null, checked };
}

async function totalsOf(reads: CommittedReads): Promise<Totals> {
  const [gateway, withdrawn, cashHeld, invested, raised, allocated] = await Promise.all([
    reads.aggregateSum('ledgerentry', 'amount', { account: 'gateway' }),
    reads.aggregateSum('ledgerentry', 'amount', { account: 'withdrawals' }),
    reads.aggregateSum('investor', 'cash'),
    reads.aggregateSum('investor', 'invested'),
    reads.aggregateSum('loan', 'raised'),
    reads.aggregateSum('allocation', 'amount'),
  ]);
  const received = -gateway;
  const net = received - withdrawn;
  const held = cashHeld + invested;
  return { received, withdrawn, net, cashHeld, invested, held, raised, allocated, ok: net === held && raised === allocated };
}

/**
 * One page of the reconciliation (+ totals when detailed). `ok` speaks for the whole fund: true
 * only when this page found nothing, no page follows, and nothing is stuck.
 */
export async function reconcile(app: FundApp, { detailed = false, page = pageOf() }: { detailed?: boolean; page?: PageRequest } = {}): Promise<Reconciliation> {
  const hook = transactOf(app);
  const reads = hook.reads();
  const [found, active, totals] = await Promise.all([
    mismatchPage(reads, page.after, page.limit),
    hook.stuck({ limit: page.limit + 1, skip: page.stuckSkip }),
    detailed ? totalsOf(reads) : undefined,
  ]);
  const stuck = active.items.slice(0, page.limit).map((log) => ({ id: log.id, state: log.state, label: log.label, ageMs: log.ageMs, leaseUntil: log.leaseUntil, recoveries: log.recoveries, error: log.error }));
  const stuckNext = active.items.length > page.limit ? page.stuckSkip + page.limit : null;
  const firstPage = page.after.check === 0 && page.after.key === null;
  const ok = firstPage && found.mismatches.length === 0 && found.next === null && page.stuckSkip === 0 && stuck.length === 0;
  const mismatches = found.mismatches.map(({ name, ...mismatch }) => (detailed ? { ...mismatch, name } : mismatch));
  const result: Reconciliation = { ok, checkedAt: new Date().toISOString(), mismatches, next: found.next, stuck, stuckNext, limit: page.limit };
  return totals === undefined ? result : { ...result, totals };
}
