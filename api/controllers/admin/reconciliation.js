/**
 * GET /admin/reconciliation?after=&limit=&stuckSkip=: every investor's cash against its ledger,
 * every loan's raised against its allocations — the mismatches, a page at a time (linked to the
 * document's history), the stuck transactions a page at a time, and the money totals.
 * POST /admin/reconciliation (CSRF): run now. The same service as GET /api/reconciliation.
 */
const { page, money, age, when } = require('../../lib/admin-page');
const { reconcile, pageOf } = require('../../lib/reconciliation');

const lastRun = new WeakMap();

module.exports = page(
  async (req, res, { render, flash }) => {
    if (req.method === 'POST') {
      lastRun.set(sails, { at: Date.now(), by: req.session.me.username });
      flash('reconciliation run now');
      return res.redirect('/admin/reconciliation');
    }
    const started = Date.now();
    const data = await reconcile(sails, { detailed: true, page: pageOf(req.query) });
    const run = lastRun.get(sails) || { at: started, by: 'page load' };
    return render('reconciliation', { title: 'Reconciliation', data, ms: Date.now() - started, lastRun: run, money, age, when });
  },
  { post: true },
);
