/**
 * Sails' default error responses (`res.badRequest`, `res.forbidden`, `res.notFound`,
 * `res.serverError`) replaced by ones that answer the hook's error shape: a policy's `false`
 * (403 text/plain "Forbidden"), a route nothing serves (404 text/plain), Waterline's
 * E_INVALID_CRITERIA, and above all any unexpected error — which Sails' default answers, outside
 * production, with its stack trace and this machine's file paths. Here a server error answers
 * `{"error": {"code": "internal", "message": "internal error"}}` in every environment and the
 * detail goes to the log only.
 *
 * An app that defines its own `api/responses/<name>.js` keeps it: only Sails' defaults are replaced.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { errorBody } from './error-shape';

/** The slice of Sails these responses need. */
export interface ResponsesApp {
  config: { paths?: { responses?: unknown }; appPath?: unknown; [key: string]: unknown };
  log: { error(...args: unknown[]): void };
  middleware?: { responses?: Record<string, unknown> };
  on(event: string, handler: () => void): void;
}

/** Sails binds each response with `this = {req, res}`. */
interface Bound {
  req: unknown;
  res: { headersSent?: boolean; status(code: number): { json(body: unknown): unknown } };
}

type Response = (this: Bound, data?: unknown) => unknown;

function answer(self: Bound, status: number, body: unknown): unknown {
  // An action that already answered and then failed: nothing more can be sent.
  if (self.res.headersSent === true) return undefined;
  return self.res.status(status).json(body);
}

/** Whether `data` is already the hook's error shape (an action that called res.badRequest(errorBody(…))). */
function isErrorBody(data: unknown): data is { error: { code: string; message: string; path?: string } } {
  if (data === null || typeof data !== 'object') return false;
  const error = (data as { error?: unknown }).error;
  return error !== null && typeof error === 'object' && typeof (error as { code?: unknown }).code === 'string' && typeof (error as { message?: unknown }).message === 'string';
}

export function errorResponses(log: ResponsesApp['log']): Record<'badRequest' | 'forbidden' | 'notFound' | 'serverError', Response> {
  return {
    badRequest(data) {
      if (isErrorBody(data)) {
        const { code, message, path } = data.error;
        return answer(this, 400, errorBody(code, message, typeof path === 'string' ? path : undefined));
      }
      // Waterline's and Sails' own refusals (E_INVALID_CRITERIA, E_MISSING_OR_INVALID_PARAMS) carry
      // internals in their messages: the code says what kind of problem, nothing more.
      return answer(this, 400, errorBody('validation_failed', 'the request is not valid'));
    },
    forbidden() {
      return answer(this, 403, errorBody('forbidden', 'you may not do this'));
    },
    notFound() {
      return answer(this, 404, errorBody('no_route', 'no route serves this method and path'));
    },
    serverError(err) {
      log.error('sails-hook-transact: answering 500 internal error for', err);
      return answer(this, 500, errorBody('internal', 'internal error'));
    },
  };
}

/**
 * Replaces Sails' default error responses with errorResponses, keeping any the app defines in its
 * responses folder. Sails binds `sails.middleware.responses` onto every request; it is filled once
 * the hooks have loaded, and re-read on every request, so replacing it at `router:before` (every
 * (re)binding) covers all routes, the blueprints' and the app's alike.
 */
export function installErrorResponses(sails: ResponsesApp): void {
  const own = (name: string): boolean => {
    const folder = sails.config.paths?.responses;
    return typeof folder === 'string' && (existsSync(join(folder, `${name}.js`)) || existsSync(join(folder, `${name}.ts`)));
  };
  sails.on('router:before', () => {
    const responses = sails.middleware?.responses;
    if (responses === undefined) return;
    for (const [name, response] of Object.entries(errorResponses(sails.log))) {
      if (!own(name)) responses[name] = response;
    }
  });
}
