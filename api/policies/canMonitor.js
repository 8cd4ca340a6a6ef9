/** The policy is api/lib/policies.ts `canMonitor` (compiled by `npm run build`). */
module.exports = require('../../dist/api/lib/policies').canMonitor;
