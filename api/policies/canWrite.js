/** The policy is api/lib/policies.ts `canWrite` (compiled by `npm run build`). */
module.exports = require('../../dist/api/lib/policies').canWrite;
