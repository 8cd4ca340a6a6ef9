/**
 * GET /admin/transactions?state=&model=&label=&from=&to=&key=&page=: the transaction log,
 * newest first, 50 a page, paginated on the server (the hook's listTransactions, as GET /api/transaction).
 */
const { page, when } = require('../../lib/admin-page');
const { listTransactions } = require('../../hooks/transact');
const { STATES } = require('../../lib/admin');

const PAGE = 50;

function dateOf(value) {
  if (typeof value !== 'string' || value === '') return undefined;
  const at = Date.parse(value);
  return Number.isFinite(at) ? at : undefined;
}

module.exports = page(async (req, res, { render }) => {
  const q = req.query || {};
  const str = (v, max) => (typeof v === 'string' && v.trim() !== '' ? v.trim().slice(0, max) : undefined);
  const filters = {
    state: STATES.includes(q.state) ? q.state : undefined,
    model: typeof q.model === 'string' && /^[a-z][a-z0-9_]{0,60}$/.test(q.model) ? q.model : undefined,
    label: str(q.label, 200),
    idempotencyKey: str(q.key, 200),
    from: dateOf(q.from),
    to: dateOf(q.to),
  };
  const pageNo = Math.min(100000, Math.max(1, Number.parseInt(q.page, 10) || 1));
  const started = Date.now();
  const query = { ...filters, limit: PAGE, skip: (pageNo - 1) * PAGE };
  for (const key of Object.keys(query)) if (query[key] === undefined) delete query[key];
  const result = await listTransactions(sails.hooks.transact.engine, query, { count: true, maxScan: 20000 });
  const ms = Date.now() - started;
  const params = { state: filters.state, model: filters.model, label: filters.label, key: filters.idempotencyKey, from: q.from && filters.from ? q.from : undefined, to: q.to && filters.to ? q.to : undefined };
  const link = (n) => {
    const usp = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) usp.set(k, String(v));
    usp.set('page', String(n));
    return `/admin/transactions?${usp.toString()}`;
  };
  const pages = result.total === undefined ? null : Math.max(1, Math.ceil(result.total / PAGE));
  const hasNext = pages === null ? result.items.length === PAGE : pageNo < pages;
  return render('transactions', { title: 'Transactions', result, params, pageNo, pages, hasNext, link, states: STATES, ms, when });
});
