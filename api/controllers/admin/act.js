/** POST /admin/act/:action (admin, CSRF): api/lib/actions/admin.ts `act`. */
module.exports = require('../../../dist/api/lib/actions/admin').act;
