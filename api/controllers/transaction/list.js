/**
 * GET /api/transaction?state=&model=&limit=&skip= (readonly) → {items, limit, skip}: log
 * documents newest first (by startedAt), without their bulky steps (GET /api/transaction/:id has
 * them); the hook's listTransactions, shared with the admin page. `model` keeps transactions that touched a document of that model (the log's
 * `documents` holds `model:id` strings: filtered here, in pages, since sails-disk cannot query
 * inside arrays).
 */
const Joi = require('joi');
const { identitySchema } = require('../../lib/crud');
const { validateQuery } = require('../../lib/validate');

const { listTransactions } = require('../../hooks/transact');

const schema = Joi.object({
  state: Joi.string().valid('pending', 'committed', 'rolling-back', 'rolled-back'),
  model: identitySchema,
  limit: Joi.number().integer().min(1).max(200).default(50),
  skip: Joi.number().integer().min(0).max(1_000_000).default(0),
});

module.exports = async function list(req, res) {
  const query = validateQuery(req, res, schema);
  if (query === undefined) return;
  const { items } = await listTransactions(sails.hooks.transact.engine, query);
  return res.json({ items, limit: query.limit, skip: query.skip });
};
