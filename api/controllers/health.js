/**
 * GET /api/health — no auth, no secrets: is the datastore reachable, and how is recovery doing.
 */
module.exports = async function health(req, res) {
  const engine = sails.hooks.transact.engine;
  let datastore = 'ok';
  try {
    await sails.models.transactlog.count({ state: 'pending' });
  } catch (err) {
    datastore = 'unreachable';
  }
  const stuck = datastore === 'ok' ? await sails.models.transactlog.count({ state: ['pending', 'rolling-back'], leaseUntil: { '<': Date.now() - engine.options.clockSkewMs } }) : null;
  return res.status(datastore === 'ok' ? 200 : 503).json({
    status: datastore === 'ok' ? 'ok' : 'degraded',
    datastore: { adapter: engine.store.kind, status: datastore },
    recovery: { stuckTransactions: stuck, transientRetries: engine.retries.retried },
  });
};
