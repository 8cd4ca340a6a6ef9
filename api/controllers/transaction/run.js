/**
 * POST /api/transaction {label?, ops} (readwrite) → 201 {id, state, steps}: a declarative batch
 * through the engine, all or nothing. Only operations the models' `http` allowlists permit (see
 * api/lib/crud.js `operationError`). An `Idempotency-Key` header runs it at most once (the
 * engine's key `http:<key>`): a repeat answers the first run's result or error.
 */
const Joi = require('joi');
const { operationError } = require('../../lib/crud');
const { sendError, sendTransactError } = require('../../lib/http-errors');
const { validateBody } = require('../../lib/validate');

const keySchema = Joi.string().min(1).max(195).pattern(/^[\x21-\x7e]+$/);

module.exports = async function run(req, res) {
  const engine = sails.hooks.transact.engine;
  const schema = Joi.object({ label: Joi.string().min(1).max(200), ops: Joi.array().min(1).max(engine.options.maxOps).required() });
  const body = validateBody(req, res, schema);
  if (body === undefined) return;
  const key = req.get('idempotency-key');
  if (key !== undefined && keySchema.validate(key).error !== undefined) {
    return sendError(res, 'validation_failed', 'Idempotency-Key must be 1 to 195 printable ASCII characters', 'headers.idempotency-key');
  }
  for (let i = 0; i < body.ops.length; i++) {
    const refused = operationError(body.ops[i], i);
    if (refused !== null) return sendError(res, refused.code, refused.message, refused.path);
  }
  const options = { label: body.label ?? 'POST /api/transaction' };
  if (key !== undefined) options.idempotencyKey = `http:${key}`;
  try {
    const result = await engine.batch(body.ops, options);
    return res.status(201).json({ id: result.id, state: result.state, steps: result.steps });
  } catch (err) {
    return sendTransactError(res, err);
  }
};
