/**
 * HTTP: not Sails' default port 1337 (PORT overrides); the app's middleware (api/lib/http-middleware.ts):
 * security headers first, a strict JSON body parser that keeps the raw body, the proxy to trust,
 * and Node's timeouts for slow clients.
 */
const { bodyParser, malformedPath, securityHeaders, serverTimeouts, trustProxy } = require('../dist/api/lib/http-middleware');

module.exports.port = Number(process.env.PORT) || 4117;
module.exports.http = {
  trustProxy: trustProxy(process.env.TRUST_PROXY),
  // Node's bounds on slow clients (http.createServer options): a trickled body, a short body under a large Content-Length.
  serverOptions: serverTimeouts(process.env),
  middleware: {
    // Sails' default order, headers first and without its X-Powered-By.
    order: ['securityHeaders', 'malformedPath', 'cookieParser', 'session', 'bodyParser', 'compress', 'router', 'www', 'favicon'],
    securityHeaders: securityHeaders(process.env.NODE_ENV === 'production'),
    malformedPath: malformedPath(),
    bodyParser: bodyParser(process.env.TRANSACT_BODY_LIMIT || '512kb'),
  },
};
