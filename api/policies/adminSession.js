/**
 * The admin page's cookie session, for the hook's ops page (/admin/ops; config/policies.js): a
 * signed-in user of any role may look; the ops page's `actor` (api/lib/admin.js) decides who acts.
 */
module.exports = function adminSession(req, res, proceed) {
  if (req.session && req.session.me) return proceed();
  if (req.method === 'GET' || req.method === 'HEAD') return res.redirect('/admin/login');
  return res.status(401).type('text/plain').send('sign in first');
};
