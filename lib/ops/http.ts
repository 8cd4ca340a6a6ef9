/**
 * The little HTTP the ops page needs, on Node's own request and response (what Sails hands an
 * action, whatever else its middleware added): query strings, form bodies, cookies, and the
 * headers every page carries. Nothing here depends on Express or on the app's middleware.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { HOOK_ERRORS, type HttpErrorCode } from '../core/errors';
import type { SafeHtml } from './html';

/** A request as an action gets it: Node's, plus what Sails' router may have added. */
export interface OpsRequest extends IncomingMessage {
  /** Route parameters (`:id`), set by Sails' router. */
  params?: Record<string, string | undefined>;
  /** A body the app's parser already read (Sails parses forms by default). */
  body?: unknown;
  /** Set by Express when the app trusts a proxy that terminated TLS. */
  secure?: boolean;
}

export type OpsResponse = ServerResponse;

/** The largest form the ops page accepts (a reason and a token). */
const MAX_FORM_BYTES = 16 * 1024;

/**
 * No script at all, styles only from the page's own stylesheet, forms only to this origin, and
 * never in a frame: the page renders log contents (user data) and has buttons that move money.
 */
const CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export function securityHeaders(res: OpsResponse): void {
  res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'same-origin');
  res.setHeader('Cache-Control', 'no-store');
}

export function sendHtml(res: OpsResponse, status: number, page: SafeHtml): void {
  securityHeaders(res);
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.end(page.markup);
}

/** 303: after a POST the browser GETs the result, so a reload never repeats the action. */
export function redirect(res: OpsResponse, location: string): void {
  securityHeaders(res);
  res.statusCode = 303;
  res.setHeader('Location', location);
  res.end();
}

/** The query string as single values: a repeated parameter keeps its first value. */
export function queryOf(req: OpsRequest): Map<string, string> {
  const params = new URL(req.url ?? '/', 'http://ops.invalid').searchParams;
  const out = new Map<string, string>();
  for (const [key, value] of params) if (!out.has(key)) out.set(key, value);
  return out;
}

/** Every value of one query parameter, in order (a form's checkboxes repeat their name). */
export function queryValues(req: OpsRequest, name: string): string[] {
  return new URL(req.url ?? '/', 'http://ops.invalid').searchParams.getAll(name);
}

export function paramOf(req: OpsRequest, name: string): string {
  const value = req.params?.[name];
  return typeof value === 'string' ? value : '';
}

/** Whether the request reached the app over TLS (directly, or through a proxy Express trusts). */
export function isHttps(req: OpsRequest): boolean {
  return req.secure === true || (req.socket as TLSSocket | undefined)?.encrypted === true;
}

/**
 * The POSTed form as single string values. Uses what the app's body parser read when it read a
 * form; otherwise reads the urlencoded body itself (bounded), so the page works whatever the
 * app's parser does with forms.
 */
export async function formOf(req: OpsRequest): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const parsed = req.body;
  if (parsed !== null && typeof parsed === 'object' && !Buffer.isBuffer(parsed) && Object.keys(parsed).length > 0) {
    for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) if (typeof value === 'string') out.set(key, value);
    return out;
  }
  if (!req.readable || !/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')) return out;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) throw new OpsHttpError('payload_too_large', 'the form is too large');
    chunks.push(chunk);
  }
  for (const [key, value] of new URLSearchParams(Buffer.concat(chunks).toString('utf8'))) if (!out.has(key)) out.set(key, value);
  return out;
}

/** Cookies of the request by name (first occurrence wins: the most specific path comes first). */
export function cookiesOf(req: OpsRequest): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (out.has(name)) continue;
    try {
      out.set(name, decodeURIComponent(part.slice(eq + 1).trim()));
    } catch {
      // a cookie that is not ours and not valid percent-encoding: ignore it
    }
  }
  return out;
}

/** Adds a Set-Cookie header without dropping one the app (its session) already set. */
export function appendCookie(res: OpsResponse, cookie: string): void {
  const existing = res.getHeader('Set-Cookie');
  const list = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
  res.setHeader('Set-Cookie', [...list, cookie]);
}

/** A refusal with its registry code (and so its status): rendered as an error page, nothing written. */
export class OpsHttpError extends Error {
  readonly status: number;

  constructor(
    readonly code: HttpErrorCode,
    message: string,
  ) {
    super(message);
    this.status = HOOK_ERRORS.statusOf(code) ?? 500;
  }
}
