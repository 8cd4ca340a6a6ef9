/**
 * GET /api/history/:model/:id[?at=<ISO time>] (readonly) → {versions} (every committed version,
 * oldest first), or with `at` → {at, state} (the document as it was then; null if it did not
 * exist). Both read the log: writes made outside the engine are not in them.
 */
const Joi = require('joi');
const { identitySchema, validId } = require('../../lib/crud');
const { sendError, sendTransactError } = require('../../lib/http-errors');
const { validateQuery } = require('../../lib/validate');

const schema = Joi.object({ at: Joi.date().iso() });

module.exports = async function history(req, res) {
  const model = req.param('model');
  if (identitySchema.validate(model).error !== undefined) return sendError(res, 'unknown_model', 'no such model', 'model');
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
