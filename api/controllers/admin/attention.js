/** GET /admin/attention: api/lib/actions/admin.ts `attention`. */
module.exports = require('../../../dist/api/lib/actions/admin').attention;
