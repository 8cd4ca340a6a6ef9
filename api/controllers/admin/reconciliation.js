/** GET and POST /admin/reconciliation: api/lib/actions/admin.ts `reconciliation`. */
module.exports = require('../../../dist/api/lib/actions/admin').reconciliation;
