/** POST /api/auth/login: api/lib/actions/users.ts `login`. */
module.exports = require('../../../dist/api/lib/actions/users').login;
