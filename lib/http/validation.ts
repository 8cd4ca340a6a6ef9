/**
 * What a client may write, model by model, and strict validation of what it sends: joi schemas
 * built from a model's attributes and its `http` allowlist; nothing is converted (a "5" is not
 * a number), unknown fields are refused, the first problem answers with its path.
 */
import Joi = require('joi');
import type { WaterlineAttribute, WaterlineModel } from '../core/waterline';
import type { HttpErrorCode } from '../core/errors';
import { prototypeKeyPath } from '../core/json';

/** Ids in URLs (and ids a client chooses in a batch): short, plain characters only. */
export const ID_PATTERN = /^[A-Za-z0-9_-]+$/;
export const idSchema = Joi.string().min(1).max(100).pattern(ID_PATTERN);
export const identitySchema = Joi.string().min(1).max(100).pattern(ID_PATTERN);

/** Whether an ISO 8601 text names a real day (Date reads 2026-02-30 as 2026-03-02 without a word). */
export function isCalendarDate(text: string): boolean {
  const parts = /^([+-]?\d{4,6})-(\d{2})-(\d{2})/.exec(text);
  if (parts === null) return true; // not a dated form: joi's iso() decides
  const [year, month, day] = parts.slice(1).map(Number);
  return month >= 1 && month <= 12 && day >= 1 && day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** An ISO 8601 date or time, strictly: a day past the end of its month is refused, not rolled over. */
export const isoDateSchema = Joi.date()
  .iso()
  .custom((value: Date, helpers) => (typeof helpers.original === 'string' && !isCalendarDate(helpers.original) ? helpers.message({ custom: '{{#label}} is not a calendar date' }) : value));

/** A refusal, before anything is written: `{code, message, path}`. */
export interface Refusal {
  code: HttpErrorCode;
  message: string;
  path?: string;
}

/** A model's `http` setting: the attributes a client may send per write, and whether it may destroy. */
export interface HttpAllowlist {
  create?: string[];
  update?: string[];
  destroy?: boolean;
}

/** The model of an identity, or undefined (own properties only: no `__proto__`, `constructor`). */
export function modelOf(models: Record<string, WaterlineModel>, identity: unknown): WaterlineModel | undefined {
  if (typeof identity !== 'string' || !Object.prototype.hasOwnProperty.call(models, identity)) return undefined;
  return models[identity];
}

/** Whether the app marked the model `transactional: true` (its blueprint writes run through the engine). */
export function isTransactional(model: WaterlineModel | undefined): boolean {
  return model !== undefined && model.transactional === true && model.transactInternal !== true;
}

/**
 * The model's `http` allowlist, or null when the model is not transactional or has none: then
 * nothing of it is written over HTTP.
 */
export function allowlistOf(model: WaterlineModel | undefined): HttpAllowlist | null {
  if (!isTransactional(model)) return null;
  const http = (model as WaterlineModel).http;
  return http !== null && typeof http === 'object' && !Array.isArray(http) ? (http as HttpAllowlist) : null;
}

type Rules = WaterlineAttribute & { isIn?: unknown; min?: unknown; max?: unknown; maxLength?: unknown; validations?: Record<string, unknown> };

/**
 * The joi schema of one attribute's value, from its Waterline definition. Numbers are safe
 * integers only: over HTTP money is minor units, and a float would round in the datastore.
 */
export function attributeSchema(attribute: WaterlineAttribute): Joi.Schema {
  const rules = { ...(attribute as Rules), ...((attribute as Rules).validations ?? {}) } as Rules;
  let schema: Joi.Schema;
  switch (attribute.model !== undefined ? 'string' : attribute.type) {
    case 'string': {
      let text = Joi.string().max(typeof rules.maxLength === 'number' ? rules.maxLength : 10_000);
      if (Array.isArray(rules.isIn)) text = text.valid(...(rules.isIn as string[]));
      schema = text;
      break;
    }
    case 'number': {
      let number = Joi.number().integer(); // joi refuses unsafe integers by default
      if (typeof rules.min === 'number') number = number.min(rules.min);
      if (typeof rules.max === 'number') number = number.max(rules.max);
      schema = number;
      break;
    }
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

/** The schema of the values a client may send for `kind`, or null when that write is closed. */
export function valuesSchema(model: WaterlineModel, kind: 'create' | 'update'): Joi.ObjectSchema | null {
  const allowlist = allowlistOf(model)?.[kind];
  if (!Array.isArray(allowlist)) return null;
  const keys: Record<string, Joi.Schema> = {};
  for (const name of allowlist) {
    const attribute = model.attributes[name];
    if (attribute === undefined) continue;
    const schema = attributeSchema(attribute);
    keys[name] = kind === 'create' && attribute.required === true ? schema.required() : schema;
  }
  const schema = Joi.object(keys);
  return kind === 'update' ? schema.min(1) : schema;
}

/**
 * Validates strictly (no conversion, no unknown keys, no prototype keys at any depth — joi would
 * drop a `__proto__` silently): `{value}`, or `{refusal}` with the first problem's path under
 * `prefix` (e.g. `body.name`).
 */
export function check<T>(value: unknown, schema: Joi.Schema, prefix: string): { value: T } | { refusal: Refusal } {
  const prototypeKey = prototypeKeyPath(value);
  if (prototypeKey !== null) {
    return { refusal: { code: 'validation_failed', message: `"${String(prototypeKey[prototypeKey.length - 1])}" is not allowed as a key`, path: [prefix, ...prototypeKey].join('.') } };
  }
  const { error, value: valid } = schema.validate(value, { abortEarly: true, convert: false, allowUnknown: false });
  if (error === undefined) return { value: valid as T };
  const detail = error.details[0];
  return { refusal: { code: 'validation_failed', message: detail.message, path: [prefix, ...detail.path].filter((part) => part !== '').join('.') } };
}

/** Query strings are strings: here joi converts (to numbers, dates), still refusing unknown keys. */
export function checkQuery<T>(query: unknown, schema: Joi.Schema): { value: T } | { refusal: Refusal } {
  const { error, value } = schema.validate(query ?? {}, { abortEarly: true, allowUnknown: false });
  if (error === undefined) return { value: value as T };
  const detail = error.details[0];
  return { refusal: { code: 'validation_failed', message: detail.message, path: ['query', ...detail.path].join('.') } };
}

export function idRefusal(name: string): Refusal {
  return { code: 'validation_failed', message: `${name} must be 1 to 100 characters of A-Z a-z 0-9 _ -`, path: name };
}

/**
 * Whether a client may run one operation of a batch (POST <prefix>/transaction): null if so.
 * Only transactional models with an `http` allowlist; create/update only of allowlisted
 * attributes (strictly typed, as the blueprints); destroy only where `http.destroy` and never of
 * a financial model; never increment (money moves through the app's own endpoints).
 */
export function operationRefusal(models: Record<string, WaterlineModel>, op: unknown, i: number): Refusal | null {
  const at = `ops.${i}`;
  if (op === null || typeof op !== 'object' || Array.isArray(op)) return { code: 'validation_failed', message: `${at} must be an object`, path: at };
  const operation = op as Record<string, unknown>;
  if (typeof operation.op !== 'string' || !['create', 'update', 'increment', 'destroy'].includes(operation.op)) {
    return { code: 'validation_failed', message: `${at}.op must be one of create, update, increment, destroy`, path: `${at}.op` };
  }
  if (typeof operation.model !== 'string') return { code: 'validation_failed', message: `${at}.model must be a string`, path: `${at}.model` };
  const model = modelOf(models, operation.model);
  if (model === undefined) return { code: 'unknown_model', message: `no model "${operation.model.slice(0, 100)}"`, path: `${at}.model` };
  const allowlist = allowlistOf(model);
  if (allowlist === null) return { code: 'forbidden', message: `${operation.model} cannot be written over HTTP`, path: `${at}.model` };
  if (operation.id !== undefined && idSchema.validate(operation.id).error !== undefined) {
    return { code: 'validation_failed', message: `${at}.id must be 1 to 100 characters of A-Z a-z 0-9 _ -`, path: `${at}.id` };
  }
  if (operation.op === 'increment') return { code: 'forbidden', message: 'increments are not allowed over HTTP: money moves through the app\'s own endpoints', path: `${at}.op` };
  if (operation.op === 'destroy') {
    if (model.financial === true) return { code: 'destroy_forbidden', message: `${operation.model} is financial history and is never destroyed`, path: `${at}.op` };
    if (allowlist.destroy !== true) return { code: 'forbidden', message: `${operation.model} cannot be destroyed over HTTP`, path: `${at}.op` };
    return null;
  }
  const kind = operation.op as 'create' | 'update';
  const field = kind === 'create' ? 'values' : 'set';
  const names = allowlist[kind];
  if (!Array.isArray(names)) return { code: 'forbidden', message: `${operation.model} cannot be ${kind}d over HTTP`, path: `${at}.op` };
  const given = operation[field];
  if (given !== null && typeof given === 'object' && !Array.isArray(given)) {
    for (const name of Object.keys(given)) {
      if (Object.prototype.hasOwnProperty.call(model.attributes, name) && !names.includes(name)) {
        return { code: 'forbidden', message: `${operation.model}.${name} cannot be written over HTTP`, path: `${at}.${field}.${name}` };
      }
    }
  }
  const checked = check(given, (valuesSchema(model, kind) as Joi.ObjectSchema).required(), `${at}.${field}`);
  return 'refusal' in checked ? checked.refusal : null;
}
