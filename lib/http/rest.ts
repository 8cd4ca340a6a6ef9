/**
 * The hook's REST endpoints over the log (opt-in: `config.transact.routes`). Each is a Sails
 * action with an identity under `transact/…`, bound on `router:before`, so the app protects
 * them in its own config/policies.js (`'transact/*'`, `'transact/reverse'`, …) exactly as its
 * own actions.
 */
import Joi = require('joi');
import { isHookModel } from '../models/hook-models';
import { listTransactions, MIN_LABEL_SEARCH, settleStuck, stuckTransactions, type TransactionQuery } from '../operator';
import type { TransactionOptions } from '../core/validation';
import type { LogDocument, TxState } from '../core/types';
import { bodyOf, guarded, idParam } from './blueprints';
import { sendEngineError, sendError } from './error-shape';
import type { Action, EngineHolder, HttpApp, HttpRequest, HttpResponse } from './sails';
import { checkQuery, identitySchema, isoDateSchema, isTransactional, modelOf, operationRefusal } from './validation';

/** `config.transact.routes` when on. */
export interface RoutesConfig {
  /** Where the endpoints live, e.g. '/api' ('' for the root). */
  prefix: string;
  /**
   * Who is asking, for the log (settle records it); default 'http'. Also the scope of the caller's
   * `Idempotency-Key`s: two callers' same key names two transactions. Without it the hook cannot
   * tell callers apart, and keys stay unscoped (one namespace for every caller).
   */
  who?: (req: HttpRequest) => string;
  /**
   * Whether the caller sees every caller's idempotency keys (an operator); default: no one. Anyone
   * else finds only its own keys with `?idempotencyKey=`, and sees other callers' keys as null.
   */
  maySeeAllKeys?: (req: HttpRequest) => boolean | Promise<boolean>;
  /**
   * Whether the caller may read a model's history (whole documents, as they were). Default:
   * models marked `transactional: true`. The hook's own models are never readable this way.
   */
  mayReadHistory?: (req: HttpRequest, model: string) => boolean | Promise<boolean>;
}

const STATES: TxState[] = ['pending', 'committed', 'rolling-back', 'rolled-back'];
const KEY_SCHEMA = Joi.string().min(1).max(195).pattern(/^[\x21-\x7e]+$/);
/** A REST client's idempotency key, as the engine stores it: its own namespace, apart from the app's keys. */
const KEY_PREFIX = 'http:';
const timeSchema = Joi.alternatives(Joi.number().integer().min(0), isoDateSchema);

const listSchema = Joi.object({
  state: Joi.string().valid(...STATES),
  model: identitySchema,
  label: Joi.string().min(MIN_LABEL_SEARCH).max(200),
  idempotencyKey: Joi.string().min(1).max(200),
  from: timeSchema,
  to: timeSchema,
  limit: Joi.number().integer().min(1).max(200).default(50),
  skip: Joi.number().integer().min(0).max(1_000_000).default(0),
});
const pageSchema = Joi.object({
  limit: Joi.number().integer().min(1).max(500).default(50),
  skip: Joi.number().integer().min(0).max(100_000).default(0),
});
const reasonSchema = Joi.object({ reason: Joi.string().pattern(/\S/, 'not blank').max(500).required() });
const settleSchema = Joi.object({ reason: Joi.string().max(500) });
const historySchema = Joi.object({ at: isoDateSchema });

function queryOf<T>(req: HttpRequest, res: HttpResponse, schema: Joi.Schema): T | undefined {
  const checked = checkQuery<T>(req.query, schema);
  if ('value' in checked) return checked.value;
  sendError(res, checked.refusal.code, checked.refusal.message, checked.refusal.path);
  return undefined;
}

function epochOf(value: number | Date | undefined): number | undefined {
  return value instanceof Date ? value.getTime() : value;
}

/** The endpoints' actions, by identity (without the `transact/` namespace). */
export function restActions(holder: EngineHolder, routes: RoutesConfig): Record<string, Action> {
  const engine = (res: HttpResponse): NonNullable<EngineHolder['engine']> | undefined => {
    if (holder.engine === undefined) sendError(res, 'unavailable', 'the transaction engine is not ready');
    return holder.engine;
  };
  const who = (req: HttpRequest): string => (routes.who === undefined ? 'http' : String(routes.who(req)).slice(0, 200));
  /** The scope of the caller's keys: who it is, when the app says (else null: unscoped, as before scopes). */
  const keyScope = (req: HttpRequest): string | null => (routes.who === undefined ? null : who(req));
  /**
   * What the caller may see of keys: null, every key; else only those of this scope (others'
   * read as null). Without `who` everyone shares the null scope, so everyone sees every key.
   */
  const visibleScope = async (req: HttpRequest): Promise<{ scope: string | null } | null> => {
    if (routes.who === undefined || (routes.maySeeAllKeys !== undefined && (await routes.maySeeAllKeys(req)))) return null;
    return { scope: keyScope(req) };
  };
  const redactKey = <T extends Pick<LogDocument, 'idempotencyKey' | 'idempotencyScope'>>(log: T, visible: { scope: string | null } | null): T =>
    visible === null || log.idempotencyScope === visible.scope ? log : { ...log, idempotencyKey: null };

  /** GET <prefix>/transaction → {items, limit, skip}: summaries, newest first (lib/operator). */
  const list: Action = async (req, res) => {
    const query = queryOf<Omit<TransactionQuery, 'from' | 'to'> & { from?: number | Date; to?: number | Date }>(req, res, listSchema);
    if (query === undefined) return;
    const e = engine(res);
    if (e === undefined) return;
    const visible = await visibleScope(req);
    // A caller looks a key up in its own scope only: someone else's key is not its to find.
    const scoped = query.idempotencyKey !== undefined && visible !== null ? { idempotencyScope: visible.scope } : {};
    const { items } = await listTransactions(e, { ...query, ...scoped, from: epochOf(query.from), to: epochOf(query.to) });
    res.json({ items: items.map((item) => redactKey(item, visible)), limit: query.limit, skip: query.skip });
  };

  /** GET <prefix>/transaction/:id → the whole log document, steps included. */
  const get: Action = async (req, res) => {
    const id = idParam(req, res);
    if (id === undefined) return;
    const e = engine(res);
    if (e === undefined) return;
    const log = await e.getLog(id);
    if (log === null) return sendError(res, 'not_found', `no transaction ${id}`, 'id');
    res.json(redactKey(log, await visibleScope(req)));
  };

  /**
   * POST <prefix>/transaction {label?, ops} → 201 {id, state, steps}: a batch, all or nothing,
   * of operations the models' allowlists permit. `Idempotency-Key` runs it at most once.
   */
  const run: Action = async (req, res) => {
    const e = engine(res);
    if (e === undefined) return;
    const body = bodyOf<{ label?: string; ops: unknown[] }>(req, res, Joi.object({ label: Joi.string().min(1).max(200), ops: Joi.array().min(1).max(e.options.maxOps).required() }));
    if (body === undefined) return;
    const key = req.get('idempotency-key');
    if (key !== undefined && KEY_SCHEMA.validate(key).error !== undefined) {
      return sendError(res, 'validation_failed', 'Idempotency-Key must be 1 to 195 printable ASCII characters', 'headers.idempotency-key');
    }
    for (let i = 0; i < body.ops.length; i++) {
      const refused = operationRefusal(req._sails.models, body.ops[i], i);
      if (refused !== null) return sendError(res, refused.code, refused.message, refused.path);
    }
    const options: TransactionOptions = { label: body.label ?? `${req.method} ${req.path}`.slice(0, 200) };
    const scope = keyScope(req);
    if (key !== undefined) options.idempotencyKey = `${KEY_PREFIX}${key}`;
    if (key !== undefined && scope !== null) options.idempotencyScope = scope;
    try {
      const result = await e.batch(body.ops, options);
      res.status(201).json({ id: result.id, state: result.state, steps: result.steps });
    } catch (err) {
      sendEngineError(res, err);
    }
  };

  /** POST <prefix>/transaction/:id/reverse {reason} → 201 {id, reverses}. */
  const reverse: Action = async (req, res) => {
    const id = idParam(req, res);
    if (id === undefined) return;
    const body = bodyOf<{ reason: string }>(req, res, reasonSchema);
    if (body === undefined) return;
    const e = engine(res);
    if (e === undefined) return;
    try {
      const result = await e.reverse(id, { reason: body.reason });
      res.status(201).json({ id: result.id, reverses: result.reverses });
    } catch (err) {
      sendEngineError(res, err);
    }
  };

  /** GET <prefix>/history/:model/:id[?at=ISO] → {versions} or {at, state}. */
  const history: Action = async (req, res) => {
    const identity = req.param('model');
    if (identitySchema.validate(identity).error !== undefined) return sendError(res, 'unknown_model', 'no such model', 'model');
    const name = identity as string;
    if (isHookModel(name)) return sendError(res, 'forbidden', `${name} is the hook's own model: it has no history`, 'model');
    const model = modelOf(req._sails.models, name);
    if (model === undefined) return sendError(res, 'unknown_model', `no model "${name}"`, 'model');
    const allowed = routes.mayReadHistory === undefined ? isTransactional(model) : await routes.mayReadHistory(req, name);
    if (!allowed) return sendError(res, 'forbidden', `the history of ${name} is not readable here`, 'model');
    const id = idParam(req, res);
    if (id === undefined) return;
    const query = queryOf<{ at?: Date }>(req, res, historySchema);
    if (query === undefined) return;
    const e = engine(res);
    if (e === undefined) return;
    try {
      if (query.at === undefined) return void res.json({ versions: await e.history(name, id) });
      res.json({ at: query.at.toISOString(), state: await e.stateAt(name, id, query.at) });
    } catch (err) {
      sendEngineError(res, err);
    }
  };

  /** GET <prefix>/transaction/stuck → {items, limit, skip}: past their lease, or marked for attention. */
  const stuck: Action = async (req, res) => {
    const page = queryOf<{ limit: number; skip: number }>(req, res, pageSchema);
    if (page === undefined) return;
    const e = engine(res);
    if (e === undefined) return;
    res.json(await stuckTransactions(e, page));
  };

  /** POST <prefix>/transaction/:id/settle {reason?} → 200 {id, state: 'rolled-back', outcome}. */
  const settle: Action = async (req, res) => {
    const id = idParam(req, res);
    if (id === undefined) return;
    const body = bodyOf<{ reason?: string }>(req, res, settleSchema);
    if (body === undefined) return;
    const e = engine(res);
    if (e === undefined) return;
    try {
      res.json(await settleStuck(e, id, { by: who(req), reason: body.reason ?? null }));
    } catch (err) {
      sendEngineError(res, err);
    }
  };

  return { list, get, run, reverse, history, stuck, settle };
}

/** The routes, in binding order (`/transaction/stuck` before `/transaction/:id`). */
export function restRoutes(prefix: string): [string, string][] {
  return [
    [`GET ${prefix}/transaction`, 'list'],
    [`POST ${prefix}/transaction`, 'run'],
    [`GET ${prefix}/transaction/stuck`, 'stuck'],
    [`GET ${prefix}/transaction/:id`, 'get'],
    [`POST ${prefix}/transaction/:id/reverse`, 'reverse'],
    [`POST ${prefix}/transaction/:id/settle`, 'settle'],
    [`GET ${prefix}/history/:model/:id`, 'history'],
  ];
}

/** The action identity of an endpoint: what the app's policies name. */
export function restIdentity(name: string): string {
  return `transact/${name}`;
}

export function registerRestActions(sails: HttpApp, holder: EngineHolder, routes: RoutesConfig): void {
  for (const [name, action] of Object.entries(restActions(holder, routes))) sails.registerAction(guarded(action), restIdentity(name), true);
}

/** Binds the endpoints ahead of the app's routes (router:before fires on every (re)binding). */
export function bindRestRoutes(sails: HttpApp, routes: RoutesConfig): void {
  for (const [address, name] of restRoutes(routes.prefix)) sails.router.bind(address, { action: restIdentity(name) });
}
