/** The policy is api/lib/policies.ts `isAdmin` (compiled by `npm run build`). */
module.exports = require('../../dist/api/lib/policies').isAdmin;
