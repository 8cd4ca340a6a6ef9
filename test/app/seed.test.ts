/**
 * `npm run seed` gives a new user a working fund: platforms, open loans, investors whose cash is
 * backed by ledger lines — and running it twice changes nothing.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'chai';
import { loadApp, lowerApp } from '../support/app';
import { freshTarget } from '../support/targets';

describe('demo seed (npm run seed) [disk]', function () {
  it('creates a consistent fund once, however often it runs', async function () {
    const target = await freshTarget('disk');
    const run = (): ReturnType<typeof spawnSync> =>
      spawnSync(process.execPath, [join(__dirname, '..', '..', 'scripts', 'seed.js')], { env: { ...process.env, DATASTORE: 'disk', TRANSACT_DISK_DIR: target.location }, encoding: 'utf8', timeout: 60_000 });
    const first = run();
    expect(first.status, String(first.stderr)).to.equal(0);
    expect(String(first.stdout)).to.match(/seeded in transaction/);
    expect(run().status).to.equal(0);

    const app = await loadApp(target, { migrate: 'safe' });
    try {
      expect(await app.models.platform.count({})).to.equal(5);
      expect(await app.models.loan.count({ status: 'open' })).to.equal(60);
      const investors = await app.models.investor.find({});
      expect(investors).to.have.length(5);
      for (const investor of investors) {
        const lines = await app.models.ledgerentry.find({ investor: investor.id, account: 'cash' });
        expect(lines.reduce((sum, line) => sum + (line.amount as number), 0), `${investor.name}'s cash is its ledger`).to.equal(investor.cash);
      }
      const all = await app.models.ledgerentry.find({});
      expect(all.reduce((sum, line) => sum + (line.amount as number), 0), 'double entry sums to zero').to.equal(0);
    } finally {
      await lowerApp(app);
    }
  });
});
