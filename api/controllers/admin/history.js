/**
 * GET /admin/history/:model/:id[?at=<time>]: a document's committed versions (engine.history, as
 * GET /api/history), the transactions that changed it, its current stored state and its state at a chosen time.
 */
const { page, when } = require('../../lib/admin-page');
const { AdminError } = require('../../lib/admin');

const READABLE = ['investor', 'loan', 'order', 'payment', 'allocation', 'ledgerentry', 'platform', 'account', 'transfer'];

module.exports = page(async (req, res, { render }) => {
  const model = req.param('model');
  const id = req.param('id');
  if (!READABLE.includes(model)) throw new AdminError(404, 'no such model');
  if (!/^[A-Za-z0-9_:-]{1,100}$/.test(id)) throw new AdminError(400, 'bad id');
  const engine = sails.hooks.transact.engine;
  const atRaw = typeof req.query.at === 'string' ? req.query.at : '';
  const at = atRaw === '' ? null : Date.parse(atRaw);
  if (at !== null && !Number.isFinite(at)) throw new AdminError(400, 'at must be a date and time');
  const [versions, current, stateAt] = await Promise.all([
    engine.history(model, id),
    sails.models[model].findOne({ id }),
    at === null ? Promise.resolve(undefined) : engine.stateAt(model, id, at),
  ]);
  const last = versions.length ? versions[versions.length - 1].after : null;
  const drift = JSON.stringify(last) !== JSON.stringify(current ?? null);
  return render('history', { title: `History of ${model} ${id}`, model, id, versions, current, stateAt, at, atRaw, drift, when });
});
