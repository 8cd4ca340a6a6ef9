/**
 * POST /api/payment/callback {paymentId, status: 'succeeded'|'failed', amount} from the gateway,
 * signed: `X-Signature: <hex HMAC-SHA256 of the raw body>` (no bearer token). 200 {payment, order}
 * every time the same callback is delivered, with effect once: a success credits the cash (and
 * allocates a gateway order, or leaves it `paid` when the loans are full), a failure cancels.
 * 401 bad signature, 404 unknown payment, 409 amount_mismatch (recorded on the payment),
 * 409 conflict (another final status already).
 */
const fund = require('../../lib/fund');
const { sendError, sendTransactError } = require('../../lib/http-errors');
const { validateBody } = require('../../lib/validate');

module.exports = async function paymentCallback(req, res) {
  if (!fund.validSignature(req.rawBody, req.get('x-signature'), sails.config.custom.paymentWebhookSecret)) {
    return sendError(res, 'unauthorized', 'missing or invalid X-Signature');
  }
  const body = validateBody(req, res, fund.schemas.callback);
  if (body === undefined) return;
  try {
    return res.status(200).json(await fund.handleCallback(sails, body));
  } catch (err) {
    return sendTransactError(res, err);
  }
};
