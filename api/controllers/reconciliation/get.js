/**
 * GET /api/reconciliation (monitor) → {ok, checkedAt, mismatches, stuck}:
 *  - every investor's cash against the sum of its ledger lines on account 'cash';
 *  - every loan's raised against the sum of its allocations;
 *    each mismatch {model, id, field, expected (from the lines), actual (stored; null: no such document)};
 *  - stuck: transactions pending or rolling back whose lease ended (beyond the clock-skew
 *    allowance) and that recovery has not finished: {id, state, label, ageMs}.
 */
function sumBy(rows, key) {
  const sums = new Map();
  for (const row of rows) sums.set(row[key], (sums.get(row[key]) || 0) + row.amount);
  return sums;
}

function compare(model, field, documents, sums) {
  const mismatches = [];
  for (const doc of documents) {
    const expected = sums.get(doc.id) || 0;
    if (doc[field] !== expected) mismatches.push({ model, id: doc.id, field, expected, actual: doc[field] });
    sums.delete(doc.id);
  }
  // lines for documents that do not exist
  for (const [id, expected] of sums) if (id !== null && id !== undefined && expected !== 0) mismatches.push({ model, id, field, expected, actual: null });
  return mismatches;
}

module.exports = async function reconciliation(req, res) {
  const { models } = sails;
  const engine = sails.hooks.transact.engine;
  const now = Date.now();
  const [investors, cashLines, loans, allocations, active] = await Promise.all([
    models.investor.find({}),
    models.ledgerentry.find({ where: { account: 'cash' } }),
    models.loan.find({}),
    models.allocation.find({}),
    models.transactlog.find({ where: { state: ['pending', 'rolling-back'], leaseUntil: { '<': now - engine.options.clockSkewMs } }, sort: 'startedAt ASC' }),
  ]);
  const mismatches = [...compare('investor', 'cash', investors, sumBy(cashLines, 'investor')), ...compare('loan', 'raised', loans, sumBy(allocations, 'loan'))];
  const stuck = active.map((log) => ({ id: log.id, state: log.state, label: log.label ?? null, ageMs: now - log.startedAt }));
  return res.json({ ok: mismatches.length === 0 && stuck.length === 0, checkedAt: new Date(now).toISOString(), mismatches, stuck });
};
