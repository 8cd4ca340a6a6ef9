/** GET /metrics (Prometheus): api/lib/actions/system.ts `prometheus`. */
module.exports = require('../../dist/api/lib/actions/system').prometheus;
