/**
 * The slice of Sails' (Express') request and response the fund's actions and policies use, and
 * the one way they answer an error: the hook's shape, the status from the one registry.
 */
import type { Schema } from 'joi';
import { sendEngineError, sendError as sendRegistryError } from 'sails-hook-transact';
import type { FundApp } from './app';
import type { Role } from './domain';
import { type FundErrorCode, FUND_REGISTRY } from './errors';

/** Who a bearer token belongs to (api/lib/policies.ts `authenticated`). */
export interface Caller {
  id: string;
  role: Role;
}

/** The admin page's signed-in user (the cookie session). */
export interface SessionUser {
  id: string;
  username: string;
  role: Role;
}

export interface AdminSession {
  me?: SessionUser;
  csrf?: string;
  flash?: { text: string; kind: string } | null;
  regenerate(done: (err?: unknown) => void): void;
  destroy(done: (err?: unknown) => void): void;
}

export interface FundRequest {
  /** The app that serves this request (Sails sets it): how actions reach it without a global. */
  _sails: FundApp;
  method: string;
  path: string;
  ip: string;
  hostname: string;
  /** 'http' or 'https' (X-Forwarded-Proto only behind a trusted proxy). */
  protocol: string;
  body?: unknown;
  query: Record<string, unknown>;
  /** The exact bytes of a JSON body (config/http.js keeps them, for signatures). */
  rawBody?: Buffer;
  me?: Caller;
  session?: AdminSession;
  get(header: string): string | undefined;
  param(name: string): unknown;
  is(type: string): string | false | null;
}

export interface FundResponse {
  headersSent?: boolean;
  status(code: number): FundResponse;
  json(body: unknown): unknown;
  send(body: unknown): unknown;
  set(header: string, value: string): FundResponse;
  setHeader(header: string, value: string): void;
  type(contentType: string): FundResponse;
  redirect(url: string): unknown;
  view(name: string, locals: Record<string, unknown>): unknown;
  serverError(err: unknown): unknown;
}

/** A Sails action or policy, as the fund writes them. */
export type FundAction = (req: FundRequest, res: FundResponse) => Promise<unknown> | unknown;
export type FundPolicy = (req: FundRequest, res: FundResponse, proceed: () => unknown) => Promise<unknown> | unknown;

/** The hook's sendError, with the fund's codes in the registry. */
export function sendError(res: FundResponse, code: FundErrorCode, message: string, path?: string): void {
  sendRegistryError(res, code, message, path, FUND_REGISTRY);
}

/** A registry error as its HTTP error; anything else is Sails' 500 `internal` (logged, never answered): the hook's sendEngineError. */
export function sendCaught(res: FundResponse, err: unknown): void {
  sendEngineError(res, err, undefined, FUND_REGISTRY);
}

/**
 * Strict validation with joi: unknown fields are refused, nothing is converted (`convert: false`;
 * query strings, which are all strings, pass `convert: true`). The first problem answers 400
 * `validation_failed` with its path under `prefix`; undefined then.
 */
export function validate<T>(value: unknown, schema: Schema<T>, res: FundResponse, prefix: string, convert = false): T | undefined {
  const { error, value: valid } = schema.validate(value, { abortEarly: true, convert, allowUnknown: false });
  if (error === undefined) return valid as T;
  const detail = error.details[0];
  const path = [prefix, ...detail.path].filter((part) => part !== '' && part !== undefined).join('.');
  sendError(res, 'validation_failed', detail.message, path);
  return undefined;
}

/** The JSON body, valid against `schema`, or undefined after answering 400. */
export function validBody<T>(req: FundRequest, res: FundResponse, schema: Schema<T>): T | undefined {
  return validate(req.body === undefined || req.body === null ? {} : req.body, schema, res, 'body');
}

/** The query string, valid against `schema` (with joi's conversions: query values are strings). */
export function validQuery<T>(req: FundRequest, res: FundResponse, schema: Schema<T>): T | undefined {
  return validate(req.query, schema, res, 'query', true);
}
