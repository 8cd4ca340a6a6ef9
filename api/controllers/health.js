/**
 * GET /api/health — no auth, no secrets: is the datastore reachable, and how is recovery doing; transaction
 * counters, the dropped-orders job's counters and the scheduler's jobs.
 */
const droppedOrders = require('../lib/dropped-orders');

module.exports = async function health(req, res) {
  const engine = sails.hooks.transact.engine;
  let datastore = 'ok';
  try {
    await sails.models.transactlog.count({ state: 'pending' });
  } catch (err) {
    datastore = 'unreachable';
  }
  const stuck = datastore === 'ok' ? await sails.models.transactlog.count({ state: ['pending', 'rolling-back'], leaseUntil: { '<': engine.clock.now() - engine.options.clockSkewMs } }) : null;
  return res.status(datastore === 'ok' ? 200 : 503).json({
    status: datastore === 'ok' ? 'ok' : 'degraded',
    datastore: { adapter: engine.store.kind, status: datastore },
    recovery: { stuckTransactions: stuck, transientRetries: engine.retries.retried },
    transactions: { ...engine.stats },
    droppedOrders: droppedOrders.countersOf(sails),
    jobs: (sails.hooks.transact.scheduler ? sails.hooks.transact.scheduler.status() : []).map((job) => ({
      name: job.name,
      enabled: job.enabled,
      running: job.running,
      runs: job.runs,
      failures: job.failures,
      lastDurationMs: job.lastDurationMs,
      lastError: job.lastError,
      nextRunAt: job.nextRunAt,
    })),
  });
};
