/**
 * Reconciliation, shared by GET /api/reconciliation and the admin page, a page at a time:
 *  - every investor's cash against the sum of its ledger lines on account 'cash';
 *  - every loan's raised against the sum of its allocations;
 *    each mismatch {model, id, field, expected (from the lines), actual (stored; null: no such document)};
 *  - stuck: transactions pending or rolling back whose lease ended (beyond the clock-skew
 *    allowance) or that recovery marked for attention (the hook's stuckTransactions):
 *    {id, state, label, ageMs, leaseUntil, recoveries, error}.
 * Computed by the datastore (the hook's `engine.reads.checkSums`: a GROUP BY on PostgreSQL, a
 * $group pipeline on MongoDB, a streamed merge on sails-disk); only the page's candidates are
 * loaded, and each is re-checked through committed reads, so a transaction in flight never shows
 * as a mismatch. Memory stays flat whatever the fund's size.
 *
 * Pages: `after` is the `next` of the previous page (the checks run in order: investors, then
 * loans); `stuckSkip` pages the stuck list. `detailed` adds names and the money totals (aggregate
 * sums) the admin page shows.
 */
const { stuckTransactions } = require('../hooks/transact');

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

const CHECKS = [
  { model: 'investor', field: 'cash', lines: { model: 'ledgerentry', sum: 'amount', by: 'investor', where: { account: 'cash' } } },
  { model: 'loan', field: 'raised', lines: { model: 'allocation', sum: 'amount', by: 'loan' } },
];

class ReconciliationError extends Error {
  constructor(message, path) {
    super(message);
    this.name = 'ReconciliationError';
    this.code = 'validation_failed';
    this.path = path;
  }
}

/** `model:key` (key empty: the check from its start). */
function parseCursor(after) {
  if (after === undefined || after === null || after === '') return { check: 0, key: null };
  const text = String(after);
  const colon = text.indexOf(':');
  const check = colon === -1 ? -1 : CHECKS.findIndex((c) => c.model === text.slice(0, colon));
  if (check === -1 || text.length > 500) throw new ReconciliationError('after is the `next` of an earlier page', 'after');
  const key = text.slice(colon + 1);
  return { check, key: key === '' ? null : key };
}

function parseCount(value, name, { min, max, fallback }) {
  if (value === undefined || value === null || value === '') return fallback;
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < min || number > max) throw new ReconciliationError(`${name} is an integer from ${min} to ${max}`, name);
  return number;
}

/** The page parameters of a request's query string; throws a validation_failed error (with its path) when one is wrong. */
function pageOf(query = {}) {
  return {
    after: parseCursor(query.after),
    limit: parseCount(query.limit, 'limit', { min: 1, max: MAX_LIMIT, fallback: DEFAULT_LIMIT }),
    stuckSkip: parseCount(query.stuckSkip, 'stuckSkip', { min: 0, max: 1_000_000, fallback: 0 }),
  };
}

/** Mismatches from `after` on, at most `limit`, across the checks in order; `next` continues (null: done). */
async function mismatchPage(reads, after, limit) {
  const mismatches = [];
  let checked = 0;
  for (let check = after.check, key = after.key; check < CHECKS.length; check++, key = null) {
    const spec = CHECKS[check];
    const page = await reads.checkSums(spec, { after: key, limit: limit - mismatches.length });
    checked += page.candidates;
    for (const item of page.items) mismatches.push({ model: spec.model, id: item.id, field: spec.field, expected: item.expected, actual: item.actual, name: item.document ? (item.document.name ?? item.document.borrower ?? null) : null });
    if (page.next !== null) return { mismatches, next: `${spec.model}:${page.next}`, checked };
    if (mismatches.length >= limit && check + 1 < CHECKS.length) return { mismatches, next: `${CHECKS[check + 1].model}:`, checked };
  }
  return { mismatches, next: null, checked };
}

async function totalsOf(reads) {
  const [gateway, withdrawn, cashHeld, invested, raised, allocated] = await Promise.all([
    reads.aggregateSum('ledgerentry', 'amount', { account: 'gateway' }),
    reads.aggregateSum('ledgerentry', 'amount', { account: 'withdrawals' }),
    reads.aggregateSum('investor', 'cash'),
    reads.aggregateSum('investor', 'invested'),
    reads.aggregateSum('loan', 'raised'),
    reads.aggregateSum('allocation', 'amount'),
  ]);
  const received = -gateway;
  const totals = { received, withdrawn, net: received - withdrawn, cashHeld, invested, held: cashHeld + invested, raised, allocated };
  totals.ok = totals.net === totals.held && totals.raised === totals.allocated;
  return totals;
}

/**
 * One page of the reconciliation: {ok, checkedAt, mismatches, next, stuck, stuckNext} (+ totals
 * when detailed). `ok` speaks for the whole fund: true only when this page found nothing, no page
 * follows, and nothing is stuck.
 */
async function reconcile(app, { detailed = false, page = pageOf() } = {}) {
  const engine = app.hooks.transact.engine;
  const now = Date.now();
  const [found, active, totals] = await Promise.all([
    mismatchPage(engine.reads, page.after, page.limit),
    stuckTransactions(engine, { limit: page.limit + 1, skip: page.stuckSkip }),
    detailed ? totalsOf(engine.reads) : undefined,
  ]);
  const stuck = active.items.slice(0, page.limit).map((log) => ({ id: log.id, state: log.state, label: log.label, ageMs: log.ageMs, leaseUntil: log.leaseUntil, recoveries: log.recoveries, error: log.error }));
  const stuckNext = active.items.length > page.limit ? page.stuckSkip + page.limit : null;
  const firstPage = page.after.check === 0 && page.after.key === null;
  const ok = firstPage && found.mismatches.length === 0 && found.next === null && page.stuckSkip === 0 && stuck.length === 0;
  const mismatches = found.mismatches.map(({ name, ...mismatch }) => (detailed ? { ...mismatch, name } : mismatch));
  const result = { ok, checkedAt: new Date(now).toISOString(), mismatches, next: found.next, stuck, stuckNext, limit: page.limit };
  return detailed ? { ...result, totals } : result;
}

module.exports = { reconcile, pageOf, CHECKS, DEFAULT_LIMIT, MAX_LIMIT };
