/** POST /admin/logout (CSRF): ends the session. */
const { page } = require('../../lib/admin-page');

module.exports = page(async (req, res) => req.session.destroy(() => res.redirect('/admin/login')), { post: true });
