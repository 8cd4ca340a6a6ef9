/**
 * The slice of Sails' (Express') request and response, and of the Sails app, that lib/http
 * uses, typed. Nothing here names an adapter: lib/http sees models only through Waterline.
 */
import type { Engine } from '../engine';
import type { WaterlineModel } from '../core/waterline';

export interface HttpRequest {
  method: string;
  path: string;
  body?: unknown;
  query: Record<string, unknown>;
  /** Route and query parameters (Sails' req.param). */
  param(name: string): unknown;
  /** A request header (Express' req.get). */
  get(header: string): string | undefined;
  /** The app that serves this request: how actions reach models and config without globals. */
  _sails: HttpApp;
  [key: string]: unknown;
}

export interface HttpResponse {
  status(code: number): HttpResponse;
  json(body: unknown): unknown;
  set(header: string, value: string): HttpResponse;
  /** Sails' 500 response (logs the error); absent without the responses hook. */
  serverError?(err: unknown): unknown;
}

/** A Sails action as lib/http writes them: answers, never calls next. */
export type Action = (req: HttpRequest, res: HttpResponse) => Promise<void>;

/** A plain route handler: may pass the request on to the next matching route. */
export type Middleware = (req: HttpRequest, res: HttpResponse, next: () => void) => void;

/** What lib/http needs of the Sails app. */
export interface HttpApp {
  models: Record<string, WaterlineModel>;
  config: { blueprints?: Record<string, unknown>; [key: string]: unknown };
  log: { warn(...args: unknown[]): void; error(...args: unknown[]): void };
  /** Sails' public registerAction; `force` replaces an action already registered (the blueprints'). */
  registerAction(action: Action, identity: string, force?: boolean): void;
  router: { bind(path: string, target: string | { action: string } | Middleware, verb?: string, options?: Record<string, unknown>): void };
  on(event: string, handler: () => void): void;
}

/** Where lib/http finds the engine at request time: the hook, once it has initialized. */
export interface EngineHolder {
  engine?: Engine;
}
