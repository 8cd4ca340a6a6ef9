/** The policy is api/lib/policies.ts `adminSession` (compiled by `npm run build`). */
module.exports = require('../../dist/api/lib/policies').adminSession;
