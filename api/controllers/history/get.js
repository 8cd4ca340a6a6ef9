/**
 * GET /api/history/:model/:id[?at=<ISO time>] (readonly) → {versions} (every committed version,
 * oldest first), or with `at` → {at, state} (the document as it was then; null if it did not
 * exist). Both read the log: writes made outside the engine are not in them.
 */
const Joi = require('joi');
const { identitySchema, validId } = require('../../lib/crud');
const { sendError, sendTransactError } = require('../../lib/http-errors');
const { validateQuery } = require('../../lib/validate');
const { atLeast } = require('../../lib/roles');

/**
 * Whether the caller may read this model's documents at all: the history shows whole images,
 * so it follows the model's blueprint read policy (`token/*: false`, `user/*` admin only).
 */
function mayRead(model, role) {
  const policy = sails.config.policies[`${model}/*`];
  const list = Array.isArray(policy) ? policy : [policy]; // Sails turns `false` into `[false]`
  if (list.includes(false)) return false;
  return !list.includes('isAdmin') || atLeast(role, 'admin');
}

const schema = Joi.object({ at: Joi.date().iso() });

module.exports = async function history(req, res) {
  const model = req.param('model');
  if (identitySchema.validate(model).error !== undefined) return sendError(res, 'unknown_model', 'no such model', 'model');
  if (!mayRead(model, req.me.role)) return sendError(res, 'forbidden', `the history of ${model} is not readable by role ${req.me.role}`, 'model');
  const id = validId(req, res);
  if (id === undefined) return;
  const query = validateQuery(req, res, schema);
  if (query === undefined) return;
  const engine = sails.hooks.transact.engine;
  try {
    if (query.at === undefined) return res.json({ versions: await engine.history(model, id) });
    return res.json({ at: query.at.toISOString(), state: await engine.stateAt(model, id, query.at) });
  } catch (err) {
    return sendTransactError(res, err);
  }
};
