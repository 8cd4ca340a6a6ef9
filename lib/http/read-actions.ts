/**
 * GET blueprint actions that read committed state, for models marked `transactional: true`.
 * Plain action factories: whoever registers the blueprints (`sails.registerAction(findAction(…),
 * '<model>/find', true)`) decides where they are bound; nothing here registers a route.
 *
 * Query parameters follow Sails' blueprints: `where` (JSON), `limit` (default 30, like Sails),
 * `skip`, `sort` (`"balance DESC"` or JSON), and any other parameter is an equality on that
 * attribute (its text converted to the attribute's type). Bad criteria get a 400
 * `{error: {code, message, path}}`, never a guess.
 */
import { TransactError } from '../core/errors';
import type { ModelInfo } from '../core/model-info';
import type { CommittedReads } from '../reads';
import { parseQuery } from '../query/criteria';
import type { Image } from '../core/types';
import { sendEngineError } from './error-shape';
import type { HttpResponse } from './sails';

/** The engine's committed reads, resolved per request (the engine exists once the hook started). */
export type EngineGetter = () => { reads: CommittedReads; infoOf(identity: string): ModelInfo | undefined };

/** The slice of a Sails request these actions use. */
export interface BlueprintRequest {
  query: Record<string, unknown>;
  params?: Record<string, unknown>;
  options?: { model?: unknown };
  param?(name: string): unknown;
}

export interface BlueprintResponse {
  status(code: number): BlueprintResponse;
  json(body: unknown): unknown;
}

export interface ActionOptions {
  /** The model's identity; by default the blueprint route's `req.options.model`, else the `model` route parameter. */
  model?: string;
  /** Sails' `blueprints.defaultLimit`. */
  defaultLimit?: number;
}

const RESERVED = new Set(['where', 'limit', 'skip', 'sort', '_csrf', 'model', 'id']);
/** Sails' blueprint parameters these reads do not take: refused, never silently ignored. */
const UNSUPPORTED: Record<string, string> = {
  select: 'committed reads return whole documents: no select',
  omit: 'committed reads return whole documents: no omit',
  populate: 'committed reads do not populate associations',
  callback: 'JSONP is not served',
};

function fail(path: string, message: string): never {
  throw new TransactError('validation_failed', message, { path });
}

function parseJson(text: unknown, path: string): unknown {
  if (typeof text !== 'string') return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return fail(path, `${path} is not valid JSON`);
  }
}

/**
 * The deepest `skip` a GET accepts. An offset costs what it skips (100,000 rows of a 1M-row table:
 * 1.7 s on PostgreSQL, measured by bench:scale), so deeper pages go by key instead:
 * `?where={"id":{">":"<last id>"}}&sort=id ASC` is one index range whatever the depth.
 */
export const MAX_SKIP = 10_000;

/**
 * The largest page a GET answers. Without it `limit=9007199254740991` is every row in one answer;
 * refused like a deep `skip` (never clamped: a client asking for more than it gets would take a
 * short page for the end of the data).
 */
export const MAX_LIMIT = 1_000;

function parseInteger(text: unknown, path: string): number | undefined {
  if (text === undefined) return undefined;
  const value = typeof text === 'number' ? text : typeof text === 'string' && /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < 0) fail(path, `${path} is a non-negative integer`);
  if (path === 'limit' && value > MAX_LIMIT) fail(path, `limit is at most ${MAX_LIMIT}: page with skip, or by key, e.g. where={"id":{">":"<last id>"}}&sort=id ASC`);
  if (path === 'skip' && value > MAX_SKIP) fail(path, `skip is at most ${MAX_SKIP}: page deeper by key, e.g. where={"id":{">":"<last id>"}}&sort=id ASC`);
  return value;
}

/** A query-string value as the attribute's type: Sails' blueprints accept `?balance=10` for a number. */
function typed(value: unknown, type: string | undefined, path: string): unknown {
  if (typeof value !== 'string') return value;
  switch (type) {
    case 'number': {
      const number = Number(value);
      if (value.trim() === '' || !Number.isFinite(number)) fail(path, `${path} must be a number`);
      return number;
    }
    case 'boolean':
      if (value !== 'true' && value !== 'false') fail(path, `${path} must be true or false`);
      return value === 'true';
    default:
      return value === 'null' ? null : value;
  }
}

function modelOf(req: BlueprintRequest, options: ActionOptions): string {
  const model = options.model ?? req.options?.model ?? req.params?.model ?? req.param?.('model');
  if (typeof model !== 'string' || model === '') throw new TransactError('unknown_model', 'no model for this blueprint action', { path: 'model' });
  return model;
}

/** The criteria of a find request, Sails-style (checked against the model, hidden attributes refused: see checkedCriteria). */
export function criteriaOf(req: BlueprintRequest, attributes: Record<string, { type: string }>, defaultLimit = 30): Record<string, unknown> {
  const query = req.query ?? {};
  for (const name of Object.keys(query)) {
    if (Object.prototype.hasOwnProperty.call(UNSUPPORTED, name)) fail(name, UNSUPPORTED[name]);
  }
  const parsedWhere = parseJson(query.where, 'where');
  if (parsedWhere !== undefined && (typeof parsedWhere !== 'object' || parsedWhere === null || Array.isArray(parsedWhere))) fail('where', 'where must be a JSON object');
  const where: Record<string, unknown> = { ...((parsedWhere as Record<string, unknown> | undefined) ?? {}) };
  for (const [name, value] of Object.entries(query)) {
    if (RESERVED.has(name)) continue;
    if (Array.isArray(value)) fail(name, `${name} is given more than once`);
    if (!Object.prototype.hasOwnProperty.call(attributes, name)) throw new TransactError('unknown_attribute', `no attribute "${name}"`, { path: name });
    if (Object.prototype.hasOwnProperty.call(where, name)) fail(name, `${name} is given both as a parameter and in where`);
    where[name] = typed(value, attributes[name].type, name);
  }
  const sortText = query.sort;
  const sort = typeof sortText === 'string' && /^\s*[[{]/.test(sortText) ? parseJson(sortText, 'sort') : sortText;
  return { where, sort, skip: parseInteger(query.skip, 'skip') ?? 0, limit: parseInteger(query.limit, 'limit') ?? defaultLimit };
}

/**
 * The criteria of a find request, parsed by the one parser of committed reads (lib/query/criteria:
 * declared attribute names, plain operators, scalar values) and refused when they name a hidden
 * attribute: nothing else ever reaches the adapter.
 */
export function checkedCriteria(req: BlueprintRequest, info: ModelInfo, defaultLimit = 30): Record<string, unknown> {
  for (const name of ['select', 'omit']) {
    const list = req.query?.[name];
    const names = typeof list === 'string' ? list.split(',').map((part) => part.trim()) : [];
    const hidden = names.find((one) => info.hidden.includes(one));
    if (hidden !== undefined) throw new TransactError('hidden_attribute', `${info.identity}.${hidden} is hidden`, { path: name });
  }
  for (const name of Object.keys(req.query ?? {})) {
    if (info.hidden.includes(name)) throw new TransactError('hidden_attribute', `${info.identity}.${name} is hidden: it cannot be used in criteria`, { path: name });
  }
  const criteria = criteriaOf(req, info.attributes, defaultLimit);
  parseQuery(info, criteria, { refuseHidden: true });
  return criteria;
}

/** A document as a client may see it: without the model's hidden attributes (a committed image from the log has no customToJSON). */
export function visible(info: ModelInfo, doc: Image): Image {
  if (info.hidden.length === 0) return doc;
  const out: Image = {};
  for (const [name, value] of Object.entries(doc)) if (!info.hidden.includes(name)) out[name] = value;
  return out;
}

/** A Sails action as lib/http's ReadActions take it (answers, never calls next). */
export type BlueprintAction = (req: BlueprintRequest, res: BlueprintResponse) => Promise<void>;

/**
 * A read action: `answer` is given the committed reads, the request's model and its info (a model
 * the engine does not know is 404 unknown_model); any error is answered as the engine's.
 */
function readAction(getEngine: EngineGetter, options: ActionOptions, answer: (req: BlueprintRequest, res: BlueprintResponse, reads: CommittedReads, model: string, info: ModelInfo) => Promise<void>): BlueprintAction {
  return async (req, res) => {
    try {
      const engine = getEngine();
      const model = modelOf(req, options);
      const info = engine.infoOf(model);
      if (info === undefined) throw new TransactError('unknown_model', `no model "${model}"`, { path: 'model' });
      await answer(req, res, engine.reads, model, info);
    } catch (err) {
      sendEngineError(res as HttpResponse, err);
    }
  };
}

/** GET /<model>: committed documents matching the request's criteria (200, an array). */
export function findAction(getEngine: EngineGetter, options: ActionOptions = {}): BlueprintAction {
  return readAction(getEngine, options, async (req, res, reads, model, info) => {
    const rows = await reads.find(model, checkedCriteria(req, info, options.defaultLimit));
    res.status(200).json(rows.map((row) => visible(info, row)));
  });
}

/** GET /<model>/:id: the committed document (200), or 404 not_found. */
export function findOneAction(getEngine: EngineGetter, options: ActionOptions = {}): BlueprintAction {
  return readAction(getEngine, options, async (req, res, reads, model, info) => {
    const id = req.params?.id ?? req.param?.('id');
    if (typeof id !== 'string' || id === '') fail('id', 'an id is required');
    const doc = await reads.findOne(model, id);
    if (doc === null) throw new TransactError('not_found', `${model} ${id} does not exist`, { path: 'id' });
    res.status(200).json(visible(info, doc));
  });
}
