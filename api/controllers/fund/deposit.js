/**
 * POST /api/deposit {investor, amount} → 201 {payment}: a `pending` Payment with a new paymentId,
 * to be paid at the gateway and credited by its callback. Created through the engine.
 */
const fund = require('../../lib/fund');
const { sendTransactError } = require('../../lib/http-errors');
const { validateBody } = require('../../lib/validate');

module.exports = async function deposit(req, res) {
  const body = validateBody(req, res, fund.schemas.deposit);
  if (body === undefined) return;
  try {
    return res.status(201).json(await fund.deposit(sails, body));
  } catch (err) {
    return sendTransactError(res, err);
  }
};
