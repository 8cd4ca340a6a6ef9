/** The policy is api/lib/policies.ts `authenticated` (compiled by `npm run build`). */
module.exports = require('../../dist/api/lib/policies').authenticated;
