/** GET /admin/transactions/:id: one transaction, each step's before/after diff, locks, lease, links to reversals. */
const { page, when } = require('../../lib/admin-page');
const { AdminError } = require('../../lib/admin');

function diff(before, after) {
  const keys = [...new Set([...Object.keys(before || {}), ...Object.keys(after || {})])].sort();
  return keys.map((key) => {
    const b = before ? JSON.stringify(before[key]) : undefined;
    const a = after ? JSON.stringify(after[key]) : undefined;
    return { key, before: b === undefined ? '' : b, after: a === undefined ? '' : a, changed: b !== a };
  });
}

module.exports = page(async (req, res, { render }) => {
  const id = req.param('id');
  if (!/^[A-Za-z0-9_:-]{1,100}$/.test(id)) throw new AdminError(400, 'bad transaction id');
  const engine = sails.hooks.transact.engine;
  const log = await engine.getLog(id);
  if (!log) throw new AdminError(404, `no transaction ${id}`);
  const lockIds = (Array.isArray(log.documents) ? log.documents : []).slice(0, 1000);
  const locks = lockIds.length ? await sails.models.transactlock.find({ where: { id: lockIds } }) : [];
  const steps = (log.steps || []).map((step) => ({ ...step, diff: diff(step.before, step.after) }));
  return render('transaction', { title: `Transaction ${id}`, log, steps, locks, when, now: Date.now() });
});
