/**
 * Paid orders (credited, not allocated: the loans were full when the payment arrived), allocated
 * later, once.
 */
import { isTransactError, newId, type Operation } from 'sails-hook-transact';
import type { FundApp } from '../app';
import type { Order } from '../domain';
import { addAllocation, Batch, fundErrorOf, maxLoansOf } from './batch';
import { findById } from './movements';
import { openLoans } from './orders';
import { type Part, planAllocation } from './planning';

export type PaidOrderOutcome = 'allocated' | 'already_allocated' | 'not_paid' | 'no_capacity';

export interface PaidOrderResult {
  outcome: PaidOrderOutcome;
  order: Order | undefined;
  error?: string;
}

/**
 * Allocates a gateway order left `paid` in one interactive transaction that reads the order under
 * its lock and does nothing unless it is still `paid` (the guard: a second allocation, by a race
 * or a repeat, finds it `allocated`), then debits cash, credits invested, raises the loans,
 * creates the allocations and the ledger lines (entry `order:<id>`, as in the settlement) and sets
 * it `allocated`. `attempt` makes the idempotency key (`allocate:<orderId>:<attempt>`): a keyed
 * failure replays, a new attempt needs a new key.
 */
export async function allocatePaidOrder(app: FundApp, orderId: string, attempt = 0): Promise<PaidOrderResult> {
  const order = await findById(app.models.order, 'order', orderId, 'order');
  if (order.status !== 'paid') return { outcome: order.status === 'allocated' ? 'already_allocated' : 'not_paid', order };
  let parts: Part[];
  try {
    parts = planAllocation(await openLoans(app), order.amount, order.maxPerLoan, maxLoansOf(app));
  } catch (err) {
    if (isTransactError(err, 'insufficient_capacity')) return { outcome: 'no_capacity', order, error: err.message };
    throw err;
  }
  const batch = addAllocation(new Batch(), { investor: order.investor, orderId, amount: order.amount, parts, entry: `order:${orderId}` });
  batch.add({ op: 'update', model: 'order', id: orderId, set: { status: 'allocated', reason: null } });
  let outcome: PaidOrderOutcome;
  try {
    outcome = await app.transact(
      async (tx): Promise<PaidOrderOutcome> => {
        const current = (await tx.read('order', orderId)) as Order | null;
        if (!current || current.status !== 'paid') return current && current.status === 'allocated' ? 'already_allocated' : 'not_paid';
        for (const op of batch.ops) await tx.apply(withId(op));
        return 'allocated';
      },
      { label: 'allocate paid order', idempotencyKey: `allocate:${orderId}:${attempt}` },
    );
  } catch (err) {
    const mapped = fundErrorOf(err, batch);
    if (isTransactError(mapped, 'insufficient_capacity') || isTransactError(mapped, 'insufficient_funds')) {
      return { outcome: 'no_capacity', order: await app.models.order.findOne({ id: orderId }), error: mapped.message };
    }
    throw mapped;
  }
  return { outcome, order: await app.models.order.findOne({ id: orderId }) };
}

/** A create's id, chosen here as the batch path chooses it (tx.apply writes the operation as given). */
function withId(op: Operation): Operation {
  return op.op === 'create' && op.id === undefined ? { ...op, id: newId() } : op;
}
