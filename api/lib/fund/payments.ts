/**
 * Payment callbacks from the gateway: verified, then settled once whatever the number of
 * deliveries, answered from committed state.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { isTransactError } from 'sails-hook-transact';
import { type FundApp, transactOf } from '../app';
import type { Order, Payment } from '../domain';
import { fundError } from '../errors';
import { addAllocation, Batch, boundRole, fundErrorOf, maxLoansOf } from './batch';
import { openLoans } from './orders';
import { type Part, planAllocation } from './planning';
import type { CallbackInput } from './schemas';

const FINAL: readonly string[] = ['succeeded', 'failed'];
/** Errors after which another attempt (another key, or none) is safe: the settlement guard holds. */
const RETRYABLE: readonly string[] = ['lock_timeout', 'in_progress', 'aborted', 'lease_lost', 'idempotency_conflict'];

/** Constant-time check of the gateway's signature: hex HMAC-SHA256 of the raw body. */
export function validSignature(rawBody: unknown, signature: unknown, secret: unknown): boolean {
  if (!Buffer.isBuffer(rawBody) || typeof signature !== 'string' || typeof secret !== 'string' || secret === '') return false;
  if (!/^[0-9a-fA-F]{64}$/.test(signature)) return false;
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  return timingSafeEqual(expected, Buffer.from(signature, 'hex'));
}

export interface PaymentView {
  payment: Payment;
  order: Order | null;
}

/**
 * A payment and its order as committed: what the gateway is told is never a settlement that may
 * still roll back (a concurrent delivery's batch in flight). The payment is what decides the
 * answer; the order is read committed right after it.
 */
async function paymentView(app: FundApp, paymentId: string): Promise<PaymentView> {
  const reads = transactOf(app).reads();
  const [[payment]] = await reads.snapshot([{ model: 'payment', criteria: { where: { paymentId }, limit: 1 } }]);
  if (payment === undefined) throw fundError('not_found', `payment ${paymentId} does not exist`, { path: 'body.paymentId' });
  const orderId = (payment as unknown as Payment).order;
  const order = orderId ? ((await reads.findOne('order', orderId)) as Order | null) : null;
  return { payment: payment as unknown as Payment, order };
}

/** The answer to a callback for an already final payment: its state, or 409 for another status. */
function finalAnswer(view: PaymentView, status: string): PaymentView {
  if (view.payment.status !== status) {
    throw fundError('conflict', `payment ${view.payment.paymentId} is already ${view.payment.status}`, { path: 'body.status', details: { status: view.payment.status } });
  }
  return view;
}

/** Appends a mismatching callback to the payment's anomalies (locked read, then update). */
async function recordAnomaly(app: FundApp, payment: Payment, body: CallbackInput): Promise<void> {
  await app.transact(
    async (tx) => {
      const current = (await tx.read('payment', payment.id)) as Payment | null;
      if (current === null) return;
      const anomalies = Array.isArray(current.anomalies) ? current.anomalies : [];
      const set: Record<string, unknown> = { anomalies: [...anomalies, { at: Date.now(), amount: body.amount, status: body.status }] };
      if (!FINAL.includes(current.status)) set.status = 'needs_attention';
      await tx.update('payment', payment.id, set);
    },
    { label: 'payment anomaly' },
  );
}

/**
 * The settlement batch of a payment. `mode`: 'allocate' (a gateway order is allocated in the
 * same batch when the loans have room) or 'paid' (credit only; the order waits as 'paid').
 * Every settlement increments `settlements` with max 1 under the payment's lock: the guard
 * that makes a second settlement (another key, a race) fail with nothing written.
 */
async function settlementBatch(app: FundApp, payment: Payment, order: Order | null, status: CallbackInput['status'], mode: 'allocate' | 'paid'): Promise<Batch> {
  const batch = new Batch().add({ op: 'increment', model: 'payment', id: payment.id, field: 'settlements', by: 1, max: 1 }, 'settled');
  if (status === 'failed') {
    batch.add({ op: 'update', model: 'payment', id: payment.id, set: { status: 'failed' } });
    if (order) batch.add({ op: 'update', model: 'order', id: order.id, set: { status: 'cancelled', reason: 'payment failed' } });
    return batch;
  }
  const { investor, amount, paymentId } = payment;
  batch.add({ op: 'update', model: 'payment', id: payment.id, set: { status: 'succeeded' } });
  batch.add({ op: 'increment', model: 'investor', id: investor, field: 'cash', by: amount });
  batch.ledger(`payment:${paymentId}`, [
    { investor, paymentId, order: order ? order.id : null, account: 'cash', amount, memo: `payment ${paymentId}` },
    { investor, paymentId, order: order ? order.id : null, account: 'gateway', amount: -amount, memo: `payment ${paymentId}` },
  ]);
  if (!order) return batch;
  let parts: Part[] | null = null;
  if (mode === 'allocate') {
    try {
      parts = planAllocation(await openLoans(app), order.amount, order.maxPerLoan, maxLoansOf(app));
    } catch (err) {
      if (!isTransactError(err, 'insufficient_capacity')) throw err;
    }
  }
  if (parts === null) {
    batch.add({ op: 'update', model: 'order', id: order.id, set: { status: 'paid', reason: 'paid; waiting for loan capacity' } });
    return batch;
  }
  addAllocation(batch, { investor, orderId: order.id, amount: order.amount, parts, entry: `order:${order.id}` });
  batch.add({ op: 'update', model: 'order', id: order.id, set: { status: 'allocated', reason: null } });
  return batch;
}

/**
 * Handles a verified callback: {payment, order} (200) when it took effect now or before;
 * refused with not_found, amount_mismatch (recorded), conflict (another final status).
 */
export async function handleCallback(app: FundApp, body: CallbackInput): Promise<PaymentView> {
  const first = (await transactOf(app).reads().findOne('payment', { paymentId: body.paymentId })) as Payment | null;
  if (!first) throw fundError('not_found', `payment ${body.paymentId} does not exist`, { path: 'body.paymentId' });
  if (body.amount !== first.amount) {
    await recordAnomaly(app, first, body);
    throw fundError('amount_mismatch', `payment ${body.paymentId} is of ${first.amount} cents, the callback says ${body.amount}`, { path: 'body.amount' });
  }
  let mode: 'allocate' | 'paid' = 'allocate';
  let lastError: unknown = null;
  const keys = [`payment:${body.paymentId}`, `payment:${body.paymentId}:retry`, undefined];
  for (const key of keys) {
    const view = await paymentView(app, body.paymentId);
    if (FINAL.includes(view.payment.status)) return finalAnswer(view, body.status);
    const batch = await settlementBatch(app, view.payment, view.order, body.status, mode);
    try {
      await app.transact(batch.ops, { label: `payment ${body.status}`, ...(key === undefined ? {} : { idempotencyKey: key }) });
      return finalAnswer(await paymentView(app, body.paymentId), body.status);
    } catch (err) {
      lastError = err;
      const role = boundRole(err, batch);
      if (role === 'settled') continue; // settled by another delivery: answered from its state
      if (role === 'capacity') {
        mode = 'paid'; // a loan filled up between planning and the batch: credit now, allocate later
        continue;
      }
      if (!isTransactError(err) || !RETRYABLE.includes(err.code)) throw fundErrorOf(err, batch);
    }
  }
  const view = await paymentView(app, body.paymentId);
  if (FINAL.includes(view.payment.status)) return finalAnswer(view, body.status);
  throw lastError;
}
