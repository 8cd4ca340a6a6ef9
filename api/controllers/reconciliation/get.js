/** GET /api/reconciliation (monitor): api/lib/actions/system.ts `reconciliation`. */
module.exports = require('../../../dist/api/lib/actions/system').reconciliation;
