/**
 * Open and monitoring endpoints: health, Prometheus metrics, reconciliation.
 */
import Joi = require('joi');
import { transactOf } from '../app';
import { countersOf } from '../dropped-orders';
import { type FundAction, sendCaught, validQuery } from '../http';
import * as metrics from '../metrics';
import { type PageRequest, pageOf, reconcile } from '../reconciliation';

/** GET / — what this app is, and where to look. */
export const home: FundAction = (_req, res) => res.json({ app: 'P2P fund ledger (sails-hook-transact demo)', accounts: '/api/account', transfers: 'POST /transfers {from, to, amount}' });

/**
 * GET /api/health — no auth, no secrets: is the datastore reachable, and how is recovery doing;
 * transaction counters, the dropped-orders job's counters and the scheduler's jobs. 503 when the
 * datastore does not answer.
 */
export const health: FundAction = async (req, res) => {
  const app = req._sails;
  const hook = transactOf(app);
  const state = await hook.health();
  res.status(state.status === 'ok' ? 200 : 503).json({
    ...state,
    droppedOrders: countersOf(app),
    jobs: (hook.scheduler?.status() ?? []).map((job) => ({
      name: job.name,
      enabled: job.enabled,
      running: job.running,
      runs: job.runs,
      failures: job.failures,
      lastDurationMs: job.lastDurationMs,
      lastError: job.lastError,
      nextRunAt: job.nextRunAt,
    })),
  });
};

/**
 * GET /metrics — Prometheus exposition (text format): transactions committed / rolled back /
 * recovered, dropped orders found / repaired / escalated, job runs and durations. Counts only, no
 * secrets or personal data: open like /api/health (restrict it at the network edge if needed).
 */
export const prometheus: FundAction = async (req, res) => {
  const { contentType, body } = await metrics.render(req._sails);
  res.set('Content-Type', contentType);
  res.status(200).send(body);
};

/** Its page parameters only (checked again by pageOf): anything else in the query string is refused, not ignored. */
const reconciliationQuery = Joi.object({ limit: Joi.string(), after: Joi.string(), stuckSkip: Joi.string() });

/**
 * GET /api/reconciliation?limit=&after=&stuckSkip= (monitor) → {ok, checkedAt, mismatches, next,
 * stuck, stuckNext, limit} (api/lib/reconciliation.ts, also behind the admin page), a page at a time:
 *  - every investor's cash against the sum of its ledger lines on account 'cash';
 *  - every loan's raised against the sum of its allocations;
 *    each mismatch {model, id, field, expected (from the lines), actual (stored; null: no such document)};
 *    at most `limit` (default 100, at most 1000); `next`: pass it as `after` for the next page (null: none);
 *  - stuck: transactions pending or rolling back whose lease ended (beyond the clock-skew
 *    allowance) and that recovery has not finished: {id, state, label, ageMs}; `stuckNext`: the
 *    `stuckSkip` of the next page (null: none).
 * `ok` is true only on a first page that found nothing, with no page after it.
 */
export const reconciliation: FundAction = async (req, res) => {
  if (validQuery(req, res, reconciliationQuery) === undefined) return;
  let page: PageRequest;
  try {
    page = pageOf(req.query);
  } catch (err) {
    sendCaught(res, err);
    return;
  }
  const { ok, checkedAt, mismatches, next, stuck, stuckNext, limit } = await reconcile(req._sails, { page });
  res.json({ ok, checkedAt, mismatches, next, stuck: stuck.map(({ id, state, label, ageMs }) => ({ id, state, label, ageMs })), stuckNext, limit });
};
