/**
 * The fund's own error codes, each with its status and meaning. They join the hook's in its one
 * registry (config/transact.js gives them as `errors`; `sails.hooks.transact.errors` is the
 * union, equal to FUND_REGISTRY below: a test checks it) and in docs/errors.md's table.
 */
import { HOOK_ERRORS, type HttpErrorCode, TransactError, type ErrorOptions } from 'sails-hook-transact';

export const FUND_ERRORS = {
  insufficient_funds: { status: 409, meaning: "The investor's cash does not cover the amount; nothing was written." },
  insufficient_capacity: { status: 409, meaning: 'Open loans cannot take the amount (at the order\'s maxPerLoan); nothing was written.' },
  amount_mismatch: { status: 409, meaning: 'A payment callback names another amount than the payment: recorded as an anomaly, nothing credited.' },
  account_frozen: { status: 409, meaning: 'The account is frozen: it sends and receives no money and is not closed; nothing was written.' },
  account_not_empty: { status: 409, meaning: 'The account holds money: it is closed only at a balance of 0; nothing was written.' },
  gateway_unavailable: { status: 502, meaning: 'The payment gateway did not answer (or answered an error); nothing was changed.' },
} as const;

export type FundErrorCode = HttpErrorCode | keyof typeof FUND_ERRORS;

export const FUND_REGISTRY = HOOK_ERRORS.with(FUND_ERRORS);

export type FundError = TransactError<FundErrorCode>;

/** A refusal with a registry code (nothing was written). */
export function fundError(code: FundErrorCode, message: string, options: ErrorOptions = {}): FundError {
  return new TransactError<FundErrorCode>(code, message, options);
}
