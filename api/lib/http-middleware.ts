/**
 * The app's HTTP middleware (config/http.js installs it): a strict JSON body parser that keeps
 * the raw body (the payment callback's signature is computed over it) and answers malformed or
 * oversized bodies with the API's error shape; the admin forms' parser; security headers on every
 * response; the proxy to trust.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody, prototypeKeyPath } from 'sails-hook-transact';

/** Express' request and response, as far as these handlers use them. */
interface Request extends IncomingMessage {
  path?: string;
  rawBody?: Buffer;
  is(type: string): string | false | null;
}
interface Response extends ServerResponse {
  status(code: number): Response;
  json(body: unknown): unknown;
  type(contentType: string): Response;
  send(body: unknown): unknown;
}
type Next = (err?: unknown) => void;
type Handler = (req: Request, res: Response, next: Next) => void;
interface ParserError {
  type?: string;
  status?: number;
  limit?: number;
}

interface Express {
  json(options: { limit: string; strict: boolean; verify(req: Request, res: Response, buffer: Buffer): void }): Handler;
  urlencoded(options: { extended: boolean; limit: string; parameterLimit: number }): Handler;
}

// Sails' own Express (a dependency of sails): the app adds no HTTP framework of its own.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const express = require('express') as Express;

/** `512kb`, `1mb`, `2048` (bytes): the body limit as Express' parsers read it. */
export function limitBytes(limit: string): number {
  const match = /^\s*(\d+)\s*(b|kb|mb)?\s*$/i.exec(limit);
  if (match === null) throw new Error(`a body limit is a number of bytes, kb or mb, got "${limit}"`);
  return Number(match[1]) * { b: 1, kb: 1024, mb: 1024 * 1024 }[(match[2] ?? 'b').toLowerCase() as 'b' | 'kb' | 'mb'];
}

function jsonBodyParser(limit: string): Handler {
  const maxBytes = limitBytes(limit);
  const json = express.json({
    limit,
    strict: true,
    verify: (req, _res, buffer) => {
      req.rawBody = buffer;
    },
  });
  return function parseJson(req, res, next) {
    // Express' parser answers an announced oversize body only after reading all of it (it drains
    // the request first): a short body under `Content-Length: 99999999` held the connection.
    const announced = Number(req.headers['content-length']);
    if (Number.isFinite(announced) && announced > maxBytes) {
      res.setHeader('Connection', 'close');
      return void res.status(413).json(errorBody('payload_too_large', `the body exceeds ${maxBytes} bytes`));
    }
    json(req, res, (err?: unknown) => {
      if (!err) {
        // For every route, the fund's own actions included: a `__proto__` key is refused, never dropped.
        const key = prototypeKeyPath((req as Request & { body?: unknown }).body);
        if (key === null) return next();
        return void res.status(400).json(errorBody('validation_failed', `the body may not have a "${String(key[key.length - 1])}" key`, ['body', ...key].join('.')));
      }
      const problem = err as ParserError;
      if (problem.type === 'entity.too.large') return res.status(413).json(errorBody('payload_too_large', `the body exceeds ${problem.limit} bytes`));
      res.status(400).json(errorBody('malformed_json', 'the body is not valid JSON'));
    });
  };
}

/**
 * A path that is not valid percent-encoding (`/api/investor/%ZZ`) would reach Express' router,
 * whose decoding error Sails answers as an HTML page: refused here in the API's error shape.
 */
export function malformedPath(): Handler {
  return function refuseMalformedPath(req, res, next) {
    try {
      decodeURIComponent(req.path ?? '');
    } catch {
      return void res.status(400).json(errorBody('validation_failed', 'the path is not valid percent-encoding', 'path'));
    }
    next();
  };
}

/** `config.http.serverOptions`: Node's own bounds on slow clients (docs/fund-app.md, "Security"). */
export interface ServerTimeouts {
  /** Whole request (headers and body) received within this, or 408 and the connection closed. */
  requestTimeout: number;
  headersTimeout: number;
  /** How often Node checks the two above: their precision. */
  connectionsCheckingInterval: number;
  keepAliveTimeout: number;
}

function milliseconds(raw: string | undefined, fallback: number): number {
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`a timeout must be a positive whole number of milliseconds, got "${raw}"`);
  return value;
}

/**
 * TRANSACT_REQUEST_TIMEOUT_MS (default 30 s: a request's headers and body, however slowly sent)
 * and TRANSACT_HEADERS_TIMEOUT_MS (default 10 s), checked every second; Node's defaults (300 s,
 * 60 s, every 30 s) let a client trickling a body hold a connection for five minutes.
 */
export function serverTimeouts(env: Record<string, string | undefined>): ServerTimeouts {
  const requestTimeout = milliseconds(env.TRANSACT_REQUEST_TIMEOUT_MS, 30_000);
  const headersTimeout = Math.min(requestTimeout, milliseconds(env.TRANSACT_HEADERS_TIMEOUT_MS, 10_000));
  return { requestTimeout, headersTimeout, connectionsCheckingInterval: Math.min(1_000, headersTimeout), keepAliveTimeout: 5_000 };
}

function isAdminPath(req: Request): boolean {
  const path = req.path || '';
  return path === '/admin' || path.startsWith('/admin/');
}

/**
 * The admin page's HTML forms (application/x-www-form-urlencoded) are parsed on /admin routes
 * only; everything else gets the strict JSON parser.
 */
export function bodyParser(limit: string): Handler {
  const parseJson = jsonBodyParser(limit);
  const adminForm = express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 50 });
  return function parseBody(req, res, next) {
    if (isAdminPath(req) && req.is('application/x-www-form-urlencoded')) {
      adminForm(req, res, (err?: unknown) => (err ? res.status((err as ParserError).status || 400).type('text/plain').send('bad form body') : next()));
      return;
    }
    parseJson(req, res, next);
  };
}

/**
 * Like the hook's ops page (lib/ops/http.ts, which sets its own), no page may run a script but
 * the admin page's own file, load anything from elsewhere, post a form elsewhere, or be framed.
 */
export const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/**
 * The headers every response carries, pages and API alike (set first, so errors and 404s have
 * them too). HSTS only in production, where the app is served over HTTPS (here or at a
 * TLS-terminating proxy).
 */
export function securityHeaders(production: boolean): Handler {
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
export function trustProxy(raw: string | undefined): string | number | false {
  if (raw === undefined || raw === '' || raw === 'false' || raw === '0') return false;
  return /^\d+$/.test(raw) ? Number(raw) : raw;
}
