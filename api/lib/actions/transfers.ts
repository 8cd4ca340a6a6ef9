/**
 * POST /transfers {from, to, amount[, memo]} → 201 {transaction, transfer} — moves integer cents
 * between two accounts in one transaction (api/lib/fund/accounts.ts `transfer`): debit (never
 * below 0), credit, the Transfer record and its account lines, all or nothing; 409
 * account_frozen when either account is frozen. Validated strictly like every other endpoint: no
 * conversion ("100", "1e3", true are refused), unknown fields refused, one error shape.
 *
 * DELETE /api/account/:id → 200 {the account as it was}: closes an account at balance 0 (409
 * account_not_empty, account_frozen); it replaces the blueprint destroy (Account has none).
 */
import Joi = require('joi');
import { closeAccount, MAX_AMOUNT, transfer, type TransferInput } from '../fund';
import { type FundAction, sendCaught, validate, validBody } from '../http';
import { callerKey } from './idempotency-key';

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
  const key = callerKey(req, res);
  if (key === undefined) return;
  try {
    res.status(201).json(await transfer(req._sails, body, key ?? undefined));
  } catch (err) {
    sendCaught(res, err);
  }
};

export const destroyAccount: FundAction = async (req, res) => {
  const id = validate(req.param('id'), accountId.required(), res, 'id');
  if (id === undefined) return;
  try {
    const { account, transaction } = await closeAccount(req._sails, id);
    res.set('X-Transaction-Id', transaction).status(200).json(account);
  } catch (err) {
    sendCaught(res, err);
  }
};
