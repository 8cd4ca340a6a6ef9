/** POST /api/withdrawal: api/lib/actions/fund.ts `withdrawal`. */
module.exports = require('../../../dist/api/lib/actions/fund').withdrawal;
