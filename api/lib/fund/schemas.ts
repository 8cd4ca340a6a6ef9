/**
 * The fund's request bodies (strict: no conversion, unknown fields refused by api/lib/http.ts).
 */
import Joi = require('joi');
import { MAX_AMOUNT } from './planning';

const id = Joi.string().min(1).max(64).pattern(/^[A-Za-z0-9_-]+$/);
const amount = Joi.number().integer().min(1).max(MAX_AMOUNT);

export interface MovementInput {
  investor: string;
  amount: number;
}

export interface OrderInput {
  investor: string;
  amount: number;
  maxPerLoan?: number | null;
  funding: 'cash' | 'gateway';
}

export interface CallbackInput {
  paymentId: string;
  status: 'succeeded' | 'failed';
  amount: number;
}

export const schemas = {
  deposit: Joi.object<MovementInput>({ investor: id.required(), amount: amount.required() }),
  withdrawal: Joi.object<MovementInput>({ investor: id.required(), amount: amount.required() }),
  order: Joi.object<OrderInput>({
    investor: id.required(),
    amount: amount.required(),
    maxPerLoan: amount.allow(null),
    funding: Joi.string().valid('cash', 'gateway').required(),
  }),
  callback: Joi.object<CallbackInput>({ paymentId: id.required(), status: Joi.string().valid('succeeded', 'failed').required(), amount: amount.required() }),
  reassign: Joi.object<{ investor: string; reason: string }>({ investor: id.required(), reason: Joi.string().min(1).max(300).required() }),
  paymentId: id.required(),
  idempotencyKey: Joi.string().min(1).max(200).pattern(/^[\x21-\x7e]+$/),
};
