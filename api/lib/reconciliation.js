/**
 * Reconciliation, shared by GET /api/reconciliation and the admin page:
 *  - every investor's cash against the sum of its ledger lines on account 'cash';
 *  - every loan's raised against the sum of its allocations;
 *    each mismatch {model, id, field, expected (from the lines), actual (stored; null: no such document)};
 *  - stuck: transactions pending or rolling back whose lease ended (beyond the clock-skew
 *    allowance) or that recovery marked for attention (the hook's stuckTransactions):
 *    {id, state, label, ageMs, leaseUntil, recoveries, error}.
 * `detailed` adds the per-document rows and the money totals the admin page shows.
 */
const { stuckTransactions } = require('../hooks/transact');

/** More stuck transactions than this and the list is cut (the first are the oldest). */
const STUCK_LIMIT = 1000;

function sumBy(rows, key) {
  const sums = new Map();
  for (const row of rows) sums.set(row[key], (sums.get(row[key]) || 0) + row.amount);
  return sums;
}

function compare(model, field, documents, sums, rows) {
  const mismatches = [];
  for (const doc of documents) {
    const expected = sums.get(doc.id) || 0;
    const ok = doc[field] === expected;
    if (!ok) mismatches.push({ model, id: doc.id, field, expected, actual: doc[field] });
    if (rows) rows.push({ model, id: doc.id, name: doc.name ?? doc.borrower ?? null, field, expected, actual: doc[field], ok });
    sums.delete(doc.id);
  }
  // lines for documents that do not exist
  for (const [id, expected] of sums) {
    if (id !== null && id !== undefined && expected !== 0) {
      mismatches.push({ model, id, field, expected, actual: null });
      if (rows) rows.push({ model, id, name: null, field, expected, actual: null, ok: false });
    }
  }
  return mismatches;
}

function total(rows, field) {
  return rows.reduce((sum, row) => sum + (Number(row[field]) || 0), 0);
}

async function reconcile(app, { detailed = false } = {}) {
  const engine = app.hooks.transact.engine;
  const now = Date.now();
  // One committed snapshot of every document compared: a transaction still running (or rolling
  // back) is read as if it had not started, and no transaction is seen half-applied — so load
  // never shows as a false mismatch. Writes made behind the engine's back still show.
  const queries = [
    { model: 'investor' },
    { model: 'ledgerentry', criteria: { where: { account: 'cash' } } },
    { model: 'loan' },
    { model: 'allocation' },
  ];
  if (detailed) queries.push({ model: 'ledgerentry', criteria: { where: { account: ['gateway', 'withdrawals'] } } });
  const [[investors, cashLines, loans, allocations, flowLines = []], active] = await Promise.all([
    engine.reads.snapshot(queries),
    stuckTransactions(engine, { limit: STUCK_LIMIT, skip: 0 }),
  ]);
  const investorRows = detailed ? [] : null;
  const loanRows = detailed ? [] : null;
  const mismatches = [...compare('investor', 'cash', investors, sumBy(cashLines, 'investor'), investorRows), ...compare('loan', 'raised', loans, sumBy(allocations, 'loan'), loanRows)];
  const stuck = active.items.map((log) => ({ id: log.id, state: log.state, label: log.label, ageMs: log.ageMs, leaseUntil: log.leaseUntil, recoveries: log.recoveries, error: log.error }));
  const result = { ok: mismatches.length === 0 && stuck.length === 0, checkedAt: new Date(now).toISOString(), mismatches, stuck };
  if (!detailed) return result;
  const received = -total(flowLines.filter((l) => l.account === 'gateway'), 'amount');
  const withdrawn = total(flowLines.filter((l) => l.account === 'withdrawals'), 'amount');
  const cashHeld = total(investors, 'cash');
  const invested = total(investors, 'invested');
  const totals = { received, withdrawn, net: received - withdrawn, cashHeld, invested, held: cashHeld + invested, raised: total(loans, 'raised'), allocated: total(allocations, 'amount') };
  totals.ok = totals.net === totals.held && totals.raised === totals.allocated;
  return { ...result, investors: investorRows, loans: loanRows, totals };
}

module.exports = { reconcile };
