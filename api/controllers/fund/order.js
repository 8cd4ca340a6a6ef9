/**
 * POST /api/order {investor, amount, maxPerLoan?, funding} [Idempotency-Key] → 201
 * {order, allocations, payment?}.
 *   cash:    one batch — cash −amount (min 0), invested +amount, the amount spread over as many
 *            open loans as possible (platforms interleaved, parts ≤ maxPerLoan and ≤ room), the
 *            allocations, ledger lines, the order `allocated`. 409 insufficient_funds /
 *            insufficient_capacity with nothing written (also when a loan fills up meanwhile).
 *   gateway: the order `awaiting_payment` and its pending Payment; the callback allocates it.
 * A repeat with the same Idempotency-Key returns the same order.
 */
const fund = require('../../lib/fund');
const { sendTransactError } = require('../../lib/http-errors');
const { validate, validateBody } = require('../../lib/validate');

module.exports = async function order(req, res) {
  const body = validateBody(req, res, fund.schemas.order);
  if (body === undefined) return;
  const header = req.get('idempotency-key');
  let key;
  if (header !== undefined) {
    key = validate(header, fund.schemas.idempotencyKey, res, 'headers.idempotency-key');
    if (key === undefined) return;
  }
  try {
    return res.status(201).json(await fund.placeOrder(sails, body, key));
  } catch (err) {
    return sendTransactError(res, err);
  }
};
