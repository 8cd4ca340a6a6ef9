/**
 * What needs attention — payments and orders the dropped-orders job escalated, transactions stuck
 * past their lease — and an admin's actions on the items: retry now, mark resolved. Every write
 * goes through the engine and records who, when and why on the item's `attempts`.
 */
import { type FundApp, transactOf } from '../app';
import { recordAttempt } from '../attempts';
import type { Attempt, Order, Payment } from '../domain';
import { settingsOf } from '../dropped-orders';
import { fundError } from '../errors';
import * as fund from '../fund';
import * as gateway from '../gateway-client';
import type { SessionUser } from '../http';

/** The documents an admin acts on. */
export type ItemKind = 'payment' | 'order';
export const ITEM_KINDS: readonly ItemKind[] = ['payment', 'order'];

/** Items per list on one page of the attention page. */
export const ATTENTION_PAGE = 100;
/** Deeper than this, skip-based pages get slow: the oldest items are the ones to act on. */
const ATTENTION_MAX_SKIP = 100_000;
/** Attempts kept on an item (the dropped-orders job keeps as many). */

export interface AttentionItem {
  kind: ItemKind;
  id: string;
  /** The gateway's paymentId (null: an order without one). */
  ref: string | null;
  amount: number;
  investor: string;
  ageMs: number;
  reason: string | null;
  attempts: number;
  lastAttempt: Attempt | null;
}

export interface StuckItem {
  id: string;
  state: string;
  label: string | null;
  ageMs: number;
  leaseUntil: number;
  attempts: number;
  reason: string;
}

export interface AttentionPage {
  items: AttentionItem[];
  stuck: StuckItem[];
  skip: number;
  /** The next page's skip (null: none). */
  next: number | null;
}

/** `?skip=` of the attention page: a multiple of its page size, else the first page. */
export function attentionSkip(query: Record<string, unknown> = {}): number {
  const skip = Number(query.skip);
  return Number.isSafeInteger(skip) && skip > 0 && skip <= ATTENTION_MAX_SKIP ? skip - (skip % ATTENTION_PAGE) : 0;
}

function itemOf(kind: ItemKind, doc: Payment | Order, now: number): AttentionItem {
  const attempts = Array.isArray(doc.attempts) ? doc.attempts : [];
  return { kind, id: doc.id, ref: doc.paymentId || null, amount: doc.amount, investor: doc.investor, ageMs: now - doc.createdAt, reason: doc.reason || null, attempts: attempts.length, lastAttempt: attempts.at(-1) ?? null };
}

/**
 * One page of what needs attention: payments and orders marked needs_attention (oldest first,
 * through the status+createdAt indexes) and transactions stuck past their lease, each at most
 * ATTENTION_PAGE from `skip`.
 */
export async function attention(app: FundApp, skip = 0): Promise<AttentionPage> {
  const now = Date.now();
  const page = { skip, limit: ATTENTION_PAGE + 1 };
  // A new criteria object per query: Waterline rewrites the one it is given.
  const oldestFirst = (): Record<string, unknown> => ({ where: { status: 'needs_attention' }, sort: [{ createdAt: 'ASC' }, { id: 'ASC' }], ...page });
  const [payments, orders, stuck] = await Promise.all([app.models.payment.find(oldestFirst()), app.models.order.find(oldestFirst()), transactOf(app).stuck({ ...page })]);
  const more = [payments, orders, stuck.items].some((list) => list.length > ATTENTION_PAGE);
  return {
    items: [...payments.slice(0, ATTENTION_PAGE).map((doc) => itemOf('payment', doc, now)), ...orders.slice(0, ATTENTION_PAGE).map((doc) => itemOf('order', doc, now))],
    stuck: stuck.items.slice(0, ATTENTION_PAGE).map((log) => ({ id: log.id, state: log.state, label: log.label, ageMs: log.ageMs, leaseUntil: log.leaseUntil, attempts: log.recoveries, reason: log.reason })),
    skip,
    next: more ? skip + ATTENTION_PAGE : null,
  };
}

function stamp(me: SessionUser, why?: string): string {
  return `by ${me.username} at ${new Date().toISOString()}${why ? `: ${why}` : ''}`;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Records an admin's check on the item (see attempts.ts). */
function recordAdminAttempt(app: FundApp, kind: ItemKind, id: string, attempt: Attempt & { by: string }): Promise<boolean> {
  return recordAttempt(app, kind, id, attempt, { label: `admin ${kind} ${attempt.outcome} ${attempt.by}` });
}

export type RetryOutcome = 'still_pending' | 'repaired' | 'cancelled';

/**
 * Retry now: the dropped-orders job's work for one payment (or an order's payment), under the
 * job's claim on the item: ask the gateway, then settle through the callback's own idempotent
 * path.
 */
export async function retryItem(app: FundApp, kind: ItemKind, id: string, me: SessionUser): Promise<{ outcome: RetryOutcome }> {
  const doc: Payment | Order | undefined = await app.models[kind].findOne({ id });
  if (!doc) throw fundError('not_found', `no ${kind} ${id}`);
  const paymentId = doc.paymentId;
  if (!paymentId) throw fundError('conflict', `${kind} ${id} has no gateway payment to ask about`);
  const payment = kind === 'payment' ? doc : await app.models.payment.findOne({ paymentId });
  if (!payment) throw fundError('not_found', `no payment ${paymentId}`);
  const settings = settingsOf(app);
  if (!settings.url) throw fundError('conflict', 'no payment gateway URL is configured (PAYMENT_GATEWAY_URL)');
  const ctx = transactOf(app).scheduler?.context() ?? null;
  const item = `payment:${paymentId}`;
  if (ctx && !(await ctx.claim(item, settings.claimMs))) throw fundError('conflict', `the dropped-orders job is working on ${item} now; try again in a moment`);
  const attempt = { at: Date.now(), by: me.username, admin: true };
  try {
    let answer: gateway.GatewayPayment;
    try {
      answer = await gateway.getPayment(settings, paymentId);
    } catch (err) {
      await recordAdminAttempt(app, 'payment', payment.id, { ...attempt, outcome: 'gateway_error', error: messageOf(err) });
      throw fundError('gateway_unavailable', `the gateway could not answer: ${messageOf(err)}`, { cause: err });
    }
    if (answer.status === 'pending') {
      await recordAdminAttempt(app, 'payment', payment.id, { ...attempt, outcome: 'still_pending', answer: answer.status });
      return { outcome: 'still_pending' };
    }
    const status = answer.status === 'succeeded' ? 'succeeded' : 'failed';
    try {
      await fund.handleCallback(app, { paymentId, status, amount: answer.amount });
    } catch (err) {
      await recordAdminAttempt(app, 'payment', payment.id, { ...attempt, outcome: 'error', answer: answer.status, error: messageOf(err) });
      throw fundError('conflict', `the gateway answered ${answer.status}, but it could not be applied: ${messageOf(err)}`, { cause: err });
    }
    const outcome = status === 'succeeded' ? 'repaired' : 'cancelled';
    await recordAdminAttempt(app, 'payment', payment.id, { ...attempt, outcome, answer: answer.status });
    return { outcome };
  } finally {
    if (ctx) await ctx.release(item);
  }
}

/** Mark resolved with a note: the payment becomes failed / the order cancelled, through the engine. */
export async function resolveItem(app: FundApp, kind: ItemKind, id: string, me: SessionUser, note: string): Promise<void> {
  const reason = `resolved ${stamp(me, note)}`.slice(0, 500);
  const status = kind === 'payment' ? 'failed' : 'cancelled';
  const attempt: Attempt = { at: Date.now(), by: me.username, admin: true, outcome: 'resolved', note };
  const done = await recordAttempt(app, kind, id, attempt, { set: { status, reason }, onlyIf: (current) => current.status === 'needs_attention', refusedWritesNothing: true, label: `admin resolve ${kind} ${stamp(me)}` });
  if (!done) throw fundError('conflict', `${kind} ${id} does not need attention`);
}
