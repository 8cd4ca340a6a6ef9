/**
 * The dropped-orders job: finds the money that was paid but never took effect, and repairs it
 * without ever crediting or allocating twice.
 *
 * A dropped order is
 *   - a Payment still `pending` (a deposit, or the payment of an order `awaiting_payment`) created
 *     more than `droppedAfterMs` ago: its callback was lost, the gateway was down, or the app
 *     crashed while settling it (recovery rolled the settlement back);
 *   - an Order `paid` (credited, never allocated: the loans were full, or the allocation was lost).
 *
 * For a payment the job asks the gateway (`GET /payments/:id`, bounded attempts with jittered
 * exponential backoff) and applies the answer through `fund.handleCallback`, the callback's own
 * idempotent path: succeeded → credited (and allocated) once, failed/expired → cancelled, nothing
 * credited; pending → left for the next run, until the payment is older than `pendingMaxAgeMs`:
 * then it needs attention (a payment never finished at the gateway is not asked about forever).
 * A payment the gateway does not know and that was never registered (the gateway was down when
 * the order was placed) is registered now, and asked about at the next run. A paid order is
 * allocated once by `fund.allocatePaidOrder`. When the gateway cannot answer after the last
 * attempt (or answers another amount, or does not know the payment) the payment and its order
 * become `needs_attention` with the reason: never silently dropped. Every check is recorded on the
 * item (`attempts`: time, outcome, error), written through the engine.
 *
 * Each item is claimed (`payment:<paymentId>`, `order:<orderId>`) with a lease in the datastore
 * before it is worked and released after: two instances never work one item at once; the
 * settlement guard (`settlements` max 1) and the order's locked status read make a race with a
 * callback harmless.
 */
import retry = require('async-retry');
import { isTransactError, type JobContext } from 'sails-hook-transact';
import { appState, type FundApp, type GatewaySettings } from './app';
import { recordAttempt, type TrackedKind } from './attempts';
import type { Attempt, Order, Payment } from './domain';
import * as fund from './fund';
import * as gateway from './gateway-client';

/** What one run counts, item by item. */
const COUNTS = ['found', 'repaired', 'cancelled', 'allocated', 'escalated', 'stillPending', 'registered', 'skipped', 'errors'] as const;
type DroppedCounts = Record<(typeof COUNTS)[number], number>;

function noCounts(): DroppedCounts {
  return Object.fromEntries(COUNTS.map((key) => [key, 0])) as DroppedCounts;
}

/** One run's summary. */
export interface DroppedSummary extends DroppedCounts {
  ms: number;
  skippedReason?: string;
}

/** The job's totals since the app started (/api/health, /metrics). */
export interface DroppedCounters extends DroppedCounts {
  runs: number;
  gatewayCalls: number;
  gatewayFailures: number;
  lastRunMs: number | null;
}

/** What the job needs of its scheduler context (a claim per item). */
export type ClaimContext = Pick<JobContext, 'claim' | 'release' | 'stopping'>;

/** The job's counters since the app started. */
export function countersOf(app: FundApp): DroppedCounters {
  return appState(app, 'droppedOrders', () => ({ ...noCounts(), runs: 0, gatewayCalls: 0, gatewayFailures: 0, lastRunMs: null }));
}

const DEFAULTS: GatewaySettings = {
  url: '',
  timeoutMs: 5000,
  attempts: 4,
  minBackoffMs: 500,
  maxBackoffMs: 10000,
  droppedAfterMs: 15 * 60 * 1000,
  pendingMaxAgeMs: 24 * 60 * 60 * 1000,
  callbackUrl: '',
  batchSize: 100,
  claimMs: 120000,
};

export function settingsOf(app: FundApp, overrides: Partial<GatewaySettings> = {}): GatewaySettings {
  return { ...DEFAULTS, ...app.config.custom.gateway, ...overrides };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Records a check of the job's on the item (see attempts.ts), with `set` when `onlyIf` allows. */
function record(app: FundApp, kind: TrackedKind, id: string, attempt: Attempt, set: Record<string, unknown> = {}, onlyIf?: (current: Payment | Order) => boolean): Promise<boolean> {
  return recordAttempt(app, kind, id, attempt, { set, onlyIf, label: `dropped-orders ${kind} attempt` });
}

/** Marks a still-pending payment (and its order still waiting) `needs_attention` with the reason. */
async function escalate(app: FundApp, payment: Payment, reason: string, attempt: Attempt): Promise<boolean> {
  const marked = await record(app, 'payment', payment.id, attempt, { status: 'needs_attention', reason }, (current) => current.status === 'pending' || current.status === 'needs_attention');
  if (payment.order) {
    await record(app, 'order', payment.order, attempt, { status: 'needs_attention', reason }, (current) => current.status === 'awaiting_payment' || current.status === 'needs_attention');
  }
  return marked;
}

/** Asks the gateway, with bounded, jittered exponential retries; every call is recorded. */
async function askGateway(app: FundApp, settings: GatewaySettings, payment: Payment, counters: DroppedCounters): Promise<{ answer: gateway.GatewayPayment; calls: number }> {
  let calls = 0;
  const answer = await retry(
    async (bail) => {
      calls++;
      counters.gatewayCalls++;
      try {
        return await gateway.getPayment(settings, payment.paymentId);
      } catch (err) {
        counters.gatewayFailures++;
        await record(app, 'payment', payment.id, { at: Date.now(), attempt: calls, outcome: 'gateway_error', error: messageOf(err) });
        if (!(err instanceof gateway.GatewayError) || !err.retryable) {
          bail(err instanceof Error ? err : new Error(String(err)));
          return undefined as never;
        }
        throw err;
      }
    },
    { retries: Math.max(0, settings.attempts - 1), minTimeout: settings.minBackoffMs, maxTimeout: settings.maxBackoffMs, factor: 2, randomize: true },
  );
  return { answer, calls };
}

/** Records an escalation on the item, counts it and logs it. */
async function escalated(app: FundApp, payment: Payment, reason: string, attempt: Attempt, summary: DroppedSummary): Promise<void> {
  await escalate(app, payment, reason, attempt);
  summary.escalated++;
  app.log.warn(`dropped-orders: payment ${payment.paymentId} needs attention: ${reason}`);
}

/** One pending payment: ask, then settle through the callback's path (or escalate). */
async function repairPayment(app: FundApp, settings: GatewaySettings, paymentId: string, summary: DroppedSummary, counters: DroppedCounters): Promise<void> {
  const payment = await app.models.payment.findOne({ paymentId });
  if (!payment || payment.status !== 'pending') {
    summary.skipped++; // settled meanwhile (a callback, another instance)
    return;
  }
  let asked: { answer: gateway.GatewayPayment; calls: number };
  try {
    asked = await askGateway(app, settings, payment, counters);
  } catch (err) {
    if (err instanceof gateway.GatewayError && err.kind === 'gateway_unknown_payment' && !payment.registeredAt) {
      const registered = await fund.registerPayment(app, payment, settings);
      await record(app, 'payment', payment.id, { at: Date.now(), outcome: registered ? 'registered' : 'error', ...(registered ? {} : { error: 'registration failed' }) });
      if (registered) summary.registered++;
      else summary.errors++;
      return;
    }
    await escalated(app, payment, `gateway could not confirm the payment: ${messageOf(err)}`, { at: Date.now(), outcome: 'escalated', error: messageOf(err) }, summary);
    return;
  }
  const { answer, calls } = asked;
  const attempt: Attempt = { at: Date.now(), attempt: calls, answer: answer.status, outcome: 'asked' };
  if (answer.status === 'pending') {
    const ageMs = Date.now() - payment.createdAt;
    if (ageMs > settings.pendingMaxAgeMs) {
      const reason = `still pending at the gateway ${Math.round(ageMs / 60000)} min after it was created (limit ${Math.round(settings.pendingMaxAgeMs / 60000)} min): check it at the gateway, then cancel or settle it`;
      await escalated(app, payment, reason, { ...attempt, outcome: 'escalated' }, summary);
      return;
    }
    await record(app, 'payment', payment.id, { ...attempt, outcome: 'still_pending' });
    summary.stillPending++;
    return;
  }
  const now = await app.models.payment.findOne({ id: payment.id });
  if (!now || now.status !== 'pending') {
    // Settled (or escalated) while we asked: by its callback. Nothing to do; the answer is recorded.
    await record(app, 'payment', payment.id, { ...attempt, outcome: 'settled_meanwhile' });
    summary.skipped++;
    return;
  }
  const status = answer.status === 'succeeded' ? 'succeeded' : 'failed'; // failed or expired: cancel
  try {
    const view = await fund.handleCallback(app, { paymentId, status, amount: answer.amount });
    const outcome = status === 'succeeded' ? (view.order && view.order.status === 'paid' ? 'credited_not_allocated' : 'repaired') : 'cancelled';
    await record(app, 'payment', payment.id, { ...attempt, outcome });
    if (status === 'succeeded') summary.repaired++;
    else summary.cancelled++;
  } catch (err) {
    if (isTransactError(err, 'amount_mismatch') || isTransactError(err, 'conflict')) {
      // The gateway disagrees with what we hold (the anomaly is recorded by handleCallback).
      await escalated(app, payment, `gateway answered ${answer.status} for ${answer.amount} cents: ${messageOf(err)}`, { ...attempt, outcome: 'escalated', error: messageOf(err) }, summary);
      return;
    }
    await record(app, 'payment', payment.id, { ...attempt, outcome: 'error', error: messageOf(err) }).catch(() => undefined);
    summary.errors++; // transient (lock timeout…): the next run tries again
    app.log.warn(`dropped-orders: payment ${paymentId}: ${messageOf(err)}`);
  }
}

/** One paid order: allocate it once; after `attempts` runs without room, escalate. */
async function repairPaidOrder(app: FundApp, settings: GatewaySettings, orderId: string, summary: DroppedSummary): Promise<void> {
  const order = await app.models.order.findOne({ id: orderId });
  if (!order || order.status !== 'paid') {
    summary.skipped++;
    return;
  }
  const previous = Array.isArray(order.attempts) ? order.attempts : [];
  try {
    const result = await fund.allocatePaidOrder(app, orderId, previous.length);
    const attempt: Attempt = { at: Date.now(), attempt: previous.length + 1, outcome: result.outcome, ...(result.error ? { error: result.error } : {}) };
    if (result.outcome === 'allocated') {
      await record(app, 'order', orderId, attempt);
      summary.allocated++;
      return;
    }
    if (result.outcome === 'no_capacity') {
      const waited = previous.filter((a) => a.outcome === 'no_capacity').length + 1;
      if (waited >= settings.attempts) {
        const reason = `paid, but no loan could take it after ${waited} checks: allocate or refund`;
        await record(app, 'order', orderId, { ...attempt, outcome: 'escalated' }, { status: 'needs_attention', reason }, (current) => current.status === 'paid');
        summary.escalated++;
        app.log.warn(`dropped-orders: order ${orderId} needs attention: ${reason}`);
      } else {
        await record(app, 'order', orderId, attempt);
        summary.stillPending++;
      }
      return;
    }
    summary.skipped++;
  } catch (err) {
    await record(app, 'order', orderId, { at: Date.now(), attempt: previous.length + 1, outcome: 'error', error: messageOf(err) }).catch(() => undefined);
    summary.errors++;
    app.log.warn(`dropped-orders: order ${orderId}: ${messageOf(err)}`);
  }
}

/** Works one item under its claim; false when another instance holds it. */
async function claimed(ctx: ClaimContext, item: string, leaseMs: number, work: () => Promise<void>): Promise<boolean> {
  if (!(await ctx.claim(item, leaseMs))) return false;
  try {
    await work();
  } finally {
    await ctx.release(item);
  }
  return true;
}

/** One run of the job on `app`. `overrides` replaces settings (tests). */
export async function run(app: FundApp, ctx: ClaimContext, overrides: Partial<GatewaySettings> = {}): Promise<DroppedSummary> {
  const settings = settingsOf(app, overrides);
  const counters = countersOf(app);
  const started = Date.now();
  const summary: DroppedSummary = { ...noCounts(), ms: 0 };
  if (!settings.url) {
    summary.skippedReason = 'no payment gateway URL (PAYMENT_GATEWAY_URL)';
    return summary;
  }
  const old = { createdAt: { '<=': started - settings.droppedAfterMs } };
  const [payments, waiting, paid] = await Promise.all([
    app.models.payment.find({ where: { status: 'pending', ...old }, sort: 'createdAt ASC', limit: settings.batchSize }),
    app.models.order.find({ where: { status: 'awaiting_payment', ...old }, sort: 'createdAt ASC', limit: settings.batchSize }),
    app.models.order.find({ where: { status: 'paid', ...old }, sort: 'createdAt ASC', limit: settings.batchSize }),
  ]);
  // An order awaiting payment is dropped when its payment is still pending (one in needs_attention is the operator's).
  const waitingIds = waiting.map((o) => o.paymentId).filter((id): id is string => Boolean(id));
  const waitingPending = waitingIds.length === 0 ? [] : await app.models.payment.find({ where: { paymentId: waitingIds, status: 'pending' } });
  const paymentIds = [...new Set([...payments.map((p) => p.paymentId), ...waitingPending.map((p) => p.paymentId)])];
  summary.found = paymentIds.length + paid.length;
  for (const paymentId of paymentIds) {
    if (ctx.stopping) break;
    const worked = await claimed(ctx, `payment:${paymentId}`, settings.claimMs, () => repairPayment(app, settings, paymentId, summary, counters));
    if (!worked) summary.skipped++;
  }
  // Orders a repair above just left `paid` are picked up by the next run (their loans were full now).
  for (const order of paid) {
    if (ctx.stopping) break;
    const worked = await claimed(ctx, `order:${order.id}`, settings.claimMs, () => repairPaidOrder(app, settings, order.id, summary));
    if (!worked) summary.skipped++;
  }
  summary.ms = Date.now() - started;
  counters.runs++;
  for (const key of COUNTS) counters[key] += summary[key];
  counters.lastRunMs = summary.ms;
  app.log.info(
    `dropped-orders: found ${summary.found}, repaired ${summary.repaired}, cancelled ${summary.cancelled}, allocated ${summary.allocated}, escalated ${summary.escalated}, still pending ${summary.stillPending}, registered ${summary.registered}, skipped ${summary.skipped}, errors ${summary.errors} (${summary.ms} ms)`,
  );
  return summary;
}
