/**
 * The fund's test kit: seeding investors, platforms and loans through the engine, snapshots of
 * the domain data (to prove "nothing was written"), and the invariants every scenario must keep.
 */
import { expect } from 'chai';
import type { Engine } from '../../lib/engine';
import { rawDestroy } from '../../lib/models/destroy-guard';
import { newId } from '../../lib/core/ids';
import type { FundApp } from '../../api/lib/app';
import type { LoadedApp } from './app';

export type Doc = Record<string, unknown>;
export interface Op {
  op: 'create' | 'update' | 'increment' | 'destroy';
  model: string;
  id?: string;
  values?: Doc;
  set?: Doc;
  field?: string;
  by?: number;
  min?: number;
  max?: number;
}

/** The fund's own services, as the app compiles them: the tests call the real, typed code. */
export * as fundLib from '../../api/lib/fund';
export type { LoanLike, OrderPlan, Part } from '../../api/lib/fund';
export * as reconciliationLib from '../../api/lib/reconciliation';

/** A loaded test app as the fund's code takes it (the one cast between Sails and the app's view of it). */
export function asFund(app: LoadedApp): FundApp {
  return app as unknown as FundApp;
}

export const DOMAIN = ['investor', 'platform', 'loan', 'order', 'allocation', 'payment', 'ledgerentry'] as const;

export function engineOf(app: LoadedApp): Engine {
  return app.hooks.transact.engine as Engine;
}

export async function all(app: LoadedApp, model: string, where: Doc = {}): Promise<Doc[]> {
  const rows = await app.models[model].find(where);
  return [...rows].sort((a, b) => String(a.id).localeCompare(String(b.id)));
}

/** The fund's accounts and what moves their money (api/lib/fund/accounts.ts). */
export const ACCOUNTS = ['account', 'transfer', 'accountentry'] as const;

/** Empties the domain models, the accounts and the hook's log and locks (past the history guard: tests only). */
export async function wipeFund(app: LoadedApp): Promise<void> {
  for (const identity of [...DOMAIN, ...ACCOUNTS, 'transactlog', 'transactlock']) await rawDestroy(app.models[identity])({});
}

/** Every domain document, by model: equal snapshots before and after prove nothing was written. */
export async function snapshot(app: LoadedApp): Promise<Record<string, Doc[]>> {
  const out: Record<string, Doc[]> = {};
  for (const model of DOMAIN) out[model] = await all(app, model);
  return out;
}

/** Runs ops in engine batches of at most `size`. */
export async function batches(app: LoadedApp, ops: Op[], size = 500): Promise<void> {
  for (let i = 0; i < ops.length; i += size) await engineOf(app).batch(ops.slice(i, i + size), { label: 'seed' });
}

/** An investor with `cash` cents, paid in as a seed deposit (ledger: cash +cash, gateway −cash). */
export async function seedInvestor(app: LoadedApp, name: string, cash: number): Promise<string> {
  const id = newId();
  const entry = `seed:${id}`;
  const ops: Op[] = [{ op: 'create', model: 'investor', id, values: { name, cash, invested: 0 } }];
  if (cash > 0) {
    ops.push({ op: 'create', model: 'ledgerentry', values: { entry, investor: id, account: 'cash', amount: cash, memo: 'seed' } });
    ops.push({ op: 'create', model: 'ledgerentry', values: { entry, investor: id, account: 'gateway', amount: -cash, memo: 'seed' } });
  }
  await batches(app, ops);
  return id;
}

export interface SeededLoans {
  platforms: string[];
  loans: string[];
}

/** `platforms` platforms and loans spread round-robin over them, with these targets (and raised). */
export async function seedLoans(app: LoadedApp, platforms: number, loans: { target: number; raised?: number }[]): Promise<SeededLoans> {
  const platformIds = Array.from({ length: platforms }, () => newId());
  const loanIds = loans.map(() => newId());
  const ops: Op[] = platformIds.map((id, i) => ({ op: 'create' as const, model: 'platform', id, values: { name: `platform ${i}` } }));
  loans.forEach((loan, i) => {
    const values = { platform: platformIds[i % platforms], borrower: `borrower ${i}`, target: loan.target, raised: loan.raised ?? 0, rateBps: 800, termMonths: 12, status: 'open' };
    ops.push({ op: 'create', model: 'loan', id: loanIds[i], values });
  });
  await batches(app, ops);
  return { platforms: platformIds, loans: loanIds };
}

function num(value: unknown): number {
  expect(value, 'a number').to.be.a('number');
  return value as number;
}

function sumBy(rows: Doc[], key: (row: Doc) => string, value: (row: Doc) => number): Map<string, number> {
  const out = new Map<string, number>();
  for (const row of rows) out.set(key(row), (out.get(key(row)) ?? 0) + value(row));
  return out;
}

/**
 * The fund's invariants, against the database:
 * 1. no investor's cash (nor invested) below 0;
 * 2. no loan's raised above its target (nor below 0);
 * 3. each allocated order's allocations sum to its amount (other orders have none);
 * 4. each investor's cash equals the sum of its `cash` ledger lines (invested: its `invested` lines);
 * 5. each paymentId credited at most once: its gateway lines come from one entry and sum to
 *    −amount if succeeded, 0 otherwise; and every ledger entry sums to zero.
 */
export async function expectFundInvariants(app: LoadedApp): Promise<void> {
  const [investors, loans, orders, allocations, payments, lines] = await Promise.all(
    ['investor', 'loan', 'order', 'allocation', 'payment', 'ledgerentry'].map((model) => all(app, model)),
  );
  for (const investor of investors) {
    expect(num(investor.cash), `investor ${String(investor.id)} cash`).to.be.at.least(0);
    expect(num(investor.invested), `investor ${String(investor.id)} invested`).to.be.at.least(0);
  }
  for (const loan of loans) {
    expect(num(loan.raised), `loan ${String(loan.id)} raised`).to.be.within(0, num(loan.target));
  }
  const allocated = sumBy(allocations, (a) => String(a.order), (a) => num(a.amount));
  for (const allocation of allocations) expect(num(allocation.amount), 'allocation amount').to.be.at.least(1);
  for (const order of orders) {
    const expected = order.status === 'allocated' ? num(order.amount) : 0;
    expect(allocated.get(String(order.id)) ?? 0, `allocations of order ${String(order.id)} (${String(order.status)})`).to.equal(expected);
  }
  const orderIds = new Set(orders.map((o) => String(o.id)));
  for (const order of allocated.keys()) expect(orderIds.has(order), `allocations of a missing order ${order}`).to.equal(true);
  const cashLines = sumBy(lines.filter((l) => l.account === 'cash'), (l) => String(l.investor), (l) => num(l.amount));
  const investedLines = sumBy(lines.filter((l) => l.account === 'invested'), (l) => String(l.investor), (l) => num(l.amount));
  for (const investor of investors) {
    expect(cashLines.get(String(investor.id)) ?? 0, `cash lines of investor ${String(investor.id)}`).to.equal(investor.cash);
    expect(investedLines.get(String(investor.id)) ?? 0, `invested lines of investor ${String(investor.id)}`).to.equal(investor.invested);
  }
  for (const [entry, sum] of sumBy(lines, (l) => String(l.entry), (l) => num(l.amount))) expect(sum, `ledger entry ${entry} balances`).to.equal(0);
  const gatewayLines = lines.filter((l) => l.account === 'gateway' && typeof l.paymentId === 'string');
  const paymentIds = payments.map((p) => String(p.paymentId));
  expect(new Set(paymentIds).size, 'paymentIds are unique').to.equal(paymentIds.length);
  for (const payment of payments) {
    const mine = gatewayLines.filter((l) => l.paymentId === payment.paymentId);
    expect(new Set(mine.map((l) => l.entry)).size, `entries crediting ${String(payment.paymentId)}`).to.be.at.most(1);
    const credited = -mine.reduce((sum, l) => sum + num(l.amount), 0);
    expect(credited, `credited for ${String(payment.paymentId)} (${String(payment.status)})`).to.equal(payment.status === 'succeeded' ? num(payment.amount) : 0);
    expect(num(payment.settlements), 'settlements').to.equal(payment.status === 'succeeded' || payment.status === 'failed' ? 1 : 0);
  }
  for (const line of gatewayLines) expect(paymentIds, 'gateway lines name a known payment').to.include(line.paymentId);
}
