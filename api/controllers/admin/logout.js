/** POST /admin/logout (CSRF): api/lib/actions/admin.ts `logout`. */
module.exports = require('../../../dist/api/lib/actions/admin').logout;
