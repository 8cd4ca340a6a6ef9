/**
 * Strict input checks, before anything is written: the shape of operations and options with
 * joi, then each operation against its model's attributes. Errors carry a code and a path.
 */
import Joi = require('joi');
import { TransactError } from './errors';
import { describeJsonProblem, jsonProblem } from './json';
import { hasAttribute, type ModelInfo } from './model-info';
import type { CrashPolicy, Operation } from './types';

export interface TransactionOptions {
  /** A short human label, shown in logs and the admin page. */
  label?: string;
  /** Batches only: what recovery does if the process dies before the commit point. */
  onCrash?: CrashPolicy;
  /** How long to wait for a locked document before failing with `lock_timeout`. */
  lockTimeoutMs?: number;
  /** Runs the transaction at most once per key (per datastore and scope); repeats get the first outcome. */
  idempotencyKey?: string;
  /**
   * Whose key it is (a user, an API client): the same key under two scopes names two independent
   * transactions, and no scope ever gets another's outcome. Needs `idempotencyKey`. Without it the
   * key is unscoped: one namespace for every caller of the datastore, as keys were before scopes.
   */
  idempotencyScope?: string;
  /**
   * Runs the transaction again when it failed with one of `on` (errors that decided nothing: it
   * surely did not commit), up to `attempts` runs in all, within `budgetMs`. Off by default: an
   * interactive callback runs again, side effects and all (afterCommit is where they belong).
   */
  retry?: TransactionRetry;
}

/**
 * The codes a retry may run again on: each says the transaction decided nothing and never
 * committed (lib/core/log-document.ts UNDECIDED, outcome_unknown excepted: that commit may have landed).
 */
export const RETRYABLE_CODES = ['lock_timeout', 'lease_lost', 'unavailable', 'in_progress'] as const;
export type RetryableCode = (typeof RETRYABLE_CODES)[number];

export interface TransactionRetry {
  /** Runs in all, the first included (1: no retry). */
  attempts: number;
  /** Which failures are run again; `['lock_timeout']` when not given. */
  on?: RetryableCode[];
  /** The most time, from the first run's start, that runs and pauses may take (each run's lock wait is cut to what is left). */
  budgetMs?: number;
}

/** An attribute's value, within lib/core/json.ts' bounds: checked here, before anything is logged. */
const attributeValue = Joi.any().custom((value: unknown, helpers) => {
  const problem = jsonProblem(value);
  if (problem === null) return value;
  const inner = problem.kind === 'non_finite' ? problem.path : [];
  return helpers.message({ custom: describeJsonProblem(problem, [...(helpers.state.path ?? []).slice(1), ...inner].join('.')) });
});
const values = Joi.object().pattern(/.*/, attributeValue);
const identity = Joi.string().min(1).max(100);
const documentId = Joi.string().min(1).max(200);
const integer = Joi.number().integer(); // joi refuses unsafe integers, NaN and Infinity by default

const operationSchema = Joi.alternatives().conditional('.op', {
  switch: [
    { is: 'create', then: Joi.object({ op: Joi.string(), model: identity.required(), id: documentId, values: values.required() }) },
    { is: 'update', then: Joi.object({ op: Joi.string(), model: identity.required(), id: documentId.required(), set: values.min(1).required() }) },
    {
      is: 'increment',
      then: Joi.object({
        op: Joi.string(),
        model: identity.required(),
        id: documentId.required(),
        field: Joi.string().min(1).required(),
        by: integer.invalid(0).required(),
        min: integer,
        max: integer.when('min', { is: Joi.exist(), then: Joi.number().min(Joi.ref('min')) }),
      }),
    },
    { is: 'destroy', then: Joi.object({ op: Joi.string(), model: identity.required(), id: documentId.required() }) },
  ],
  otherwise: Joi.object({ op: Joi.string().valid('create', 'update', 'increment', 'destroy').required() }).unknown(true),
});

const retrySchema = Joi.object({
  attempts: Joi.number().integer().min(1).max(20).required(),
  on: Joi.array()
    .items(
      Joi.string()
        .valid(...RETRYABLE_CODES)
        .messages({ 'any.only': `{{#label}} must be one of ${RETRYABLE_CODES.join(', ')}: errors that decided nothing (outcome_unknown may have committed and is never retried)` }),
    )
    .min(1)
    .unique(),
  budgetMs: Joi.number().integer().min(1).max(600_000),
});

const optionsSchema = Joi.object({
  label: Joi.string().max(200),
  onCrash: Joi.string().valid('rollback', 'rollforward'),
  lockTimeoutMs: Joi.number().integer().min(0).max(600_000),
  idempotencyKey: Joi.string().min(1).max(200),
  idempotencyScope: Joi.string().min(1).max(200),
  retry: retrySchema,
}).with('idempotencyScope', 'idempotencyKey');

export interface ReversalInput {
  /** Why: kept on the reversal's log for auditors. */
  reason: string;
}

const reversalSchema = Joi.object({ reason: Joi.string().pattern(/\S/, 'not blank').max(500).required() });

export function validateReversal(input: unknown): ReversalInput {
  const { error, value } = reversalSchema.validate(input ?? {}, { abortEarly: true, convert: false });
  if (error !== undefined) throw fromJoi(error, 'reversal');
  return value as ReversalInput;
}

function fromJoi(error: Joi.ValidationError, prefix: string): TransactError {
  const [detail] = error.details;
  const path = [prefix, ...detail.path].filter((part) => part !== '').join('.');
  return new TransactError('validation_failed', detail.message, { path });
}

export function validateOptions(options: unknown): TransactionOptions {
  const { error, value } = optionsSchema.validate(options ?? {}, { abortEarly: true, convert: false });
  if (error !== undefined) throw fromJoi(error, 'options');
  return value as TransactionOptions;
}

export function validateOperation(operation: unknown, path: string): Operation {
  const { error, value } = operationSchema.validate(operation, { abortEarly: true, convert: false });
  if (error !== undefined) throw fromJoi(error, path);
  return value as Operation;
}

export function validateBatch(operations: unknown, maxOps: number): Operation[] {
  if (!Array.isArray(operations)) throw new TransactError('validation_failed', 'a batch must be an array of operations', { path: 'ops' });
  if (operations.length === 0) throw new TransactError('validation_failed', 'a batch needs at least one operation', { path: 'ops' });
  if (operations.length > maxOps) throw new TransactError('validation_failed', `a batch may hold at most ${maxOps} operations`, { path: 'ops' });
  return operations.map((operation, i) => validateOperation(operation, `ops.${i}`));
}

function checkValue(info: ModelInfo, name: string, value: unknown, path: string): void {
  const attribute = hasAttribute(info, name) ? info.attributes[name] : undefined;
  if (attribute === undefined) throw new TransactError('unknown_attribute', `${info.identity} has no attribute "${name}"`, { path });
  if (value === null) {
    if (attribute.type === 'json' || attribute.type === 'ref' || attribute.allowNull === true) return;
    throw new TransactError('validation_failed', `${info.identity}.${name} may not be null`, { path });
  }
  const expected = attribute.type === 'json' || attribute.type === 'ref' ? null : attribute.type;
  if (expected !== null && typeof value !== expected) {
    throw new TransactError('validation_failed', `${info.identity}.${name} must be a ${expected}, got ${typeof value}`, { path });
  }
  // The model's own rules (isInteger, min, isIn, …), now rather than after the log is written.
  try {
    info.validate?.(name, value);
  } catch (err) {
    const message = err instanceof Error ? err.message.replace(/\s+/g, ' ').trim() : String(err);
    throw new TransactError('validation_failed', `${info.identity}.${name}: ${message}`, { path });
  }
}

/** Checks an operation against its model: known model, known attributes, matching types. */
export function checkAgainstModel(operation: Operation, infoOf: (model: string) => ModelInfo | undefined, path: string): ModelInfo {
  const info = infoOf(operation.model);
  if (info === undefined) throw new TransactError('unknown_model', `no transactional model "${operation.model}"`, { path: `${path}.model` });
  const written = operation.op === 'create' ? operation.values : operation.op === 'update' ? operation.set : {};
  const field = operation.op === 'create' ? 'values' : 'set';
  if (operation.op === 'create') {
    for (const [name, attribute] of Object.entries(info.attributes)) {
      if (attribute.required === true && name !== info.primaryKey && operation.values[name] === undefined) {
        throw new TransactError('validation_failed', `${info.identity}.${name} is required`, { path: `${path}.values.${name}` });
      }
    }
  }
  for (const [name, value] of Object.entries(written)) {
    if (name === info.primaryKey) throw new TransactError('validation_failed', `the primary key is set by "id", not in ${field}`, { path: `${path}.${field}.${name}` });
    checkValue(info, name, value, `${path}.${field}.${name}`);
  }
  if (operation.op === 'destroy' && info.financial) {
    throw new TransactError('destroy_forbidden', `${info.identity} is financial history and is never destroyed`, { path: `${path}.op` });
  }
  if (operation.op === 'increment') {
    const attribute = hasAttribute(info, operation.field) ? info.attributes[operation.field] : undefined;
    if (attribute === undefined) throw new TransactError('unknown_attribute', `${info.identity} has no attribute "${operation.field}"`, { path: `${path}.field` });
    if (attribute.type !== 'number') throw new TransactError('validation_failed', `${info.identity}.${operation.field} is not a number`, { path: `${path}.field` });
  }
  return info;
}
