/** POST /transfers: api/lib/actions/transfers.ts `createTransfer`. */
module.exports = require('../../../dist/api/lib/actions/transfers').createTransfer;
