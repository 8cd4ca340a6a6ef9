/**
 * GET /api/reconciliation (monitor) → {ok, checkedAt, mismatches, stuck} (api/lib/reconciliation.js,
 * also behind the admin page):
 *  - every investor's cash against the sum of its ledger lines on account 'cash';
 *  - every loan's raised against the sum of its allocations;
 *    each mismatch {model, id, field, expected (from the lines), actual (stored; null: no such document)};
 *  - stuck: transactions pending or rolling back whose lease ended (beyond the clock-skew
 *    allowance) and that recovery has not finished: {id, state, label, ageMs}.
 */
const Joi = require('joi');
const { reconcile } = require('../../lib/reconciliation');
const { validateQuery } = require('../../lib/validate');

/** It takes no parameters: anything in the query string is refused, not ignored. */
const querySchema = Joi.object({});

module.exports = async function reconciliation(req, res) {
  if (validateQuery(req, res, querySchema) === undefined) return;
  const { ok, checkedAt, mismatches, stuck } = await reconcile(sails);
  return res.json({ ok, checkedAt, mismatches, stuck: stuck.map(({ id, state, label, ageMs }) => ({ id, state, label, ageMs })) });
};
