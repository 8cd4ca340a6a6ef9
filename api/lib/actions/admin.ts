/**
 * The admin page (api/controllers/admin/*): server-rendered views (views/admin), a cookie session,
 * a CSRF token on every POST. Every page but the sign-in form and its static files goes through
 * `page` (api/lib/admin/page.ts): signed in, the role it needs, the token.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isTransactError } from 'sails-hook-transact';
import * as admin from '../admin';
import { appState, type FundApp } from '../app';
import { fundError, FUND_REGISTRY } from '../errors';
import { crossSite } from '../same-origin';
import type { FundAction, SessionUser } from '../http';
import { pageOf, reconcile } from '../reconciliation';

/** GET /admin: transactions by state, recovery and jobs, counters, the 30-day volume chart. */
export const dashboard: FundAction = admin.page(async (req, res, { render }) => render('dashboard', { title: 'Dashboard', data: await admin.dashboard(req._sails), ...admin.FORMATS, now: Date.now() }));

/** GET /admin/attention?skip=: payments and orders needing attention, transactions stuck past their lease, 100 of each a page. */
export const attention: FundAction = admin.page(async (req, res, { render }) => render('attention', { title: 'Needs attention', data: await admin.attention(req._sails, admin.attentionSkip(req.query)), ...admin.FORMATS }));

const ID = /^[A-Za-z0-9_:-]{1,100}$/;
/** Where an action may send the browser back to: a page of the admin's own. */
const BACK = /^\/admin(\/[A-Za-z0-9_\-/]*)?(\?[^\s]*)?$/;

function text(value: unknown, name: string, required: boolean): string {
  const s = typeof value === 'string' ? value.trim() : '';
  if (required && s === '') throw fundError('validation_failed', `${name} is required`);
  if (s.length > 400) throw fundError('validation_failed', `${name} is too long (400 characters at most)`);
  return s;
}

function kindOf(value: unknown): admin.ItemKind {
  if (!admin.ITEM_KINDS.includes(value as admin.ItemKind)) throw fundError('validation_failed', 'kind must be payment or order');
  return value as admin.ItemKind;
}

/**
 * POST /admin/act/:action (admin, CSRF): retry | resolve, on payments and orders that need
 * attention. Each records who, when and why on the item's attempts. (Reversing and settling
 * transactions are the hook's ops page's actions: /admin/ops.)
 */
export const act: FundAction = admin.page(
  async (req, res, { me, flash }) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const id = String(body.id || '');
    if (!ID.test(id)) throw fundError('validation_failed', 'a valid id is required');
    const back = typeof body.back === 'string' && BACK.test(body.back) ? body.back : '/admin/attention';
    switch (req.param('action')) {
      case 'retry': {
        const kind = kindOf(body.kind);
        const { outcome } = await admin.retryItem(req._sails, kind, id, me);
        flash(`retried ${kind} ${id}: ${outcome}`);
        break;
      }
      case 'resolve': {
        const kind = kindOf(body.kind);
        await admin.resolveItem(req._sails, kind, id, me, text(body.note, 'a note', true));
        flash(`${kind} ${id} marked resolved`);
        break;
      }
      default:
        throw fundError('no_route', 'no such action');
    }
    return res.redirect(back);
  },
  { act: true },
);

/** The admin page's own static files (no CDN), from assets/admin/. */
const ASSET_TYPES: Readonly<Record<string, string>> = { 'admin.css': 'text/css; charset=utf-8', 'admin.js': 'text/javascript; charset=utf-8' };
const assetCache = new Map<string, Buffer>();

/** GET /admin/assets/:file */
export const asset: FundAction = (req, res) => {
  const file = req.param('file');
  if (typeof file !== 'string' || !Object.prototype.hasOwnProperty.call(ASSET_TYPES, file)) return res.status(404).type('text/plain').send('not found');
  let content = assetCache.get(file);
  if (content === undefined) {
    content = readFileSync(join(req._sails.config.appPath, 'assets', 'admin', file));
    assetCache.set(file, content);
  }
  res.set('Cache-Control', 'public, max-age=300');
  return res.type(ASSET_TYPES[file]).send(content);
};

/**
 * GET /admin/login: the form, with a CSRF token kept in the (anonymous) session;
 * POST /admin/login {username, password, _csrf}: a cookie session. A login from another site is
 * refused (login CSRF: it would sign the victim in to the attacker's account) by the token and,
 * where the browser says where the request comes from, by Sec-Fetch-Site / Origin.
 */
export const login: FundAction = async (req, res) => {
  const session = req.session;
  if (!session) throw new Error('the admin page needs a session (config/session.js)');
  const show = (status: number, error: string | null): unknown => {
    if (!session.csrf) session.csrf = admin.newCsrfToken();
    return res.status(status).view('admin/login', { title: 'Sign in', me: null, csrf: session.csrf, rights: {}, error, flash: null });
  };
  if (req.method === 'GET') return session.me ? res.redirect('/admin') : show(200, null);
  const body = (req.body ?? {}) as Record<string, unknown>;
  if (crossSite(req) || !admin.validCsrf(session, body._csrf)) return admin.fail(res, 403, "sign-in refused: it did not come from this site's form (reload the form and try again)");
  let user: SessionUser | null;
  try {
    user = await admin.login(req._sails, body.username, body.password, req.ip);
  } catch (err) {
    const status = isTransactError(err) ? FUND_REGISTRY.statusOf(err.code) : undefined;
    if (!isTransactError(err) || status === undefined) throw err;
    const retryAfter = err.details?.retryAfterSeconds;
    if (retryAfter !== undefined) res.set('Retry-After', String(retryAfter));
    return show(status, err.message);
  }
  if (!user) return show(401, 'wrong username or password');
  const me = user;
  return session.regenerate((err) => {
    if (err) return res.serverError(err);
    const fresh = req.session as NonNullable<typeof req.session>; // regenerate replaced it
    fresh.me = me;
    fresh.csrf = admin.newCsrfToken();
    return res.redirect('/admin');
  });
};

/** POST /admin/logout (CSRF): ends the session. */
export const logout: FundAction = admin.page(async (req, res, { session }) => session.destroy(() => res.redirect('/admin/login')));

/** When reconciliation was last asked for by hand, per app. */
const lastRun = (app: FundApp): { at: number | null; by: string } => appState(app, 'lastReconciliation', () => ({ at: null, by: '' }));

/**
 * GET /admin/reconciliation?after=&limit=&stuckSkip=: every investor's cash against its ledger,
 * every loan's raised against its allocations — the mismatches, a page at a time (linked to the
 * document's history), the stuck transactions a page at a time, and the money totals.
 * POST /admin/reconciliation (CSRF): run now. The same service as GET /api/reconciliation.
 */
export const reconciliation: FundAction = admin.page(async (req, res, { me, render, flash }) => {
  const app = req._sails;
  if (req.method === 'POST') {
    Object.assign(lastRun(app), { at: Date.now(), by: me.username });
    flash('reconciliation run now');
    return res.redirect('/admin/reconciliation');
  }
  const started = Date.now();
  const data = await reconcile(app, { detailed: true, page: pageOf(req.query) });
  const last = lastRun(app);
  const run = last.at === null ? { at: started, by: 'page load' } : last;
  return render('reconciliation', { title: 'Reconciliation', data, ms: Date.now() - started, lastRun: run, ...admin.FORMATS });
});
