/**
 * The admin page's one wrapper of its actions — a session user (else the login page), the role an
 * action needs, the session's CSRF token on every state-changing request — and the formatters its
 * views use. Errors become an error page with the status of their registry code.
 */
import { isTransactError } from 'sails-hook-transact';
import { FUND_REGISTRY } from '../errors';
import type { AdminSession, FundRequest, FundResponse, SessionUser } from '../http';
import { atLeast } from '../roles';
import { newCsrfToken, rightsOf, validCsrf } from './session';

export type Flash = NonNullable<AdminSession['flash']>;

/** What the wrapper gives an admin action. */
export interface PageTools {
  me: SessionUser;
  session: AdminSession;
  /** Renders views/admin/<view>.ejs with the layout's locals (user, CSRF token, rights, flash). */
  render(view: string, locals: Record<string, unknown>): unknown;
  /** A message for the next page this session sees (after a redirect). */
  flash(text: unknown, kind?: string): void;
}

export type PageHandler = (req: FundRequest, res: FundResponse, tools: PageTools) => Promise<unknown>;

/** `act`: only an admin may (a POST); otherwise any signed-in user. */
export interface PageOptions {
  act?: boolean;
}

/** The error page (views/admin/error.ejs). */
export function fail(res: FundResponse, status: number, message: string, me: SessionUser | null = null): unknown {
  return res.status(status).view('admin/error', { title: `Error ${status}`, me, csrf: '', rights: rightsOf(me?.role), status, message });
}

function takeFlash(session: AdminSession): Flash | null {
  const flash = session.flash ?? null;
  delete session.flash;
  return flash;
}

/**
 * An admin action: a GET without a session goes to the login form, any other request is refused
 * (401); a POST needs the session's CSRF token, and with `act` the admin role (403 otherwise,
 * whatever the page showed). A registry error the handler throws answers its code's status;
 * anything else is Sails' 500.
 */
export function page(handler: PageHandler, options: PageOptions = {}): (req: FundRequest, res: FundResponse) => Promise<unknown> {
  return async function adminAction(req, res) {
    const session = req.session;
    const me = session?.me;
    if (!session || !me) {
      if (req.method === 'GET') return res.redirect('/admin/login');
      return fail(res, 401, 'sign in first');
    }
    if (!session.csrf) session.csrf = newCsrfToken();
    const changing = req.method !== 'GET' && req.method !== 'HEAD';
    if (options.act && !atLeast(me.role, 'admin')) return fail(res, 403, `role ${me.role} may not do this (needs admin)`, me);
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (changing && !validCsrf(session, body._csrf)) return fail(res, 403, 'missing or wrong CSRF token: reload the page and try again', me);
    const tools: PageTools = {
      me,
      session,
      render: (view, locals) => res.view(`admin/${view}`, { me, csrf: session.csrf, rights: rightsOf(me.role), flash: takeFlash(session), ...locals }),
      flash: (text, kind = 'ok') => {
        session.flash = { text: String(text).slice(0, 2000), kind };
      },
    };
    try {
      return await handler(req, res, tools);
    } catch (err) {
      const status = isTransactError(err) ? FUND_REGISTRY.statusOf(err.code) : undefined;
      if (!isTransactError(err) || status === undefined) throw err;
      return fail(res, status, `${err.code}: ${err.message}`, me);
    }
  };
}

/** Cents as 1,234.56. */
export function money(cents: number | null | undefined): string {
  if (cents === null || cents === undefined) return '—';
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100).toLocaleString('en-US')}.${String(abs % 100).padStart(2, '0')}`;
}

/** A duration, rounded to the unit that fits it (s, min, h, d). */
export function age(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  const s = Math.floor(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min`;
  if (s < 172800) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

/** A time as `YYYY-MM-DD HH:MM:SS` (UTC). */
export function when(at: number | null | undefined): string {
  return at ? new Date(at).toISOString().replace('T', ' ').slice(0, 19) : '—';
}

/** The formatters every admin view gets. */
export const FORMATS = { money, age, when };
