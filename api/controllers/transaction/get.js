/** GET /api/transaction/:id (readonly) → the whole log document (steps included), 404 if unknown. */
const { validId } = require('../../lib/crud');
const { sendError } = require('../../lib/http-errors');

module.exports = async function get(req, res) {
  const id = validId(req, res);
  if (id === undefined) return;
  const log = await sails.hooks.transact.engine.getLog(id);
  if (log === null) return sendError(res, 'not_found', `no transaction ${id}`, 'id');
  return res.json(log);
};
