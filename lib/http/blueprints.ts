/**
 * Transactional blueprints: for each model the app marks `transactional: true`, the hook's own
 * `<model>/create`, `<model>/update`, `<model>/destroy` actions replace Sails' blueprint actions
 * of the same identities, so Sails' RESTful blueprint routes (`POST <prefix>/<model>`,
 * `PATCH|PUT <prefix>/<model>/:id`, `DELETE <prefix>/<model>/:id`) and the app's policies on
 * those identities reach them. Every write is strictly validated against the model's `http`
 * allowlist, then runs through the engine as a one-operation batch (locked, logged, reversible).
 * The association actions (add/remove/replace) are refused: they write join records the
 * allowlists do not describe. The hook's own log and lock models are closed entirely (reads too:
 * the log holds whole documents; it is read through the REST endpoints, under their policies).
 * Unmarked models keep Sails' blueprints.
 */
import Joi = require('joi');
import { TransactError } from '../core/errors';
import { isHookModel } from '../models/hook-models';
import type { TransactionResult } from '../engine';
import type { Operation } from '../core/types';
import type { WaterlineModel } from '../core/waterline';
import { findAction, findOneAction } from './read-actions';
import { sendEngineError, sendError, serverError } from './error-shape';
import type { Action, EngineHolder, HttpApp, HttpRequest, HttpResponse, Middleware } from './sails';
import { allowlistOf, check, idRefusal, idSchema, isTransactional, modelOf, valuesSchema } from './validation';

/** Engine paths of a one-operation blueprint batch (`ops.0.values.name`) as request paths (`body.name`). */
export function blueprintPath(path: string | undefined): string | undefined {
  if (path === undefined) return path;
  const field = /^ops\.0\.(?:values|set)\.(.+)$/.exec(path);
  if (field !== null) return `body.${field[1]}`;
  if (path === 'ops.0.id') return 'id';
  if (path === 'ops.0.model') return 'model';
  return path;
}

/** The engine, or a 503 answer when the hook has not initialized (it never serves before that). */
/** The engine for the read actions, which answer a thrown TransactError as its HTTP error. */
function readyEngine(holder: EngineHolder): NonNullable<EngineHolder['engine']> {
  if (holder.engine === undefined) throw new TransactError('unavailable', 'the transaction engine is not ready');
  return holder.engine;
}

function engineOf(holder: EngineHolder, res: HttpResponse): EngineHolder['engine'] {
  if (holder.engine === undefined) sendError(res, 'unavailable', 'the transaction engine is not ready');
  return holder.engine;
}

/** Runs an action, answering any unexpected error as a server error instead of leaving the request hanging. */
export function guarded(action: Action): Action {
  return async (req, res) => {
    try {
      await action(req, res);
    } catch (err) {
      serverError(res, err);
    }
  };
}

/** The `:id` parameter, or undefined after answering 400. */
export function idParam(req: HttpRequest, res: HttpResponse, name = 'id'): string | undefined {
  const value = req.param(name);
  if (idSchema.validate(value).error === undefined) return value as string;
  const refusal = idRefusal(name);
  sendError(res, refusal.code, refusal.message, refusal.path);
  return undefined;
}

/** The request body, valid against `schema`, or undefined after answering 400. */
export function bodyOf<T>(req: HttpRequest, res: HttpResponse, schema: Joi.Schema): T | undefined {
  const checked = check<T>(req.body === undefined || req.body === null ? {} : req.body, schema, 'body');
  if ('value' in checked) return checked.value;
  sendError(res, checked.refusal.code, checked.refusal.message, checked.refusal.path);
  return undefined;
}

/** The route the write came through, without its id: the log's label (`PATCH /api/loan`). */
function labelOf(req: HttpRequest, withId: boolean): string {
  const path = withId ? req.path.replace(/\/[^/]*\/?$/, '') : req.path.replace(/\/$/, '');
  return `${req.method} ${path}`.slice(0, 200);
}

function createAction(holder: EngineHolder, identity: string): Action {
  return guarded(async (req, res) => {
    const model = req._sails.models[identity];
    const schema = valuesSchema(model, 'create');
    if (schema === null) return sendError(res, 'method_not_allowed', `${identity} cannot be written over HTTP (create)`, 'model');
    const values = bodyOf<Record<string, unknown>>(req, res, schema);
    if (values === undefined) return;
    const result = await runOne(holder, req, res, { op: 'create', model: identity, values }, false);
    if (result === undefined) return;
    const record = await model.findOne({ id: result.steps[0].id });
    res.set('X-Transaction-Id', result.id);
    res.status(201).json(record);
  });
}

/** Runs one operation as a one-operation batch: its result, or undefined once an error (no engine, the engine's refusal) is answered. */
async function runOne(holder: EngineHolder, req: HttpRequest, res: HttpResponse, operation: Operation, withId: boolean): Promise<TransactionResult | undefined> {
  const engine = engineOf(holder, res);
  if (engine === undefined) return undefined;
  try {
    return await engine.batch([operation], { label: labelOf(req, withId) });
  } catch (err) {
    sendEngineError(res, err, blueprintPath);
    return undefined;
  }
}

function updateAction(holder: EngineHolder, identity: string): Action {
  return guarded(async (req, res) => {
    const model = req._sails.models[identity];
    const schema = valuesSchema(model, 'update');
    if (schema === null) return sendError(res, 'method_not_allowed', `${identity} cannot be written over HTTP (update)`, 'model');
    const id = idParam(req, res);
    if (id === undefined) return;
    const set = bodyOf<Record<string, unknown>>(req, res, schema);
    if (set === undefined) return;
    const result = await runOne(holder, req, res, { op: 'update', model: identity, id, set }, true);
    if (result === undefined) return;
    const record = await model.findOne({ id });
    res.set('X-Transaction-Id', result.id);
    res.status(200).json(record);
  });
}

function destroyAction(holder: EngineHolder, identity: string): Action {
  return guarded(async (req, res) => {
    const model = req._sails.models[identity];
    if (model.financial === true) return sendError(res, 'destroy_forbidden', `${identity} is financial history and is never destroyed`, 'model');
    if (allowlistOf(model)?.destroy !== true) return sendError(res, 'method_not_allowed', `${identity} cannot be destroyed over HTTP`, 'model');
    const id = idParam(req, res);
    if (id === undefined) return;
    const result = await runOne(holder, req, res, { op: 'destroy', model: identity, id }, true);
    if (result === undefined) return;
    res.set('X-Transaction-Id', result.id);
    // Sails' destroy blueprint answers the destroyed record: here, its last image from the log.
    res.status(200).json(result.steps[0].before);
  });
}

function refuse(code: 'method_not_allowed' | 'forbidden', message: string): Action {
  return async (_req, res) => sendError(res, code, message);
}

/** Write actions of Sails' blueprints, and the association actions that write. */
const WRITES = ['create', 'update', 'destroy'] as const;
const ASSOCIATION_WRITES = ['add', 'remove', 'replace'] as const;

/**
 * Registers the hook's actions over the blueprints' for every transactional model (and closes the
 * hook's own models). Run after the blueprints hook registered its actions (`force` replaces
 * them) and again on `sails.reloadActions()`. An app controller `api/controllers/<model>/create.js`
 * still wins: Sails loads controllers after hooks, as it does over its own blueprints.
 */
export function registerBlueprintActions(sails: HttpApp, holder: EngineHolder): void {
  for (const [identity, model] of Object.entries(sails.models)) {
    if (isHookModel(identity)) {
      closeInternal(sails, identity);
      continue;
    }
    if (!isTransactional(model)) continue;
    sails.registerAction(createAction(holder, identity), `${identity}/create`, true);
    sails.registerAction(updateAction(holder, identity), `${identity}/update`, true);
    sails.registerAction(destroyAction(holder, identity), `${identity}/destroy`, true);
    for (const action of ASSOCIATION_WRITES) {
      sails.registerAction(refuse('method_not_allowed', `${identity}: association writes (${action}) are not transactional; write the records themselves`), `${identity}/${action}`, true);
    }
    // Reads of transactional models see committed state only (Sails' find/findOne would show a
    // document as an unfinished transaction left it).
    sails.registerAction(findAction(() => readyEngine(holder), { model: identity }), `${identity}/find`, true);
    sails.registerAction(findOneAction(() => readyEngine(holder), { model: identity }), `${identity}/findOne`, true);
  }
}

function closeInternal(sails: HttpApp, identity: string): void {
  for (const action of [...WRITES, ...ASSOCIATION_WRITES]) {
    sails.registerAction(refuse('method_not_allowed', `${identity} is the hook's own model: it is never written over HTTP`), `${identity}/${action}`, true);
  }
  for (const action of ['find', 'findOne', 'populate']) {
    sails.registerAction(refuse('forbidden', `${identity} is the hook's own model: read transactions through the transaction endpoints`), `${identity}/${action}`, true);
  }
}

/** Models the hook gives transactional blueprints (for the docs and the ops page). */
export function transactionalModels(models: Record<string, WaterlineModel>): string[] {
  return Object.entries(models)
    .filter(([, model]) => isTransactional(model))
    .map(([identity]) => identity)
    .sort();
}

/**
 * Reads and writes under the blueprint prefix of a model that does not exist answer 404 `unknown_model` in
 * the hook's error shape, not Sails' bare 404. Bound after the app's routes and passing every
 * known model on (to its blueprint route), so it only ever answers what nothing else matched.
 */
export function bindUnknownModelFallback(sails: HttpApp): void {
  const blueprints = sails.config.blueprints ?? {};
  if (blueprints.rest === false || !Object.values(sails.models).some((model) => isTransactional(model))) return;
  const base = `${typeof blueprints.prefix === 'string' ? blueprints.prefix : ''}${typeof blueprints.restPrefix === 'string' ? blueprints.restPrefix : ''}`;
  const fallback: Middleware = (req, res, next) => {
    const identity = req.param('model');
    if (modelOf(req._sails.models, identity) !== undefined) return next();
    sendError(res, 'unknown_model', `no model "${String(identity).slice(0, 100)}"`, 'model');
  };
  sails.router.bind(`post ${base}/:model`, fallback);
  sails.router.bind(`get ${base}/:model`, fallback);
  for (const verb of ['get', 'patch', 'put', 'delete']) sails.router.bind(`${verb} ${base}/:model/:id`, fallback);
}
