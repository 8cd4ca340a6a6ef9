/**
 * The app's HTTP middleware (config/http.js installs it): a strict JSON body parser that keeps
 * the raw body (the payment callback's signature is computed over it) and answers malformed or
 * oversized bodies with the API's error shape; the admin forms' parser; security headers on every
 * response; the proxy to trust.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody } from 'sails-hook-transact';

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

function jsonBodyParser(limit: string): Handler {
  const json = express.json({
    limit,
    strict: true,
    verify: (req, _res, buffer) => {
      req.rawBody = buffer;
    },
  });
  return function parseJson(req, res, next) {
    json(req, res, (err?: unknown) => {
      if (!err) return next();
      const problem = err as ParserError;
      const tooLarge = problem.type === 'entity.too.large';
      res.status(tooLarge ? 413 : 400).json(tooLarge ? errorBody('payload_too_large', `the body exceeds ${problem.limit} bytes`) : errorBody('malformed_json', 'the body is not valid JSON'));
    });
  };
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
