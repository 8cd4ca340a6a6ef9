/** POST /api/user (admin): api/lib/actions/users.ts `createUser`. */
module.exports = require('../../../dist/api/lib/actions/users').createUser;
