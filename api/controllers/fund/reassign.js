/** POST /api/payment/:paymentId/reassign: api/lib/actions/fund.ts `reassignDeposit`. */
module.exports = require('../../../dist/api/lib/actions/fund').reassignDeposit;
