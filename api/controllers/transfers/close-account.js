/** DELETE /api/account/:id: api/lib/actions/transfers.ts `destroyAccount`. */
module.exports = require('../../../dist/api/lib/actions/transfers').destroyAccount;
