/** GET /admin/login: the form; POST /admin/login {username, password}: a cookie session. */
const { login, newCsrfToken, AdminError } = require('../../lib/admin');

module.exports = async function adminLogin(req, res) {
  const show = (status, error) => res.status(status).view('admin/login', { title: 'Sign in', me: null, csrf: '', rights: {}, error, flash: null });
  if (req.method === 'GET') return req.session && req.session.me ? res.redirect('/admin') : show(200, null);
  const body = req.body || {};
  let user;
  try {
    user = await login(sails, body.username, body.password, req.ip);
  } catch (err) {
    if (err instanceof AdminError) return show(err.status, err.message);
    throw err;
  }
  if (!user) return show(401, 'wrong username or password');
  return req.session.regenerate((err) => {
    if (err) return res.serverError(err);
    req.session.me = user;
    req.session.csrf = newCsrfToken();
    return res.redirect('/admin');
  });
};
