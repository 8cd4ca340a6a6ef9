/**
 * The demo app, lifted for real over HTTP (what `npm start` runs): the hook is loaded with no
 * wiring beyond api/hooks/transact, `sails.transact` takes both ways in, and the transfer
 * endpoint (readwrite bearer token) answers with typed errors and writes nothing on bad input.
 */
import { expect } from 'chai';
import { FUND_REGISTRY } from '../../api/lib/errors';
import type { ErrorRegistry } from '../../lib/core/errors';
import type { Transact } from '../../lib/hook';
import type { LoadedApp } from '../support/app';
import { type FundApp, liftFund, lowerFund } from '../support/http';
import { forEachAdapter } from '../support/targets';

const ALICE = 'a00000000000000000000001';
const BOB = 'a00000000000000000000002';

forEachAdapter('demo app over HTTP', (target) => {
  let fund: FundApp;

  before(async function () {
    fund = await liftFund(target());
    const app = fund.app as LoadedApp & { transact: Transact };
    // both ways in, through the drop-in `sails.transact`
    await app.transact([{ op: 'create', model: 'account', id: ALICE, values: { owner: 'Alice', balance: 1000 } }]);
    await app.transact(async (tx) => {
      await tx.create('account', { owner: 'Bob', balance: 0 }, BOB);
    });
  });

  after(async function () {
    await lowerFund(fund);
  });

  async function balances(): Promise<number[]> {
    return Promise.all([ALICE, BOB].map(async (id) => (await fund.app.models.account.findOne({ id }))?.balance as number));
  }

  it("holds one error registry: the hook's codes and the fund's, as api/lib/errors.ts defines them", function () {
    const registry = (fund.app.hooks.transact as unknown as { errors: ErrorRegistry }).errors;
    expect(registry.entries()).to.deep.equal(FUND_REGISTRY.entries());
    expect(registry.statusOf('insufficient_funds')).to.equal(409);
  });

  const transfer = (body: object) => fund.http().post('/transfers').set('Authorization', fund.auth('readwrite')).send(body);

  it('moves money with POST /transfers, all in one logged transaction', async function () {
    const res = await transfer({ from: ALICE, to: BOB, amount: 250 }).expect(201);
    expect(await balances()).to.deep.equal([750, 250]);
    const log = await fund.app.models.transactlog.findOne({ id: res.body.transaction });
    expect(log).to.include({ state: 'committed', label: 'transfer' });
    expect(await fund.app.models.transfer.findOne({ id: res.body.transfer })).to.include({ amount: 250 });
  });

  it('refuses POST /transfers without a token (401) or to a readonly user (403), moving nothing', async function () {
    const before = { balances: await balances(), transfers: await fund.app.models.transfer.count({}) };
    await fund.http().post('/transfers').send({ from: ALICE, to: BOB, amount: 1 }).expect(401);
    await fund.http().post('/transfers').set('Authorization', fund.auth('readonly')).send({ from: ALICE, to: BOB, amount: 1 }).expect(403);
    expect({ balances: await balances(), transfers: await fund.app.models.transfer.count({}) }).to.deep.equal(before);
  });

  for (const [name, body, status, code] of [
    ['a fractional amount', { from: ALICE, to: BOB, amount: 1.5 }, 400, 'validation_failed'],
    ['more than the balance', { from: ALICE, to: BOB, amount: 10_000 }, 409, 'bound_violation'],
    ['an unknown account', { from: ALICE, to: 'ffffffffffffffffffffffff', amount: 1 }, 404, 'not_found'],
  ] as const) {
    it(`refuses ${name} with ${status} ${code} and writes nothing`, async function () {
      const before = { balances: await balances(), transfers: await fund.app.models.transfer.count({}) };
      const res = await transfer(body).expect(status);
      expect(res.body.error).to.include({ code });
      expect(res.body.error.message).to.be.a('string');
      expect({ balances: await balances(), transfers: await fund.app.models.transfer.count({}) }).to.deep.equal(before);
    });
  }

  it('closes blueprint writes that would bypass the log or the allowlists', async function () {
    const before = { balances: await balances(), accounts: await fund.app.models.account.count({}) };
    await fund.http().post('/api/account').send({ owner: 'Mallory', balance: 1_000_000 }).expect(401);
    await fund.http().delete(`/api/account/${ALICE}`).expect(401);
    await fund.http().delete(`/api/account/${ALICE}`).set('Authorization', fund.auth('readonly')).expect(403);
    const balance = await fund.http().post('/api/account').set('Authorization', fund.auth('readwrite')).send({ owner: 'Mallory', balance: 1_000_000 }).expect(400);
    expect(balance.body.error).to.include({ code: 'validation_failed', path: 'body.balance' });
    const patch = await fund.http().patch(`/api/account/${BOB}`).set('Authorization', fund.auth('readwrite')).send({ balance: 1_000_000 }).expect(400);
    expect(patch.body.error).to.include({ code: 'validation_failed', path: 'body.balance' });
    const transferWrite = await fund.http().post('/api/transfer').set('Authorization', fund.auth('admin')).send({ from: ALICE, to: BOB, amount: 1 }).expect(405);
    expect(transferWrite.body.error.code).to.equal('method_not_allowed');
    expect({ balances: await balances(), accounts: await fund.app.models.account.count({}) }).to.deep.equal(before);
  });
});
