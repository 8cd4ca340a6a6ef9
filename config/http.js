/**
 * HTTP: not Sails' default port 1337 (PORT overrides); the app's middleware (api/lib/http-middleware.ts):
 * security headers first, a strict JSON body parser that keeps the raw body, the proxy to trust.
 */
const { bodyParser, securityHeaders, trustProxy } = require('../dist/api/lib/http-middleware');

module.exports.port = Number(process.env.PORT) || 4117;
module.exports.http = {
  trustProxy: trustProxy(process.env.TRUST_PROXY),
  middleware: {
    // Sails' default order, headers first and without its X-Powered-By.
    order: ['securityHeaders', 'cookieParser', 'session', 'bodyParser', 'compress', 'router', 'www', 'favicon'],
    securityHeaders: securityHeaders(process.env.NODE_ENV === 'production'),
    bodyParser: bodyParser(process.env.TRANSACT_BODY_LIMIT || '512kb'),
  },
};
