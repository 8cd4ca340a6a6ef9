/** The policy is api/lib/policies.ts `canRead` (compiled by `npm run build`). */
module.exports = require('../../dist/api/lib/policies').canRead;
