/**
 * GET /admin/login: the form, with a CSRF token kept in the (anonymous) session;
 * POST /admin/login {username, password, _csrf}: a cookie session. A login from another site is
 * refused (login CSRF: it would sign the victim in to the attacker's account) by the token and,
 * where the browser says where the request comes from, by Sec-Fetch-Site / Origin.
 */
const { login, newCsrfToken, validCsrf, AdminError } = require('../../lib/admin');
const { crossSite } = require('../../lib/same-origin');

module.exports = async function adminLogin(req, res) {
  const session = req.session;
  const show = (status, error) => {
    if (!session.csrf) session.csrf = newCsrfToken();
    return res.status(status).view('admin/login', { title: 'Sign in', me: null, csrf: session.csrf, rights: {}, error, flash: null });
  };
  if (req.method === 'GET') return session.me ? res.redirect('/admin') : show(200, null);
  const body = req.body || {};
  if (crossSite(req) || !validCsrf(session, body._csrf)) {
    return res.status(403).view('admin/error', { title: 'Error 403', me: null, csrf: '', rights: {}, status: 403, message: 'sign-in refused: it did not come from this site\'s form (reload the form and try again)' });
  }
  let user;
  try {
    user = await login(sails, body.username, body.password, req.ip);
  } catch (err) {
    if (!(err instanceof AdminError)) throw err;
    if (err.retryAfter !== undefined) res.set('Retry-After', String(err.retryAfter));
    return show(err.status, err.message);
  }
  if (!user) return show(401, 'wrong username or password');
  return session.regenerate((err) => {
    if (err) return res.serverError(err);
    req.session.me = user;
    req.session.csrf = newCsrfToken();
    return res.redirect('/admin');
  });
};
