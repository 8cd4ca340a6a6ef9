/**
 * Correcting a deposit credited to the wrong investor. The deposit's own transaction is not
 * reversed (its Payment and ledger lines are financial history: `irreversible`); the correction
 * is a new movement of its own, in one transaction: the wrong investor's cash −amount (never
 * below 0: 409 insufficient_funds when it was spent meanwhile), the right one's +amount, two
 * `cash` ledger lines naming the payment and the reason, and the payment now naming the right
 * investor. Both the old attribution and the correction stay in the log and the ledger.
 */
import { isTransactError, newId } from 'sails-hook-transact';
import { type FundApp, transactOf } from '../app';
import type { Payment } from '../domain';
import { fundError } from '../errors';
import { Batch } from './batch';

export interface ReassignInput {
  investor: string;
  reason: string;
}

export async function reassignDeposit(app: FundApp, paymentId: string, { investor, reason }: ReassignInput): Promise<{ payment: Payment; transaction: string }> {
  const found = (await transactOf(app).reads().findOne('payment', { paymentId })) as Payment | null;
  if (found === null) throw fundError('not_found', `payment ${paymentId} does not exist`, { path: 'paymentId' });
  return app.transact(
    async (tx) => {
      const payment = (await tx.read('payment', found.id)) as Payment | null;
      if (payment === null) throw fundError('not_found', `payment ${paymentId} does not exist`, { path: 'paymentId' });
      if (payment.status !== 'succeeded' || payment.order !== null) {
        throw fundError('conflict', `payment ${paymentId} is not a credited deposit (status ${payment.status}${payment.order === null ? '' : ', it paid an order'})`, { path: 'paymentId', details: { status: payment.status } });
      }
      if (payment.investor === investor) throw fundError('conflict', `payment ${paymentId} is already credited to investor ${investor}`, { path: 'body.investor' });
      if ((await tx.read('investor', investor)) === null) throw fundError('not_found', `investor ${investor} does not exist`, { path: 'body.investor' });
      try {
        await tx.increment('investor', payment.investor, 'cash', -payment.amount, { min: 0 });
      } catch (err) {
        if (isTransactError(err, 'bound_violation')) throw fundError('insufficient_funds', `investor ${payment.investor} no longer holds the ${payment.amount} cents credited`, { path: 'paymentId' });
        throw err;
      }
      await tx.increment('investor', investor, 'cash', payment.amount);
      const memo = `correction of deposit ${paymentId}: ${reason}`.slice(0, 500);
      const lines = new Batch().ledger(newId(), [
        { investor: payment.investor, paymentId, account: 'cash', amount: -payment.amount, memo },
        { investor, paymentId, account: 'cash', amount: payment.amount, memo },
      ]);
      for (const op of lines.ops) if (op.op === 'create') await tx.create(op.model, op.values);
      const updated = (await tx.update('payment', payment.id, { investor })) as unknown as Payment;
      return { payment: updated, transaction: tx.id };
    },
    { label: 'deposit reassigned' },
  );
}
