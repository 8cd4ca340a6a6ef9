/**
 * POST /api/transaction/:id/reverse {reason} (admin) → 201 {id, reverses}: a new transaction
 * that undoes a committed one, linked both ways. 404 unknown; 409 not_committed,
 * already_reversed, conflict (a document changed since), irreversible, bound_violation.
 */
const Joi = require('joi');
const { validId } = require('../../lib/crud');
const { sendTransactError } = require('../../lib/http-errors');
const { validateBody } = require('../../lib/validate');

const schema = Joi.object({ reason: Joi.string().pattern(/\S/, 'not blank').max(500).required() });

module.exports = async function reverse(req, res) {
  const id = validId(req, res);
  if (id === undefined) return;
  const body = validateBody(req, res, schema);
  if (body === undefined) return;
  try {
    const result = await sails.hooks.transact.engine.reverse(id, { reason: body.reason });
    return res.status(201).json({ id: result.id, reverses: result.reverses });
  } catch (err) {
    return sendTransactError(res, err);
  }
};
