/** GET /admin/assets/:file: api/lib/actions/admin.ts `asset`. */
module.exports = require('../../../dist/api/lib/actions/admin').asset;
