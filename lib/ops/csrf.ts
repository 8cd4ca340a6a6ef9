/**
 * CSRF without a secret from the app: a double-submit token. A random token lives in a cookie
 * (HttpOnly, SameSite=Strict, scoped to the ops path, Secure over https) and in a hidden field
 * of every form; a POST is accepted only when both are present and equal (compared in constant
 * time). A cross-site page can neither read the cookie nor make the browser send it (SameSite),
 * so it cannot produce the matching field.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { appendCookie, cookiesOf, isHttps, type OpsRequest, type OpsResponse } from './http';

export const CSRF_COOKIE = 'transact_ops_csrf';
export const CSRF_FIELD = '_csrf';
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** The request's token, or a new one set as a cookie on the response: what forms must carry. */
export function csrfToken(req: OpsRequest, res: OpsResponse, path: string): string {
  const existing = cookiesOf(req).get(CSRF_COOKIE);
  if (existing !== undefined && TOKEN.test(existing)) return existing;
  const token = randomBytes(32).toString('base64url');
  appendCookie(res, `${CSRF_COOKIE}=${token}; Path=${path}; HttpOnly; SameSite=Strict${isHttps(req) ? '; Secure' : ''}`);
  return token;
}

/** True when the form's token equals the cookie's. */
export function validCsrf(req: OpsRequest, form: ReadonlyMap<string, string>): boolean {
  const cookie = cookiesOf(req).get(CSRF_COOKIE);
  const field = form.get(CSRF_FIELD);
  if (cookie === undefined || field === undefined || !TOKEN.test(cookie)) return false;
  const a = Buffer.from(cookie);
  const b = Buffer.from(field);
  return a.length === b.length && timingSafeEqual(a, b);
}
