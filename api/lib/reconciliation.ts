/**
 * Reconciliation, shared by GET /api/reconciliation and the admin page, a page at a time. The
 * checks, in order (each mismatch {model, id, field, expected, actual, rule?}):
 *  - ledger (no `rule`): every investor's cash against the sum of its ledger lines on account
 *    'cash'; every loan's raised against the sum of its allocations; every account's balance
 *    against the sum of its `done` AccountEntry lines. `expected` is the lines' sum, `actual` the
 *    stored value — null when no such document exists: money left in a destroyed account (or
 *    investor) shows this way, since its lines outlive it;
 *  - floor (`rule: 'floor'`): investors whose cash or invested, accounts whose balance is below
 *    0 (`expected`: the floor, 0), even when their lines agree (a reversal or a write that spent
 *    money twice);
 *  - total (`rule: 'total'`, first page only, `id: '*'`): the sum of all balances against the
 *    money that came into accounts (their `opening` lines; nothing takes money out of accounts);
 *  - stuck: transactions pending or rolling back whose lease ended (beyond the clock-skew
 *    allowance) or that recovery marked for attention (the hook's `stuck()`):
 *    {id, state, label, ageMs, leaseUntil, recoveries, error}.
 * Computed by the datastore (the hook's committed `reads().checkSums`: a GROUP BY on PostgreSQL, a
 * $group pipeline on MongoDB, a streamed merge on sails-disk; the floors are committed `find`s of
 * `< 0`, a page at a time; the total two `aggregateSum`s); only the page's candidates are loaded,
 * and each is re-checked through committed reads, so a transaction in flight never shows as a
 * mismatch. Memory stays flat whatever the fund's size.
 *
 * Pages: `after` is the `next` of the previous page (`<check>:<key>`, the checks run in the order
 * of CHECKS); `stuckSkip` pages the stuck list. `detailed` adds names and the money totals
 * (aggregate sums) the admin page shows.
 */
import type { CommittedReads, SumCheck, TxError, TxState } from 'sails-hook-transact';
import { type FundApp, transactOf } from './app';
import { fundError } from './errors';

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

/** A document's stored total against its lines (the hook's sum check). */
interface LedgerCheck extends SumCheck {
  name: string;
}

/** Documents whose `field` is below `floor`. */
interface FloorCheck {
  name: string;
  model: string;
  field: string;
  floor: number;
}

export type Check = LedgerCheck | FloorCheck;

export const CHECKS: readonly Check[] = [
  { name: 'investor', model: 'investor', field: 'cash', lines: { model: 'ledgerentry', sum: 'amount', by: 'investor', where: { account: 'cash' } } },
  { name: 'loan', model: 'loan', field: 'raised', lines: { model: 'allocation', sum: 'amount', by: 'loan' } },
  { name: 'account', model: 'account', field: 'balance', lines: { model: 'accountentry', sum: 'amount', by: 'account', where: { status: 'done' } } },
  { name: 'investor-cash-floor', model: 'investor', field: 'cash', floor: 0 },
  { name: 'investor-invested-floor', model: 'investor', field: 'invested', floor: 0 },
  { name: 'account-floor', model: 'account', field: 'balance', floor: 0 },
];

/** How far two instances' wall clocks may disagree (a log's `startedAt` is its instance's). */
const CLOCK_ALLOWANCE_MS = 10_000;

/** The id of the total's mismatch: it is about every account, not one. */
export const TOTAL_ID = '*';

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
  /** Absent: a ledger check. */
  rule?: 'floor' | 'total';
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
  const check = colon === -1 ? -1 : CHECKS.findIndex((c) => c.name === text.slice(0, colon));
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

interface CheckPage {
  mismatches: Mismatch[];
  /** The last key of this page when more may follow; null: the check is complete. */
  next: string | null;
  candidates: number;
}

function nameOf(document: unknown): string | null {
  if (document === null || typeof document !== 'object') return null;
  const { name, borrower, owner } = document as { name?: string; borrower?: string; owner?: string };
  return name ?? borrower ?? owner ?? null;
}

async function ledgerPage(reads: CommittedReads, check: LedgerCheck, key: string | null, limit: number): Promise<CheckPage> {
  const page = await reads.checkSums(check, { after: key, limit });
  const mismatches = page.items.map((item) => ({ model: check.model, id: item.id, field: check.field, expected: item.expected, actual: item.actual, name: nameOf(item.document) }));
  return { mismatches, next: page.next, candidates: page.candidates };
}

/** Committed documents below the floor, in id order after `key` (the datastore selects them: `field < floor`). */
async function floorPage(reads: CommittedReads, check: FloorCheck, key: string | null, limit: number): Promise<CheckPage> {
  const where = key === null ? { [check.field]: { '<': check.floor } } : { and: [{ [check.field]: { '<': check.floor } }, { id: { '>': key } }] };
  const rows = await reads.find(check.model, { where, sort: [{ id: 'ASC' }], limit: limit + 1 });
  const page = rows.slice(0, limit);
  const mismatches = page.map((row) => ({ model: check.model, id: String(row.id), field: check.field, expected: check.floor, actual: row[check.field] as number, rule: 'floor' as const, name: nameOf(row) }));
  return { mismatches, next: rows.length > limit ? String(page[page.length - 1].id) : null, candidates: rows.length };
}

/** Mismatches from `after` on, at most `limit`, across the checks in order; `next` continues (null: done). */
async function mismatchPage(reads: CommittedReads, after: Cursor, limit: number): Promise<{ mismatches: Mismatch[]; next: string | null; checked: number }> {
  const mismatches: Mismatch[] = [];
  let checked = 0;
  for (let check = after.check, key = after.key; check < CHECKS.length; check++, key = null) {
    const spec = CHECKS[check];
    const page = 'lines' in spec ? await ledgerPage(reads, spec, key, limit - mismatches.length) : await floorPage(reads, spec, key, limit - mismatches.length);
    checked += page.candidates;
    mismatches.push(...page.mismatches);
    if (page.next !== null) return { mismatches, next: `${spec.name}:${page.next}`, checked };
    if (mismatches.length >= limit && check + 1 < CHECKS.length) return { mismatches, next: `${CHECKS[check + 1].name}:`, checked };
  }
  return { mismatches, next: null, checked };
}

/** Pending logs read to tell whether accounts are being written (more: it is not decided). */
const SETTLED_SCAN = 200;

/** Whether a transaction touching an account is pending or rolling back (or too many are in flight to tell). */
async function accountsInFlight(app: FundApp): Promise<boolean> {
  const logs = await app.models.transactlog.find({ where: { state: ['pending', 'rolling-back'] }, limit: SETTLED_SCAN + 1 });
  return logs.length > SETTLED_SCAN || logs.some((log) => log.documents.some((key) => key.startsWith('account:')));
}

/**
 * The accounts' total against the money that came in (their opening lines; nothing takes money
 * out of accounts). The two sums are raw, so they are taken only between two looks at the log
 * that show no transaction touching accounts in flight before and no new log since: every write
 * of the engine comes after its pending log is inserted (the log protocol) or is invisible until
 * it commits (PostgreSQL's native path), so the sums are then of committed data. Otherwise the
 * total is not judged on this run (null), the next decides.
 */
async function accountTotal(app: FundApp, reads: CommittedReads): Promise<Mismatch | null> {
  const Log = app.models.transactlog;
  // Logs carry their instance's wall clock: a window wide enough for clocks that disagree.
  const recent = { startedAt: { '>=': Date.now() - CLOCK_ALLOWANCE_MS } };
  // In this order: a log inserted after the count changes the second count; one inserted before
  // it is seen pending unless its transaction already ended.
  const before = await Log.count(recent);
  if (await accountsInFlight(app)) return null;
  const [moneyIn, balances] = await Promise.all([reads.aggregateSum('accountentry', 'amount', { kind: 'opening', status: 'done' }), reads.aggregateSum('account', 'balance')]);
  if (moneyIn === balances || (await Log.count(recent)) !== before) return null;
  return { model: 'account', id: TOTAL_ID, field: 'balance', expected: moneyIn, actual: balances, rule: 'total', name: null };
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
  const firstPage = page.after.check === 0 && page.after.key === null;
  const [total, found, active, totals] = await Promise.all([
    firstPage ? accountTotal(app, reads) : null,
    mismatchPage(reads, page.after, page.limit),
    hook.stuck({ limit: page.limit + 1, skip: page.stuckSkip }),
    detailed ? totalsOf(reads) : undefined,
  ]);
  const stuck = active.items.slice(0, page.limit).map((log) => ({ id: log.id, state: log.state, label: log.label, ageMs: log.ageMs, leaseUntil: log.leaseUntil, recoveries: log.recoveries, error: log.error }));
  const stuckNext = active.items.length > page.limit ? page.stuckSkip + page.limit : null;
  const all = total === null ? found.mismatches : [total, ...found.mismatches];
  const ok = firstPage && all.length === 0 && found.next === null && page.stuckSkip === 0 && stuck.length === 0;
  const mismatches = all.map(({ name, ...mismatch }) => (detailed ? { ...mismatch, name } : mismatch));
  const result: Reconciliation = { ok, checkedAt: new Date().toISOString(), mismatches, next: found.next, stuck, stuckNext, limit: page.limit };
  return totals === undefined ? result : { ...result, totals };
}
