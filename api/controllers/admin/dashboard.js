/** GET /admin: api/lib/actions/admin.ts `dashboard`. */
module.exports = require('../../../dist/api/lib/actions/admin').dashboard;
