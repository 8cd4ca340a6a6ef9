/**
 * The demo app, lifted for real over HTTP on sails-disk (what `npm start` runs): the hook is
 * loaded with no wiring beyond api/hooks/transact, `sails.transact` takes both ways in, and the
 * transfer endpoint answers with typed errors and writes nothing on bad input.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import request from 'supertest';
import type { Transact } from '../lib/hook';
import type { LoadedApp } from './support/app';

const ALICE = 'a00000000000000000000001';
const BOB = 'a00000000000000000000002';

interface LiftedApp extends LoadedApp {
  transact: Transact;
  lift(config: object, cb: (err?: Error) => void): void;
  hooks: LoadedApp['hooks'] & { http: { app: Parameters<typeof request>[0] } };
}

describe('demo app over HTTP [disk]', function () {
  let app: LiftedApp;

  before(async function () {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Sails = require('sails').constructor as new () => LiftedApp;
    app = new Sails();
    await new Promise<void>((resolve, reject) =>
      app.lift(
        {
          appPath: join(__dirname, '..', '..'),
          environment: 'test',
          port: 0,
          log: { level: 'error' },
          globals: { _: false, async: false, models: false, sails: true },
          models: { migrate: 'drop' },
          datastores: { default: { adapter: 'sails-disk', dir: mkdtempSync(join(tmpdir(), 'transact-app-')) } },
        },
        (err?: Error) => (err ? reject(err) : resolve()),
      ),
    );
    // both ways in, through the drop-in `sails.transact`
    await app.transact([{ op: 'create', model: 'account', id: ALICE, values: { owner: 'Alice', balance: 1000 } }]);
    await app.transact(async (tx) => {
      await tx.create('account', { owner: 'Bob', balance: 0 }, BOB);
    });
  });

  after(function (done) {
    if (app === undefined) return done();
    app.lower(() => done());
  });

  async function balances(): Promise<number[]> {
    return Promise.all([ALICE, BOB].map(async (id) => (await app.models.account.findOne({ id }))?.balance as number));
  }

  it('moves money with POST /transfers, all in one logged transaction', async function () {
    const res = await request(app.hooks.http.app).post('/transfers').send({ from: ALICE, to: BOB, amount: 250 }).expect(201);
    expect(await balances()).to.deep.equal([750, 250]);
    const log = await app.models.transactlog.findOne({ id: res.body.transaction });
    expect(log).to.include({ state: 'committed', label: 'transfer' });
    expect(await app.models.transfer.findOne({ id: res.body.transfer })).to.include({ amount: 250 });
  });

  for (const [name, body, status, code] of [
    ['a fractional amount', { from: ALICE, to: BOB, amount: 1.5 }, 400, 'validation_failed'],
    ['more than the balance', { from: ALICE, to: BOB, amount: 10_000 }, 409, 'bound_violation'],
    ['an unknown account', { from: ALICE, to: 'ffffffffffffffffffffffff', amount: 1 }, 404, 'not_found'],
  ] as const) {
    it(`refuses ${name} with ${status} ${code} and writes nothing`, async function () {
      const before = { balances: await balances(), transfers: await app.models.transfer.count({}) };
      const res = await request(app.hooks.http.app).post('/transfers').send(body).expect(status);
      expect(res.body.error).to.include({ code });
      expect(res.body.error.message).to.be.a('string');
      expect({ balances: await balances(), transfers: await app.models.transfer.count({}) }).to.deep.equal(before);
    });
  }

  it('closes blueprint writes, which would bypass the log', async function () {
    await request(app.hooks.http.app).post('/api/account').send({ owner: 'Mallory', balance: 1_000_000 }).expect(403);
    await request(app.hooks.http.app).delete(`/api/account/${ALICE}`).expect(403);
    expect(await app.models.account.count({})).to.equal(2);
  });
});
