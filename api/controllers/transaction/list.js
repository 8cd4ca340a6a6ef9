/**
 * GET /api/transaction?state=&model=&limit=&skip= (readonly) → {items, limit, skip}: log
 * documents newest first (by startedAt), without their bulky steps (GET /api/transaction/:id has
 * them). `model` keeps transactions that touched a document of that model (the log's
 * `documents` holds `model:id` strings: filtered here, in pages, since sails-disk cannot query
 * inside arrays).
 */
const Joi = require('joi');
const { identitySchema } = require('../../lib/crud');
const { validateQuery } = require('../../lib/validate');

const FIELDS = ['id', 'state', 'mode', 'label', 'idempotencyKey', 'startedAt', 'endedAt', 'documents', 'reverses', 'reversedBy', 'reason', 'error'];
const SCAN_PAGE = 200;

const schema = Joi.object({
  state: Joi.string().valid('pending', 'committed', 'rolling-back', 'rolled-back'),
  model: identitySchema,
  limit: Joi.number().integer().min(1).max(200).default(50),
  skip: Joi.number().integer().min(0).max(1_000_000).default(0),
});

function item(log) {
  const out = {};
  for (const field of FIELDS) out[field] = log[field] === undefined ? null : log[field];
  if (!Array.isArray(out.documents)) out.documents = [];
  return out;
}

module.exports = async function list(req, res) {
  const query = validateQuery(req, res, schema);
  if (query === undefined) return;
  const Log = sails.models.transactlog;
  const where = query.state === undefined ? {} : { state: query.state };
  const sort = [{ startedAt: 'DESC' }, { id: 'DESC' }];
  let logs;
  if (query.model === undefined) {
    logs = await Log.find({ where, sort, skip: query.skip, limit: query.limit });
  } else {
    const prefix = `${query.model}:`;
    const matches = [];
    for (let scanned = 0; matches.length < query.skip + query.limit; scanned += SCAN_PAGE) {
      const page = await Log.find({ where, sort, skip: scanned, limit: SCAN_PAGE });
      for (const log of page) if (Array.isArray(log.documents) && log.documents.some((key) => typeof key === 'string' && key.startsWith(prefix))) matches.push(log);
      if (page.length < SCAN_PAGE) break;
    }
    logs = matches.slice(query.skip, query.skip + query.limit);
  }
  return res.json({ items: logs.map(item), limit: query.limit, skip: query.skip });
};
