/** POST /api/payment/callback (signed by the gateway): api/lib/actions/fund.ts `paymentCallback`. */
module.exports = require('../../../dist/api/lib/actions/fund').paymentCallback;
