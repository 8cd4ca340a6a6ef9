/** POST /api/deposit: api/lib/actions/fund.ts `deposit`. */
module.exports = require('../../../dist/api/lib/actions/fund').deposit;
