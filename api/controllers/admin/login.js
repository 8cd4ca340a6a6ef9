/** GET and POST /admin/login: api/lib/actions/admin.ts `login`. */
module.exports = require('../../../dist/api/lib/actions/admin').login;
