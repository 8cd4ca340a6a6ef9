/** POST /api/order: api/lib/actions/fund.ts `order`. */
module.exports = require('../../../dist/api/lib/actions/fund').order;
