/**
 * GET /api/reconciliation?limit=&after=&stuckSkip= (monitor) → {ok, checkedAt, mismatches, next,
 * stuck, stuckNext, limit} (api/lib/reconciliation.js, also behind the admin page), a page at a time:
 *  - every investor's cash against the sum of its ledger lines on account 'cash';
 *  - every loan's raised against the sum of its allocations;
 *    each mismatch {model, id, field, expected (from the lines), actual (stored; null: no such document)};
 *    at most `limit` (default 100, at most 1000); `next`: pass it as `after` for the next page (null: none);
 *  - stuck: transactions pending or rolling back whose lease ended (beyond the clock-skew
 *    allowance) and that recovery has not finished: {id, state, label, ageMs}; `stuckNext`: the
 *    `stuckSkip` of the next page (null: none).
 * `ok` is true only on a first page that found nothing, with no page after it.
 */
const Joi = require('joi');
const { reconcile, pageOf } = require('../../lib/reconciliation');
const { sendTransactError } = require('../../lib/http-errors');
const { validateQuery } = require('../../lib/validate');

/** Its page parameters only (checked again by pageOf): anything else in the query string is refused, not ignored. */
const querySchema = Joi.object({ limit: Joi.string(), after: Joi.string(), stuckSkip: Joi.string() });

module.exports = async function reconciliation(req, res) {
  if (validateQuery(req, res, querySchema) === undefined) return;
  let page;
  try {
    page = pageOf(req.query);
  } catch (err) {
    return sendTransactError(res, err);
  }
  const { ok, checkedAt, mismatches, next, stuck, stuckNext, limit } = await reconcile(sails, { page });
  return res.json({ ok, checkedAt, mismatches, next, stuck: stuck.map(({ id, state, label, ageMs }) => ({ id, state, label, ageMs })), stuckNext, limit });
};
