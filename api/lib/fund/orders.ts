/**
 * Orders: from cash (allocated in the same batch) or through the gateway (allocated when paid).
 */
import { isTransactError, newId, type TransactionOptions } from 'sails-hook-transact';
import type { FundApp } from '../app';
import type { Allocation, Loan, Order, Payment } from '../domain';
import { fundError } from '../errors';
import { addAllocation, Batch, maxLoansOf, runBatch } from './batch';
import { findById, registerPayment } from './movements';
import { callerDerivedId, type CallerKey, keyedOptions, type Part, planAllocation } from './planning';
import type { OrderInput } from './schemas';

export interface OrderView {
  order: Order;
  allocations: Allocation[];
  payment?: Payment;
}

export async function orderView(app: FundApp, orderId: string): Promise<OrderView | null> {
  const order = await app.models.order.findOne({ id: orderId });
  if (!order) return null;
  const allocations = await app.models.allocation.find({ order: orderId });
  allocations.sort((a, b) => String(a.id).localeCompare(String(b.id)));
  const payment = order.paymentId ? await app.models.payment.findOne({ paymentId: order.paymentId }) : undefined;
  return payment ? { order, allocations, payment } : { order, allocations };
}

export function openLoans(app: FundApp): PromiseLike<Loan[]> {
  return app.models.loan.find({ status: 'open' });
}

export interface OrderPlan {
  orderId: string;
  batch: Batch;
  parts: Part[];
}

/**
 * Plans a cash order against the current investor and loans: the batch that will run, or a
 * refusal (not_found, insufficient_funds, insufficient_capacity). Writes nothing.
 */
export async function planCashOrder(app: FundApp, { investor, amount, maxPerLoan = null, orderId = newId() }: { investor: string; amount: number; maxPerLoan?: number | null; orderId?: string }): Promise<OrderPlan> {
  const holder = await findById(app.models.investor, 'investor', investor, 'body.investor');
  if ((holder.cash || 0) < amount) throw fundError('insufficient_funds', `the investor has ${holder.cash || 0} cents of cash, the order needs ${amount}`, { path: 'body.amount' });
  const parts = planAllocation(await openLoans(app), amount, maxPerLoan, maxLoansOf(app));
  const batch = addAllocation(new Batch(), { investor, orderId, amount, parts, entry: orderId });
  batch.add({ op: 'create', model: 'order', id: orderId, values: { investor, amount, maxPerLoan, funding: 'cash', paymentId: null, status: 'allocated', reason: null } });
  return { orderId, batch, parts };
}

/** Runs a planned order; a loan or the cash changed since planning → insufficient_*, nothing written. */
export async function executeOrder(app: FundApp, plan: OrderPlan, options: TransactionOptions = {}): Promise<OrderView | null> {
  await runBatch(app, plan.batch, { label: 'order', ...options });
  return orderView(app, plan.orderId);
}

function sameOrder(order: Order, input: OrderInput): boolean {
  return order.investor === input.investor && order.amount === input.amount && order.funding === input.funding && (order.maxPerLoan ?? null) === (input.maxPerLoan ?? null);
}

/**
 * Places an order. With a caller's idempotency key, that caller's repeat returns the first order
 * (or, if the first was refused, is planned again: a refusal writes nothing); another caller's
 * same key places an order of its own.
 */
export async function placeOrder(app: FundApp, input: OrderInput, caller?: CallerKey): Promise<OrderView | null> {
  // A keyed order's documents are named by its key, so a repeat cannot create them twice.
  const idOf = (purpose: string): string => (caller === undefined ? newId() : callerDerivedId(caller, purpose));
  const orderId = idOf('order');
  const replay = async (): Promise<OrderView | null> => {
    const view = await orderView(app, orderId);
    if (view === null) return null;
    if (!sameOrder(view.order, input)) throw fundError('idempotency_conflict', 'this Idempotency-Key was used for another order', { path: 'headers.idempotency-key' });
    return view;
  };
  if (caller !== undefined) {
    const previous = await replay();
    if (previous !== null) return previous;
  }
  const options: TransactionOptions = keyedOptions(caller, 'order');
  try {
    if (input.funding === 'cash') {
      return await executeOrder(app, await planCashOrder(app, { ...input, orderId }), options);
    }
    await findById(app.models.investor, 'investor', input.investor, 'body.investor');
    await placeGatewayOrder(app, input, orderId, { id: idOf('payment'), paymentId: `pay_${idOf('paymentId')}` }, options);
    return await orderView(app, orderId);
  } catch (err) {
    if (caller !== undefined && (isTransactError(err, 'idempotency_conflict') || isTransactError(err, 'in_progress'))) {
      const previous = await replay();
      if (previous !== null) return previous;
    }
    throw err;
  }
}

/**
 * A gateway order and its pending payment, in one transaction; the gateway is told of the payment
 * by its afterCommit hook: only once both are committed (never a payment the gateway could take
 * for an order that was rolled back), once (a keyed repeat replays and runs no hook), and without
 * failing the order when the gateway is down — the payment then stays unregistered and the
 * dropped-orders job registers it. In-process: a crash right after the commit loses the hook,
 * and the same job catches that payment too.
 */
async function placeGatewayOrder(app: FundApp, input: OrderInput, orderId: string, payment: { id: string; paymentId: string }, options: TransactionOptions): Promise<void> {
  const { paymentId } = payment;
  await app.transact(
    async (tx) => {
      await tx.create('order', { investor: input.investor, amount: input.amount, maxPerLoan: input.maxPerLoan ?? null, funding: 'gateway', paymentId, status: 'awaiting_payment', reason: null }, orderId);
      await tx.create('payment', { paymentId, investor: input.investor, order: orderId, amount: input.amount, status: 'pending', anomalies: [], settlements: 0, registeredAt: null }, payment.id);
      tx.afterCommit(async () => {
        await registerPayment(app, await app.models.payment.findOne({ paymentId }));
      });
      // A keyed transaction's result is kept to be replayed: JSON, and nothing it needs.
      return null;
    },
    { label: 'order', ...options },
  );
}
