/**
 * HTTP: not Sails' default port 1337 (PORT overrides), and a strict JSON body parser that keeps
 * the raw body (the payment callback's signature is computed over it) and answers malformed or
 * oversized bodies with the API's error shape; security headers on every response; the proxy to trust.
 */
const express = require('express');

const json = express.json({
  limit: process.env.TRANSACT_BODY_LIMIT || '512kb',
  strict: true,
  verify: (req, _res, buffer) => {
    req.rawBody = buffer;
  },
});

function jsonBodyParser() {
  return function parseJson(req, res, next) {
    json(req, res, (err) => {
      if (!err) return next();
      const tooLarge = err.type === 'entity.too.large';
      return res.status(tooLarge ? 413 : 400).json({
        error: { code: tooLarge ? 'payload_too_large' : 'malformed_json', message: tooLarge ? `the body exceeds ${err.limit} bytes` : 'the body is not valid JSON' },
      });
    });
  };
}

/**
 * The admin page's HTML forms (application/x-www-form-urlencoded) are parsed on /admin routes
 * only; everything else keeps the strict JSON parser above.
 */
const adminForm = express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 50 });

function isAdminPath(req) {
  const path = req.path || '';
  return path === '/admin' || path.startsWith('/admin/');
}

function bodyParser() {
  const parseJson = jsonBodyParser();
  return function parseBody(req, res, next) {
    if (isAdminPath(req) && req.is('application/x-www-form-urlencoded')) {
      return adminForm(req, res, (err) => (err ? res.status(err.status || 400).type('text/plain').send('bad form body') : next()));
    }
    return parseJson(req, res, next);
  };
}

/**
 * The headers every response carries, pages and API alike (set first, so errors and 404s have
 * them too). Like the hook's ops page (lib/ops/http.ts, which sets its own, the same policy plus
 * its Referrer-Policy), no page may run a script but the admin page's own file, load anything
 * from elsewhere, post a form elsewhere, or be framed. HSTS only in production, where the app is
 * served over HTTPS (here or at a TLS-terminating proxy).
 */
const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

function securityHeaders() {
  const production = process.env.NODE_ENV === 'production';
  return function setSecurityHeaders(_req, res, next) {
    res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    if (production) res.setHeader('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    next();
  };
}

/**
 * TRUST_PROXY: unset, the app faces clients directly (req.ip is the peer's address; the login
 * limits count per it). Behind a load balancer or TLS-terminating proxy, set it to what Express
 * accepts for "trust proxy" — the proxy's address or subnet (`10.0.0.5`, `loopback`), or a hop
 * count (`1`) — so req.ip is the client's (X-Forwarded-For) and req.secure follows
 * X-Forwarded-Proto (production's Secure cookie is only sent over HTTPS). Never `true` on a port
 * clients reach directly: anyone could then choose their address.
 */
function trustProxy() {
  const raw = process.env.TRUST_PROXY;
  if (raw === undefined || raw === '' || raw === 'false' || raw === '0') return false;
  return /^\d+$/.test(raw) ? Number(raw) : raw;
}

module.exports.port = Number(process.env.PORT) || 4117;
module.exports.http = {
  trustProxy: trustProxy(),
  middleware: {
    // Sails' default order, headers first and without its X-Powered-By.
    order: ['securityHeaders', 'cookieParser', 'session', 'bodyParser', 'compress', 'router', 'www', 'favicon'],
    securityHeaders: securityHeaders(),
    bodyParser: bodyParser(),
  },
};
