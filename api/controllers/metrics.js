/**
 * GET /metrics — Prometheus exposition (text format): transactions committed / rolled back /
 * recovered, dropped orders found / repaired / escalated, job runs and durations. Counts only, no
 * secrets or personal data: open like /api/health (restrict it at the network edge if needed).
 */
const metrics = require('../lib/metrics');

module.exports = async function metricsAction(req, res) {
  const { contentType, body } = await metrics.render(sails);
  res.set('Content-Type', contentType);
  return res.status(200).send(body);
};
