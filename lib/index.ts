/**
 * sails-hook-transact: crash-safe multi-document transactions for Sails on any Waterline datastore.
 * The export is the Sails hook (Sails calls it with the app); its properties are the pieces an
 * app may use directly. A namespace merged with the function carries the public types, so
 * `import transact = require('sails-hook-transact')` gives both: `transact.listTransactions(…)`,
 * `transact.TransactionSummary`.
 */
import * as errors from './errors';
import * as http from './http';
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

  /** The HTTP layer's pieces an app builds on (its own error codes, its own actions). */
  export const STATUS_OF_CODE = http.STATUS_OF_CODE;
  export const statusOf = http.statusOf;
  export const errorBody = http.errorBody;
  export const sendError = http.sendError;
  export const sendEngineError = http.sendEngineError;
  export const restRoutes = http.restRoutes;
  export const transactionalModels = http.transactionalModels;
  export const valuesSchema = http.valuesSchema;
  export type HttpErrorCode = http.HttpErrorCode;
  export type RoutesConfig = http.RoutesConfig;
  export type HttpAllowlist = http.HttpAllowlist;
  export type HttpRequest = http.HttpRequest;
  export type HttpResponse = http.HttpResponse;
  export type ErrorBody = http.ErrorBody;
}

export = sailsHookTransact;
