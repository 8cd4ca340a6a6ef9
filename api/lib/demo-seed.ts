/**
 * The demo fund (`npm run seed`): 5 platforms, 60 open loans, 5 investors whose cash came in
 * through (simulated) gateway deposits, with the matching ledger lines. One engine batch with an
 * idempotency key, so seeding twice changes nothing.
 */
import { newId, type Operation } from 'sails-hook-transact';
import type { FundApp } from './app';

export const DEMO_PLATFORMS = ['Lendbridge', 'Koala Loans', 'Renrendai', 'Mintos', 'Bondora'];
export const DEMO_LOANS = 60;
/** Name and deposited cash (cents). */
export const DEMO_INVESTORS: readonly (readonly [string, number])[] = [['Ada', 2_500_000], ['Bo', 800_000], ['Chen', 12_000_000], ['Dara', 150_000], ['Eli', 4_200_000]];

export function demoOperations(): Operation[] {
  const ops: Operation[] = [];
  const platforms = DEMO_PLATFORMS.map((name) => {
    const id = newId();
    ops.push({ op: 'create', model: 'platform', id, values: { name } });
    return id;
  });
  for (let i = 0; i < DEMO_LOANS; i++) {
    ops.push({
      op: 'create',
      model: 'loan',
      values: { platform: platforms[i % platforms.length], borrower: `Borrower ${i + 1}`, target: 500_000 + (i % 7) * 250_000, rateBps: 600 + (i % 9) * 75, termMonths: [6, 12, 24, 36][i % 4] },
    });
  }
  for (const [name, cash] of DEMO_INVESTORS) {
    const investor = newId();
    const paymentId = newId();
    const entry = newId();
    ops.push({ op: 'create', model: 'investor', id: investor, values: { name, cash } });
    ops.push({ op: 'create', model: 'payment', values: { paymentId, investor, order: null, amount: cash, status: 'succeeded' } });
    ops.push({ op: 'create', model: 'ledgerentry', values: { entry, investor, account: 'cash', amount: cash, memo: `deposit ${paymentId}` } });
    ops.push({ op: 'create', model: 'ledgerentry', values: { entry, investor: null, account: 'gateway', amount: -cash, memo: `deposit ${paymentId}` } });
  }
  return ops;
}

/** Seeds the demo fund unless it has platforms already: the seed's transaction id, or null when there was nothing to seed. */
export async function seedDemoFund(app: FundApp): Promise<string | null> {
  if ((await app.models.platform.count()) > 0) return null;
  const result = await app.transact(demoOperations(), { label: 'demo seed', idempotencyKey: 'demo-seed-v1' });
  return result.id;
}
