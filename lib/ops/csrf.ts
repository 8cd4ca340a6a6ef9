/**
 * The ops page's defence against forged POSTs, two checks that each stand alone:
 *
 * - a token bound to the signed-in session: HMAC-SHA256 of a server secret over the mount path
 *   and the session's identity (what the app's `session(req)` names, by default Express'
 *   `req.sessionID`). Nothing about it lives in a cookie, so someone who can set cookies for the
 *   host (another service on it — cookies ignore ports — or a sibling subdomain) cannot plant a
 *   pair that matches: they would need the secret. No session identity, no token: POSTs are
 *   refused.
 * - where the browser says the request comes from: `Sec-Fetch-Site` other than `same-origin` /
 *   `none`, or an `Origin` that is not the page's own (scheme, host and port), is refused.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isHttps, type OpsRequest } from './http';

export const CSRF_FIELD = '_csrf';

/** Keeps the tokens apart from anything else signed with the same secret (the session cookie's signature is an HMAC of the id alone). */
const PURPOSE = 'sails-hook-transact/ops-csrf/v1';

/** The session's identity as the app names it: a non-empty string, else none. */
export type SessionOf = (req: OpsRequest) => string | null | undefined;

/** Express' session id (express-session, which Sails' session hook uses), when there is one. */
export const sessionIdOf: SessionOf = (req) => {
  const id = (req as OpsRequest & { sessionID?: unknown }).sessionID;
  return typeof id === 'string' ? id : null;
};

/** A secret for this process only: tokens then do not survive a restart or reach another instance (refused, never accepted). */
export function processSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** The token of one session on one mount path (43 base64url characters), or null without a session. */
export function csrfTokenOf(secret: string, base: string, session: string | null | undefined): string | null {
  if (typeof session !== 'string' || session === '') return null;
  return createHmac('sha256', secret).update(`${PURPOSE}\n${base}\n${session}`).digest('base64url');
}

/** Whether the form carries the session's token (compared in constant time); never without a session. */
export function validCsrf(expected: string | null, form: ReadonlyMap<string, string>): boolean {
  const field = form.get(CSRF_FIELD);
  if (expected === null || field === undefined) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(field);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The request's own origin as a browser names it: scheme, Host header (port included). */
export function ownOrigin(req: OpsRequest): string | null {
  const host = req.headers.host;
  return typeof host === 'string' && host !== '' ? `${isHttps(req) ? 'https' : 'http'}://${host.toLowerCase()}` : null;
}

/**
 * Why a POST comes from elsewhere, or null when nothing says so. `origins`: the origins the app
 * is reached at (behind a proxy that rewrites Host); without them, the request's own origin.
 * `Origin: null` (a sandboxed frame, a page with `Referrer-Policy: no-referrer`) is another
 * origin: the ops page's own pages send theirs. Neither header (curl, an old browser): the
 * token alone decides.
 */
export function foreignRequest(req: OpsRequest, origins: readonly string[] | null): string | null {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') return `the browser says this request comes from another site (Sec-Fetch-Site: ${site.slice(0, 40)})`;
  const origin = req.headers.origin;
  if (typeof origin !== 'string') return null;
  const allowed = origins ?? [ownOrigin(req)];
  return allowed.includes(origin.toLowerCase()) ? null : `the form was sent from another origin (Origin: ${origin.slice(0, 100)})`;
}
