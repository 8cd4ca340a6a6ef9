/**
 * POST /transfers {from, to, amount[, memo]} → 201 {transaction, transfer} — moves integer cents
 * between two accounts in one transaction: debit (never below 0), credit, and the Transfer
 * record, all or nothing. Validated strictly like every other endpoint (api/lib/validate.js):
 * no conversion ("100", "1e3", true are refused), unknown fields refused, one error shape.
 */
const Joi = require('joi');
const { MAX_AMOUNT } = require('../../lib/fund');
const { sendError, sendTransactError } = require('../../lib/http-errors');
const { validateBody } = require('../../lib/validate');

const accountId = Joi.string().min(1).max(100).pattern(/^[A-Za-z0-9_-]+$/);
const schema = Joi.object({
  from: accountId.required(),
  to: accountId.required(),
  amount: Joi.number().integer().min(1).max(MAX_AMOUNT).required(),
  memo: Joi.string().max(500).allow(null),
});

module.exports = async function createTransfer(req, res) {
  const body = validateBody(req, res, schema);
  if (body === undefined) return;
  const { from, to, amount, memo = null } = body;
  if (from === to) return sendError(res, 'validation_failed', 'from and to must differ', 'body.to');
  try {
    const result = await sails.transact(
      [
        { op: 'increment', model: 'account', id: from, field: 'balance', by: -amount, min: 0 },
        { op: 'increment', model: 'account', id: to, field: 'balance', by: amount },
        { op: 'create', model: 'transfer', values: { from, to, amount, memo } },
      ],
      { label: 'transfer' },
    );
    return res.status(201).json({ transaction: result.id, transfer: result.steps[2].id });
  } catch (err) {
    return sendTransactError(res, err);
  }
};
