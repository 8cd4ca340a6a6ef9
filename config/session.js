/**
 * Cookie sessions, for the admin page only (/admin): the JSON API authenticates with bearer
 * tokens and never gets a session cookie. The secret comes from SESSION_SECRET; development uses
 * a fixed public one, which production refuses (api/hooks/production-guard).
 */
const DEV_SESSION_SECRET = 'development-only-session-secret-do-not-use-in-production';

module.exports.session = {
  DEV_SESSION_SECRET,
  secret: process.env.SESSION_SECRET || DEV_SESSION_SECRET,
  name: 'fund.admin.sid',
  cookie: {
    path: '/admin',
    httpOnly: true,
    sameSite: 'strict',
    maxAge: 8 * 60 * 60 * 1000,
    secure: process.env.SESSION_COOKIE_SECURE === 'true',
  },
  isSessionDisabled(req) {
    const path = req.path || '';
    return !(path === '/admin' || path.startsWith('/admin/')) || path.startsWith('/admin/assets/');
  },
};
