/**
 * The admin page's session: the login form's check, its CSRF token, and what a role may see and
 * do there (and on the hook's ops page, through `opsActor`).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FundApp } from '../app';
import { checkLogin, retryAfterSeconds } from '../auth';
import { fundError } from '../errors';
import type { AdminSession, FundRequest, SessionUser } from '../http';
import { atLeast, roleMayReadHistory } from '../roles';

/** What a role may do on the page: act on items (retry, resolve, the ops page's actions), look at reconciliation. */
export interface Rights {
  act: boolean;
  reconcile: boolean;
}

/**
 * The signed-in user of a correct login, null otherwise; past the limits a `rate_limited` error
 * with `details.retryAfterSeconds` — the API's counters (api/lib/auth.ts checkLogin).
 */
export async function login(app: FundApp, username: unknown, password: unknown, ip: string): Promise<SessionUser | null> {
  if (typeof username !== 'string' || typeof password !== 'string' || username.length === 0 || username.length > 100 || password.length > 200) return null;
  const result = await checkLogin(app, username, password, ip);
  if ('retryAfterMs' in result) {
    const seconds = retryAfterSeconds(result.retryAfterMs);
    throw fundError('rate_limited', `too many login attempts; retry in ${seconds} s`, { details: { retryAfterSeconds: seconds } });
  }
  if (!('user' in result)) return null;
  return { id: result.user.id, username: result.user.username, role: result.user.role };
}

export function newCsrfToken(): string {
  return randomBytes(24).toString('base64url');
}

/** Whether `token` is the session's CSRF token (compared in constant time). */
export function validCsrf(session: AdminSession | undefined, token: unknown): boolean {
  if (!session || typeof session.csrf !== 'string' || typeof token !== 'string') return false;
  const a = Buffer.from(session.csrf);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function rightsOf(role: string | null | undefined): Rights {
  return { act: atLeast(role, 'admin'), reconcile: atLeast(role, 'monitor') || role === 'readonly' };
}

/** The hook's ops page's `actor` (config/transact.js): the signed-in admin's username; any other role only looks. */
export function opsActor(req: Pick<FundRequest, 'session'>): string | null {
  const me = req.session?.me;
  return me && rightsOf(me.role).act ? me.username : null;
}

/**
 * The hook's ops page's `mayReadHistory` (config/transact.js): the REST API's rule (`mayReadHistory`
 * in api/lib/roles.ts) for the admin session's role, so a history the API refuses a role is
 * refused on the ops page too.
 */
export function opsMayReadHistory(req: Pick<FundRequest, 'session' | '_sails'>, model: string): boolean {
  return roleMayReadHistory(req._sails.config.policies, req.session?.me?.role, model);
}
