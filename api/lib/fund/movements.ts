/**
 * Deposits and withdrawals, and telling the gateway to expect a payment.
 */
import { isTransactError, newId } from 'sails-hook-transact';
import type { FundApp, GatewaySettings, Model } from '../app';
import type { Investor, Payment } from '../domain';
import { fundError } from '../errors';
import * as gateway from '../gateway-client';
import { Batch, runBatch } from './batch';
import { callerDerivedId, type CallerKey, keyedOptions } from './planning';
import type { MovementInput } from './schemas';

/** A document that must exist (else `not_found` at `path`). */
export async function findById<T>(model: Model<T>, name: string, id: string, path: string): Promise<T> {
  const record = await model.findOne({ id });
  if (!record) throw fundError('not_found', `${name} ${id} does not exist`, { path });
  return record;
}

/**
 * A pending Payment the investor pays at the gateway; credited by its callback. With a caller's
 * idempotency key, that caller's repeat answers the same payment (another investor or amount under
 * the key: idempotency_conflict); another caller's same key makes a payment of its own.
 */
export async function deposit(app: FundApp, { investor, amount }: MovementInput, caller?: CallerKey): Promise<{ payment: Payment }> {
  const payment = caller === undefined ? newId() : callerDerivedId(caller, 'deposit');
  const replay = async (): Promise<{ payment: Payment } | null> => {
    const previous = await app.models.payment.findOne({ id: payment });
    if (!previous) return null;
    if (previous.investor !== investor || previous.amount !== amount) {
      throw fundError('idempotency_conflict', 'this Idempotency-Key was used for another deposit', { path: 'headers.idempotency-key' });
    }
    return { payment: previous };
  };
  if (caller !== undefined) {
    const previous = await replay();
    if (previous !== null) return previous;
  }
  await findById(app.models.investor, 'investor', investor, 'body.investor');
  const paymentId = `pay_${caller === undefined ? newId() : callerDerivedId(caller, 'depositPaymentId')}`;
  const values = { paymentId, investor, order: null, amount, status: 'pending', anomalies: [], settlements: 0, registeredAt: null };
  try {
    await runBatch(app, new Batch().add({ op: 'create', model: 'payment', id: payment, values }), { label: 'deposit', ...keyedOptions(caller, 'deposit') });
  } catch (err) {
    // A concurrent copy under the same key got there first: answer its payment.
    const previous = caller !== undefined && (isTransactError(err, 'idempotency_conflict') || isTransactError(err, 'in_progress')) ? await replay() : null;
    if (previous !== null) return previous;
    throw err;
  }
  await registerPayment(app, await findById(app.models.payment, 'payment', payment, 'payment'));
  return { payment: await findById(app.models.payment, 'payment', payment, 'payment') };
}

/** Where the gateway calls back: PAYMENT_CALLBACK_URL, else (development) this app on loopback. */
function callbackUrlOf(app: FundApp, settings: Pick<GatewaySettings, 'callbackUrl'>): string {
  return settings.callbackUrl || `http://127.0.0.1:${app.config.port}/api/payment/callback`;
}

/**
 * Tells the gateway to expect a payment (amount, callback URL) and records when it did
 * (`registeredAt`). The payment is committed first, so a registration that fails — the gateway
 * down, a timeout — loses nothing: the payment stays `pending` with `registeredAt: null`, and the
 * dropped-orders job registers it when the gateway does not know it. Without a gateway URL
 * (development without a gateway) nothing is registered. Returns whether the gateway took it.
 */
export async function registerPayment(app: FundApp, payment: Payment | undefined, settings: Pick<GatewaySettings, 'url' | 'timeoutMs' | 'callbackUrl'> = app.config.custom.gateway): Promise<boolean> {
  if (!settings.url || !payment || payment.status !== 'pending') return false;
  try {
    await gateway.createPayment(settings, { paymentId: payment.paymentId, amount: payment.amount, callbackUrl: callbackUrlOf(app, settings) });
  } catch (err) {
    app.log.warn(`payment ${payment.paymentId} not registered with the gateway (the dropped-orders job retries): ${err instanceof Error ? err.message : String(err)}`);
    return false;
  }
  await app.transact(
    async (tx) => {
      const current = (await tx.read('payment', payment.id)) as Payment | null;
      if (current && !current.registeredAt) await tx.update('payment', payment.id, { registeredAt: Date.now() });
    },
    { label: 'payment registered' },
  );
  return true;
}

export interface Withdrawal {
  withdrawal: { entry: string; investor: string; amount: number; transaction: string };
  investor: Investor | undefined;
}

/**
 * Cash −amount (never below 0: insufficient_funds) and its ledger lines, one batch. With a
 * caller's idempotency key it runs once for that caller: a repeat (concurrent too) answers the
 * same withdrawal, and is refused (idempotency_conflict) for another investor or amount; its
 * outcome stands, a refusal too (insufficient_funds is replayed: top up, then use a new key).
 */
export async function withdraw(app: FundApp, { investor, amount }: MovementInput, caller?: CallerKey): Promise<Withdrawal> {
  await findById(app.models.investor, 'investor', investor, 'body.investor');
  // Named by the key, so a repeat's batch is the same batch (the engine compares them).
  const entry = caller === undefined ? newId() : callerDerivedId(caller, 'withdrawal');
  const batch = new Batch()
    .add({ op: 'increment', model: 'investor', id: investor, field: 'cash', by: -amount, min: 0 }, 'funds')
    .ledger(entry, [
      { investor, account: 'cash', amount: -amount, memo: 'withdrawal' },
      { investor, account: 'withdrawals', amount, memo: 'withdrawal' },
    ]);
  const result = await runBatch(app, batch, { label: 'withdrawal', ...keyedOptions(caller, 'withdrawal') });
  return { withdrawal: { entry, investor, amount, transaction: result.id }, investor: await app.models.investor.findOne({ id: investor }) };
}
