/**
 * One error shape for every answer of the hook's HTTP layer:
 * `{"error": {"code", "message", "path"?}}` with the code's status (lib/http/status.ts).
 */
import { isTransactError } from '../errors';
import { type HttpErrorCode, statusOf } from './status';
import type { HttpResponse } from './types';

export interface ErrorBody {
  error: { code: string; message: string; path?: string };
}

export function errorBody(code: string, message: string, path?: string): ErrorBody {
  return { error: path === undefined ? { code, message } : { code, message, path } };
}

export function sendError(res: HttpResponse, code: HttpErrorCode, message: string, path?: string): void {
  res.status(statusOf(code) ?? 400).json(errorBody(code, message, path));
}

/**
 * Sends an engine error (a TransactError, recognized by shape) as its HTTP error, with its path
 * mapped to the request by `mapPath`; anything else is a server error (500, logged by Sails).
 */
export function sendEngineError(res: HttpResponse, err: unknown, mapPath: (path: string | undefined) => string | undefined = (path) => path): void {
  if (isTransactError(err) && statusOf(err.code) !== undefined) {
    sendError(res, err.code, err.message, mapPath(err.path));
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
