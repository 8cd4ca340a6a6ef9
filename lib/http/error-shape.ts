/**
 * One error shape for every answer of the hook's HTTP layer, and of the app's:
 * `{"error": {"code", "message", "path"?}}` with the code's status in the registry (lib/core/errors.ts).
 * The hook's own answers use its codes; an app passes the registry with its codes
 * (`sails.hooks.transact.errors`).
 */
import { type ErrorRegistry, HOOK_ERRORS, type HttpErrorCode, isTransactError } from '../core/errors';
import type { HttpResponse } from './sails';

export interface ErrorBody {
  error: { code: string; message: string; path?: string };
}

export function errorBody(code: string, message: string, path?: string): ErrorBody {
  return { error: path === undefined ? { code, message } : { code, message, path } };
}

export function sendError(res: HttpResponse, code: HttpErrorCode, message: string, path?: string): void;
export function sendError<C extends string>(res: HttpResponse, code: C, message: string, path: string | undefined, registry: ErrorRegistry<C>): void;
export function sendError(res: HttpResponse, code: string, message: string, path?: string, registry: ErrorRegistry = HOOK_ERRORS): void {
  const status = registry.statusOf(code);
  // A code outside the registry is a bug of the caller's, not the client's: never a guessed 4xx.
  if (status === undefined) throw new Error(`error code "${code}" is not in the error registry`);
  res.status(status).json(errorBody(code, message, path));
}

/**
 * Sends an engine error (a TransactError, recognized by shape) as its HTTP error, with its path
 * mapped to the request by `mapPath`; anything else is a server error (500, logged by Sails).
 */
export function sendEngineError(res: HttpResponse, err: unknown, mapPath: (path: string | undefined) => string | undefined = (path) => path, registry: ErrorRegistry = HOOK_ERRORS): void {
  if (isTransactError(err) && registry.has(err.code)) {
    sendError(res, err.code, err.message, mapPath(err.path), registry);
    return;
  }
  serverError(res, err);
}

export function serverError(res: HttpResponse, err: unknown): void {
  if (typeof res.serverError === 'function') {
    res.serverError(err);
    return;
  }
  res.status(500).json(errorBody('internal', 'internal error'));
}
