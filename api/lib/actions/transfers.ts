/**
 * POST /transfers {from, to, amount[, memo]} [Idempotency-Key] → 201 {transaction, transfer} —
 * moves integer cents between two accounts in one transaction: debit (never below 0), credit, and
 * the Transfer record, all or nothing. Validated strictly like every other endpoint: no conversion
 * ("100", "1e3", true are refused), unknown fields refused, one error shape. A repeat with the
 * same Idempotency-Key (by the same user) moves nothing more and answers the same transfer;
 * another body under the key: 409 idempotency_conflict.
 */
import Joi = require('joi');
import { keyedOptions, MAX_AMOUNT } from '../fund';
import { type FundAction, sendCaught, sendError, validBody } from '../http';
import { callerKey } from './idempotency-key';

interface TransferInput {
  from: string;
  to: string;
  amount: number;
  memo?: string | null;
}

const accountId = Joi.string().min(1).max(100).pattern(/^[A-Za-z0-9_-]+$/);
const schema = Joi.object<TransferInput>({
  from: accountId.required(),
  to: accountId.required(),
  amount: Joi.number().integer().min(1).max(MAX_AMOUNT).required(),
  memo: Joi.string().max(500).allow(null),
});

export const createTransfer: FundAction = async (req, res) => {
  const body = validBody(req, res, schema);
  if (body === undefined) return;
  const { from, to, amount, memo = null } = body;
  if (from === to) {
    sendError(res, 'validation_failed', 'from and to must differ', 'body.to');
    return;
  }
  const key = callerKey(req, res);
  if (key === undefined) return;
  try {
    const result = await req._sails.transact(
      [
        { op: 'increment', model: 'account', id: from, field: 'balance', by: -amount, min: 0 },
        { op: 'increment', model: 'account', id: to, field: 'balance', by: amount },
        { op: 'create', model: 'transfer', values: { from, to, amount, memo } },
      ],
      { label: 'transfer', ...keyedOptions(key ?? undefined, 'transfer') },
    );
    res.status(201).json({ transaction: result.id, transfer: result.steps[2].id });
  } catch (err) {
    sendCaught(res, err);
  }
};
