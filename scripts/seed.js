/**
 * npm run seed — a working fund at once: 5 platforms, 60 open loans, 5 investors whose cash
 * came in through (simulated) gateway deposits, with the matching ledger lines. Runs through the
 * engine with an idempotency key, so running it twice changes nothing.
 */
process.chdir(`${__dirname}/..`);
const Sails = require('sails').constructor;
const { newId } = require('sails-hook-transact');

const PLATFORMS = ['Lendbridge', 'Koala Loans', 'Renrendai', 'Mintos', 'Bondora'];
const INVESTORS = [['Ada', 2_500_000], ['Bo', 800_000], ['Chen', 12_000_000], ['Dara', 150_000], ['Eli', 4_200_000]];

function operations() {
  const ops = [];
  const platforms = PLATFORMS.map((name) => {
    const id = newId();
    ops.push({ op: 'create', model: 'platform', id, values: { name } });
    return id;
  });
  for (let i = 0; i < 60; i++) {
    ops.push({
      op: 'create',
      model: 'loan',
      values: { platform: platforms[i % platforms.length], borrower: `Borrower ${i + 1}`, target: 500_000 + (i % 7) * 250_000, rateBps: 600 + (i % 9) * 75, termMonths: [6, 12, 24, 36][i % 4] },
    });
  }
  for (const [name, cash] of INVESTORS) {
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

const app = new Sails();
app.load({ log: { level: 'warn' }, hooks: { http: false, sockets: false, pubsub: false, views: false, session: false, grunt: false } }, async (err) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
  try {
    if ((await app.models.platform.count()) > 0) {
      console.log('the fund already has platforms: nothing to seed');
    } else {
      const result = await app.transact(operations(), { label: 'demo seed', idempotencyKey: 'demo-seed-v1' });
      console.log(`seeded in transaction ${result.id}: ${PLATFORMS.length} platforms, 60 loans, ${INVESTORS.length} investors`);
    }
    app.lower(() => process.exit(0));
  } catch (e) {
    console.error(e);
    app.lower(() => process.exit(1));
  }
});
