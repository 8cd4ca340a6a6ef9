/**
 * POST /api/withdrawal {investor, amount} → 201 {withdrawal, investor}: cash −amount (never below
 * 0: 409 insufficient_funds) and its ledger lines (cash −amount, withdrawals +amount), one batch.
 */
const fund = require('../../lib/fund');
const { sendTransactError } = require('../../lib/http-errors');
const { validateBody } = require('../../lib/validate');

module.exports = async function withdrawal(req, res) {
  const body = validateBody(req, res, fund.schemas.withdrawal);
  if (body === undefined) return;
  try {
    return res.status(201).json(await fund.withdraw(sails, body));
  } catch (err) {
    return sendTransactError(res, err);
  }
};
