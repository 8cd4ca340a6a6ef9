/**
 * Cookie sessions, for the admin page only (/admin): the JSON API authenticates with bearer
 * tokens and never gets a session cookie. The secret comes from SESSION_SECRET; development uses
 * a fixed public one, which production refuses (api/hooks/production-guard).
 *
 * Sessions live in Redis when REDIS_URL is set (Sails' own convention: the session hook connects
 * with the bundled redis client, and the login limits use that same client, api/lib/login-limit.js),
 * so any instance behind a load balancer serves any session. Without REDIS_URL they live in this
 * process's memory: development only — production refuses to start without it. Keys start with
 * REDIS_PREFIX (default `fund:`), so several apps or test runs can share one Redis.
 */
const DEV_SESSION_SECRET = 'development-only-session-secret-do-not-use-in-production';
const REDIS_PREFIX = process.env.REDIS_PREFIX || 'fund:';

const store = process.env.REDIS_URL ? { adapter: '@sailshq/connect-redis', url: process.env.REDIS_URL, prefix: `${REDIS_PREFIX}sess:` } : { adapter: 'memory' };

module.exports.session = {
  DEV_SESSION_SECRET,
  REDIS_PREFIX,
  ...store,
  secret: process.env.SESSION_SECRET || DEV_SESSION_SECRET,
  name: 'fund.admin.sid',
  // Stored only once something is in it (the login form's CSRF token, a signed-in user): a
  // request that never shows the form does not create a session in Redis.
  saveUninitialized: false,
  resave: false,
  cookie: {
    path: '/admin',
    httpOnly: true,
    sameSite: 'strict',
    maxAge: 8 * 60 * 60 * 1000,
    // Production sends the cookie over HTTPS only; behind a TLS-terminating proxy set TRUST_PROXY
    // (config/http.js) so the app knows the request was HTTPS, or no cookie is sent at all.
    secure: process.env.NODE_ENV === 'production' || process.env.SESSION_COOKIE_SECURE === 'true',
  },
  isSessionDisabled(req) {
    const path = req.path || '';
    return !(path === '/admin' || path.startsWith('/admin/')) || path.startsWith('/admin/assets/');
  },
};
