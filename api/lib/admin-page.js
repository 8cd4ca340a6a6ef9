/**
 * Wraps the admin page's actions: a session user (else the login page), the role a page needs,
 * and for state-changing requests the session's CSRF token and — for actions — the admin role
 * (403 otherwise, whatever the page showed). Errors become a page with a fitting status.
 */
const { atLeast } = require('./roles');
const { STATUS_OF_CODE } = require('./http-errors');
const { AdminError, newCsrfToken, validCsrf, rightsOf } = require('./admin');

function fail(res, status, message, me) {
  return res.status(status).view('admin/error', { title: `Error ${status}`, me: me || null, csrf: '', rights: rightsOf(me ? me.role : null), status, message });
}

/**
 * `options.act`: only admin (POST); `options.post`: a POST that any signed-in user may send
 * (CSRF still required); otherwise a page anyone signed in may read.
 */
function page(handler, options = {}) {
  return async function adminAction(req, res) {
    const session = req.session;
    const me = session && session.me;
    if (!me) {
      if (req.method === 'GET') return res.redirect('/admin/login');
      return fail(res, 401, 'sign in first');
    }
    if (!session.csrf) session.csrf = newCsrfToken();
    const changing = req.method !== 'GET' && req.method !== 'HEAD';
    if (options.act && !atLeast(me.role, 'admin')) return fail(res, 403, `role ${me.role} may not do this (needs admin)`, me);
    if (changing && !validCsrf(session, req.body && req.body._csrf)) return fail(res, 403, 'missing or wrong CSRF token: reload the page and try again', me);
    const render = (view, locals) => res.view(`admin/${view}`, { me, csrf: session.csrf, rights: rightsOf(me.role), flash: takeFlash(session), ...locals });
    try {
      return await handler(req, res, { me, render, session, flash: (text, kind = 'ok') => (session.flash = { text: String(text).slice(0, 2000), kind }) });
    } catch (err) {
      if (err instanceof AdminError) return fail(res, err.status, err.message, me);
      if (err && typeof err.code === 'string' && STATUS_OF_CODE[err.code] !== undefined) return fail(res, STATUS_OF_CODE[err.code], `${err.code}: ${err.message}`, me);
      throw err;
    }
  };
}

function takeFlash(session) {
  const flash = session.flash || null;
  delete session.flash;
  return flash;
}

/** Formats cents as 1,234.56. */
function money(cents) {
  if (cents === null || cents === undefined) return '—';
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100).toLocaleString('en-US')}.${String(abs % 100).padStart(2, '0')}`;
}

function age(ms) {
  if (ms === null || ms === undefined) return '—';
  const s = Math.floor(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min`;
  if (s < 172800) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

function when(at) {
  return at ? new Date(at).toISOString().replace('T', ' ').slice(0, 19) : '—';
}

module.exports = { page, fail, money, age, when };
