/**
 * sails-hook-transact: crash-safe multi-document transactions for Sails on any Waterline datastore.
 * The export is the Sails hook (Sails calls it with the app); its properties are the pieces an
 * app may use directly. A namespace merged with the function carries the public types, so
 * `import transact = require('sails-hook-transact')` gives both: `transact.listTransactions(…)`,
 * `transact.TransactionSummary`.
 */
import * as errors from './errors';
import { transactHook, type SailsApp, type TransactHook } from './hook';
import * as ids from './ids';
import * as queries from './queries';

function sailsHookTransact(sails: SailsApp): TransactHook {
  return transactHook(sails);
}

// A namespace merged with the function: the one way to give an `export =` value named types.
namespace sailsHookTransact {
  export const transactHook = sailsHookTransact;
  export const newId = ids.newId;
  export const TransactError = errors.TransactError;
  export type TransactError = errors.TransactError;
  export type TransactErrorCode = errors.TransactErrorCode;
  export const isTransactError = errors.isTransactError;
  export const TRANSACT_ERROR_CODES = errors.TRANSACT_ERROR_CODES;

  export const listTransactions = queries.listTransactions;
  export const stuckTransactions = queries.stuckTransactions;
  export const settleStuck = queries.settleStuck;
  export const summaryOf = queries.summaryOf;
  export type TransactionQuery = queries.TransactionQuery;
  export type TransactionSummary = queries.TransactionSummary;
  export type TransactionPage = queries.TransactionPage;
  export type ListOptions = queries.ListOptions;
  export type StuckTransaction = queries.StuckTransaction;
  export type StuckPage = queries.StuckPage;
  export type SettleNote = queries.SettleNote;
  export type SettleResult = queries.SettleResult;
}

export = sailsHookTransact;
