/**
 * What the REST API may write, model by model: a model's `http: {create, update, destroy}`
 * allowlist, joi schemas built from it and the model's attributes, id checks, and engine error
 * paths mapped back to the request.
 */
const Joi = require('joi');
const { STATUS_OF_CODE, sendError } = require('./http-errors');

/** Ids in URLs (and ids the client chooses in bodies): short, plain characters only. */
const ID_PATTERN = /^[A-Za-z0-9_-]+$/;
const idSchema = Joi.string().min(1).max(100).pattern(ID_PATTERN);
const identitySchema = Joi.string().min(1).max(100).pattern(/^[A-Za-z0-9_-]+$/);

/** The model of an identity, or undefined (own properties only: no `__proto__`, `constructor`). */
function modelOf(identity) {
  if (typeof identity !== 'string' || !Object.prototype.hasOwnProperty.call(sails.models, identity)) return undefined;
  return sails.models[identity];
}

/** The model's `http` allowlist, or null when it has none (closed to HTTP writes). */
function httpOf(model) {
  const http = model && model.http;
  return http !== null && typeof http === 'object' ? http : null;
}

/** The joi schema of one attribute's value, from its Waterline definition. */
function attributeSchema(attribute) {
  const rules = { ...attribute, ...(attribute.validations || {}) };
  let schema;
  switch (attribute.model !== undefined ? 'string' : attribute.type) {
    case 'string':
      schema = Joi.string().max(typeof rules.maxLength === 'number' ? rules.maxLength : 10_000);
      if (Array.isArray(rules.isIn)) schema = schema.valid(...rules.isIn);
      break;
    case 'number':
      // Money and every other number: safe integers only (joi refuses unsafe ones by default).
      schema = Joi.number().integer();
      if (typeof rules.min === 'number') schema = schema.min(rules.min);
      if (typeof rules.max === 'number') schema = schema.max(rules.max);
      break;
    case 'boolean':
      schema = Joi.boolean();
      break;
    case 'json':
      schema = Joi.alternatives(Joi.object(), Joi.array(), Joi.string().max(10_000), Joi.number(), Joi.boolean()).allow(null);
      break;
    default:
      schema = Joi.forbidden();
  }
  return attribute.allowNull === true ? schema.allow(null) : schema;
}

/** Joi schema of the values a client may send for `kind` ('create' | 'update'), or null if closed. */
function valuesSchema(identity, kind) {
  const model = modelOf(identity);
  const http = httpOf(model);
  if (http === null || !Array.isArray(http[kind])) return null;
  const keys = {};
  for (const name of http[kind]) {
    const attribute = model.attributes[name];
    if (attribute === undefined) continue;
    const schema = attributeSchema(attribute);
    keys[name] = kind === 'create' && attribute.required === true ? schema.required() : schema;
  }
  const schema = Joi.object(keys);
  return kind === 'update' ? schema.min(1) : schema;
}

/**
 * Resolves `:model` for a write: the model, or undefined after answering 404 unknown_model /
 * 405 method_not_allowed (a model without an `http` allowlist, e.g. the log, locks, tokens,
 * users and every financial record written only by the fund's own endpoints).
 */
function writableModel(req, res, kind) {
  const identity = req.param('model');
  const model = modelOf(identity);
  if (model === undefined) {
    sendError(res, 'unknown_model', `no model "${String(identity).slice(0, 100)}"`, 'model');
    return undefined;
  }
  const http = httpOf(model);
  if (kind === 'destroy') {
    if (model.financial === true) {
      sendError(res, 'destroy_forbidden', `${identity} is financial history and is never destroyed`, 'model');
      return undefined;
    }
    if (http === null || http.destroy !== true) {
      sendError(res, 'method_not_allowed', `${identity} cannot be destroyed over HTTP`, 'model');
      return undefined;
    }
    return model;
  }
  if (http === null || !Array.isArray(http[kind])) {
    sendError(res, 'method_not_allowed', `${identity} cannot be written over HTTP (${kind})`, 'model');
    return undefined;
  }
  return model;
}

/** The `:id` URL parameter, or undefined after answering 400. */
function validId(req, res, name = 'id') {
  const value = req.param(name);
  const { error } = idSchema.validate(value);
  if (error === undefined) return value;
  sendError(res, 'validation_failed', `${name} must be 1 to 100 characters of A-Z a-z 0-9 _ -`, name);
  return undefined;
}

/** Engine paths of a one-operation blueprint batch (`ops.0.values.name`) as request paths (`body.name`). */
function blueprintPath(path) {
  if (typeof path !== 'string') return path;
  const field = /^ops\.0\.(?:values|set)\.(.+)$/.exec(path);
  if (field) return `body.${field[1]}`;
  if (path === 'ops.0.id') return 'id';
  if (path === 'ops.0.model') return 'model';
  return path;
}

/** Sends an engine error of a blueprint write, with request paths. */
function sendBlueprintError(res, err) {
  if (err && typeof err.code === 'string' && STATUS_OF_CODE[err.code] !== undefined) return sendError(res, err.code, err.message, blueprintPath(err.path));
  throw err;
}

/**
 * Whether a client may run one operation of POST /api/transaction: null if so, else the error
 * `{code, message, path}`. Only models with an `http` allowlist; create/update only of allowlisted
 * attributes (strictly typed, as the blueprints); destroy only where `http.destroy`; never
 * increment (money moves only through the fund's endpoints).
 */
function operationError(op, i) {
  const at = `ops.${i}`;
  if (op === null || typeof op !== 'object' || Array.isArray(op)) return { code: 'validation_failed', message: `${at} must be an object`, path: at };
  if (!['create', 'update', 'increment', 'destroy'].includes(op.op)) return { code: 'validation_failed', message: `${at}.op must be one of create, update, increment, destroy`, path: `${at}.op` };
  if (typeof op.model !== 'string') return { code: 'validation_failed', message: `${at}.model must be a string`, path: `${at}.model` };
  const model = modelOf(op.model);
  if (model === undefined) return { code: 'unknown_model', message: `no model "${op.model.slice(0, 100)}"`, path: `${at}.model` };
  const http = httpOf(model);
  if (http === null) return { code: 'forbidden', message: `${op.model} cannot be written over HTTP`, path: `${at}.model` };
  if (op.id !== undefined && idSchema.validate(op.id).error !== undefined) {
    return { code: 'validation_failed', message: `${at}.id must be 1 to 100 characters of A-Z a-z 0-9 _ -`, path: `${at}.id` };
  }
  if (op.op === 'increment') return { code: 'forbidden', message: 'increments are not allowed over HTTP: money moves through the fund endpoints', path: `${at}.op` };
  if (op.op === 'destroy') {
    if (model.financial === true) return { code: 'destroy_forbidden', message: `${op.model} is financial history and is never destroyed`, path: `${at}.op` };
    if (http.destroy !== true) return { code: 'forbidden', message: `${op.model} cannot be destroyed over HTTP`, path: `${at}.op` };
    return null;
  }
  const kind = op.op;
  const field = kind === 'create' ? 'values' : 'set';
  if (!Array.isArray(http[kind])) return { code: 'forbidden', message: `${op.model} cannot be ${kind}d over HTTP`, path: `${at}.op` };
  const given = op[field];
  if (given !== null && typeof given === 'object' && !Array.isArray(given)) {
    for (const name of Object.keys(given)) {
      if (model.attributes[name] !== undefined && !http[kind].includes(name)) {
        return { code: 'forbidden', message: `${op.model}.${name} cannot be written over HTTP`, path: `${at}.${field}.${name}` };
      }
    }
  }
  const { error } = valuesSchema(op.model, kind).required().validate(given, { abortEarly: true, convert: false });
  if (error === undefined) return null;
  const detail = error.details[0];
  return { code: 'validation_failed', message: detail.message, path: [at, field, ...detail.path].join('.') };
}

module.exports = { ID_PATTERN, idSchema, identitySchema, modelOf, httpOf, valuesSchema, writableModel, validId, sendBlueprintError, operationError };
