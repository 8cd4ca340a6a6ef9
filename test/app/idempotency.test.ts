/**
 * The fund's idempotency keys are its callers' own: a user replaying another user's
 * Idempotency-Key gets a transaction (an order, a withdrawal) of its own, never the other's; a
 * listing by key shows a caller only its own keys (admin and monitor see every caller's); and a
 * keyed withdrawal (a transfer, a deposit) runs once, however many copies arrive together.
 */
import { expect } from 'chai';
import type request from 'supertest';
import { type FundApp, liftFund, lowerFund, type Role } from '../support/http';
import { newId } from '../../lib/core/ids';
import { type Doc, engineOf, expectFundInvariants, seedInvestor, seedLoans, snapshot, wipeFund } from '../support/fund';
import { forEachAdapter } from '../support/targets';

/** The fund's roles, and a second readwrite user: two callers who may write. */
type Caller = Role | 'readwrite2';

forEachAdapter('idempotency keys scoped to their caller (the fund)', (target) => {
  let fund: FundApp;
  let second: string;
  before(async function () {
    this.timeout(120000);
    fund = await liftFund(target());
    const password = 'password-of-the-second-writer';
    await fund.http().post('/api/user').set('Authorization', fund.auth('admin')).send({ username: 'readwrite-user-2', password, role: 'readwrite' }).expect(201);
    second = (await fund.http().post('/api/auth/login').send({ username: 'readwrite-user-2', password }).expect(200)).body.token as string;
  });
  after(async function () {
    await lowerFund(fund);
  });
  beforeEach(async function () {
    await wipeFund(fund.app);
  });

  const auth = (caller: Caller): string => (caller === 'readwrite2' ? `Bearer ${second}` : fund.auth(caller));
  const post = (path: string, caller: Caller, body: Doc, key?: string): request.Test => {
    const req = fund.http().post(path).set('Authorization', auth(caller));
    return (key === undefined ? req : req.set('Idempotency-Key', key)).send(body);
  };
  const get = (path: string, caller: Caller): request.Test => fund.http().get(path).set('Authorization', auth(caller));
  const cash = async (id: string): Promise<unknown> => (await fund.app.models.investor.findOne({ id }))?.cash;
  const count = (model: string, where: Doc = {}): Promise<number> => fund.app.models[model].count(where) as unknown as Promise<number>;
  /** Another body under a key already used: 409 idempotency_conflict, and nothing written. */
  const expectConflict = async (path: string, body: Doc, key: string): Promise<void> => {
    const before = await snapshot(fund.app);
    const conflict = await post(path, 'readwrite', body, key).expect(409);
    expect(conflict.body.error.code).to.equal('idempotency_conflict');
    expect(await snapshot(fund.app)).to.deep.equal(before);
  };

  it("gives a second user replaying the first one's Idempotency-Key on POST /api/transaction a transaction of its own; the first one's repeat replays", async function () {
    const body = { ops: [{ op: 'create', model: 'platform', values: { name: 'Keyed' } }] };
    const first = await post('/api/transaction', 'readwrite', body, 'tx-1').expect(201);
    const other = await post('/api/transaction', 'readwrite2', body, 'tx-1').expect(201);
    expect(other.body.id, "the second user's transaction").to.not.equal(first.body.id);
    expect(other.body.steps[0].id).to.not.equal(first.body.steps[0].id);
    expect(await count('platform', { name: 'Keyed' })).to.equal(2);
    const again = await post('/api/transaction', 'readwrite', body, 'tx-1').expect(201);
    expect(again.body).to.deep.equal(first.body);
    const repeat = await post('/api/transaction', 'readwrite2', body, 'tx-1').expect(201);
    expect(repeat.body).to.deep.equal(other.body);
    expect(await count('platform', { name: 'Keyed' })).to.equal(2);
  });

  it("gives a second user replaying the first one's Idempotency-Key on POST /api/order an order of its own, never the first one's", async function () {
    const alice = await seedInvestor(fund.app, 'Alice', 10_000);
    await seedLoans(fund.app, 2, Array.from({ length: 4 }, () => ({ target: 5000 })));
    const order = { investor: alice, amount: 1000, funding: 'cash' };
    const first = await post('/api/order', 'readwrite', order, 'order-1').expect(201);
    const other = await post('/api/order', 'readwrite2', order, 'order-1').expect(201);
    expect(other.body.order.id, "the second user's order").to.not.equal(first.body.order.id);
    expect(await count('order')).to.equal(2);
    expect(await cash(alice)).to.equal(8000);
    const again = await post('/api/order', 'readwrite', order, 'order-1').expect(201);
    expect(again.body.order).to.deep.equal(first.body.order);
    expect(await count('order')).to.equal(2);
    await expectFundInvariants(fund.app);
  });

  it('lists by idempotencyKey only the caller\'s own keys (admin and monitor see every caller\'s), and shows no one another caller\'s key', async function () {
    const body = { ops: [{ op: 'create', model: 'platform', values: { name: 'Listed' } }] };
    const mine = (await post('/api/transaction', 'readwrite', body, 'guessable-2026-12-02').expect(201)).body.id as string;
    const theirs = (await post('/api/transaction', 'readwrite2', body, 'guessable-2026-12-02').expect(201)).body.id as string;
    const byKey = async (caller: Caller): Promise<string[]> => {
      const res = await get('/api/transaction?idempotencyKey=http:guessable-2026-12-02', caller).expect(200);
      return (res.body.items as Doc[]).map((item) => item.id as string).sort();
    };
    expect(await byKey('readonly')).to.deep.equal([]);
    expect(await byKey('readwrite')).to.deep.equal([mine]);
    expect(await byKey('readwrite2')).to.deep.equal([theirs]);
    expect(await byKey('monitor')).to.deep.equal([mine, theirs].sort());
    expect(await byKey('admin')).to.deep.equal([mine, theirs].sort());
    const keysSeenBy = async (caller: Caller): Promise<Record<string, unknown>> => {
      const res = await get('/api/transaction?limit=200', caller).expect(200);
      const items = (res.body.items as Doc[]).filter((item) => item.id === mine || item.id === theirs);
      return Object.fromEntries(items.map((item) => [item.id === mine ? 'mine' : 'theirs', item.idempotencyKey]));
    };
    expect(await keysSeenBy('readonly')).to.deep.equal({ mine: null, theirs: null });
    expect(await keysSeenBy('readwrite')).to.deep.equal({ mine: 'http:guessable-2026-12-02', theirs: null });
    expect(await keysSeenBy('admin')).to.deep.equal({ mine: 'http:guessable-2026-12-02', theirs: 'http:guessable-2026-12-02' });
    expect((await get(`/api/transaction/${theirs}`, 'readwrite').expect(200)).body.idempotencyKey).to.equal(null);
    expect((await get(`/api/transaction/${theirs}`, 'readwrite2').expect(200)).body.idempotencyKey).to.equal('http:guessable-2026-12-02');
  });

  it('runs a keyed withdrawal once, five copies at the same time too; another body under the key is refused (409), writing nothing; another user gets its own', async function () {
    const alice = await seedInvestor(fund.app, 'Alice', 10_000);
    const withdrawal = { investor: alice, amount: 1000 };
    const copies = await Promise.all(Array.from({ length: 5 }, () => post('/api/withdrawal', 'readwrite', withdrawal, 'w-1')));
    expect(copies.map((res) => res.status)).to.deep.equal(Array(5).fill(201));
    for (const res of copies) expect(res.body.withdrawal).to.deep.equal(copies[0].body.withdrawal);
    expect(await cash(alice)).to.equal(9000);
    const again = await post('/api/withdrawal', 'readwrite', withdrawal, 'w-1').expect(201);
    expect(again.body.withdrawal).to.deep.equal(copies[0].body.withdrawal);
    expect(await count('ledgerentry', { account: 'withdrawals' })).to.equal(1);
    await expectConflict('/api/withdrawal', { investor: alice, amount: 2000 }, 'w-1');
    const other = await post('/api/withdrawal', 'readwrite2', withdrawal, 'w-1').expect(201);
    expect(other.body.withdrawal.transaction).to.not.equal(copies[0].body.withdrawal.transaction);
    expect(await cash(alice)).to.equal(8000);
    const bad = await post('/api/withdrawal', 'readwrite', withdrawal, 'has space').expect(400);
    expect(bad.body.error).to.include({ code: 'validation_failed', path: 'headers.idempotency-key' });
    expect(await cash(alice)).to.equal(8000);
    await expectFundInvariants(fund.app);
  });

  it('makes one pending payment per Idempotency-Key on POST /api/deposit; another body under the key is refused (409), writing nothing; another user gets its own', async function () {
    const alice = await seedInvestor(fund.app, 'Alice', 0);
    const deposit = { investor: alice, amount: 5000 };
    const copies = await Promise.all(Array.from({ length: 3 }, () => post('/api/deposit', 'readwrite', deposit, 'd-1')));
    expect(copies.map((res) => res.status)).to.deep.equal([201, 201, 201]);
    for (const res of copies) expect(res.body.payment.id).to.equal(copies[0].body.payment.id);
    const again = await post('/api/deposit', 'readwrite', deposit, 'd-1').expect(201);
    expect(again.body.payment).to.deep.equal(copies[0].body.payment);
    expect(await count('payment')).to.equal(1);
    await expectConflict('/api/deposit', { investor: alice, amount: 6000 }, 'd-1');
    const other = await post('/api/deposit', 'readwrite2', deposit, 'd-1').expect(201);
    expect(other.body.payment.paymentId).to.not.equal(copies[0].body.payment.paymentId);
    expect(await count('payment')).to.equal(2);
    await expectFundInvariants(fund.app);
  });

  it('moves money once per Idempotency-Key on POST /transfers, five copies at the same time too; another body is refused (409); another user gets its own', async function () {
    const [from, to] = [newId(), newId()];
    await engineOf(fund.app).batch([
      { op: 'create', model: 'account', id: from, values: { owner: 'From', balance: 1000 } },
      { op: 'create', model: 'account', id: to, values: { owner: 'To', balance: 0 } },
    ]);
    const balance = async (id: string): Promise<unknown> => (await fund.app.models.account.findOne({ id }))?.balance;
    const body = { from, to, amount: 100 };
    const copies = await Promise.all(Array.from({ length: 5 }, () => post('/transfers', 'readwrite', body, 't-1')));
    expect(copies.map((res) => res.status)).to.deep.equal(Array(5).fill(201));
    for (const res of copies) expect(res.body).to.deep.equal(copies[0].body);
    expect(await balance(from)).to.equal(900);
    expect(await count('transfer', { from })).to.equal(1);
    const conflict = await post('/transfers', 'readwrite', { ...body, amount: 200 }, 't-1').expect(409);
    expect(conflict.body.error.code).to.equal('idempotency_conflict');
    expect(await balance(from)).to.equal(900);
    const other = await post('/transfers', 'readwrite2', body, 't-1').expect(201);
    expect(other.body.transaction).to.not.equal(copies[0].body.transaction);
    expect(await balance(from)).to.equal(800);
    expect(await count('transfer', { from })).to.equal(2);
  });
});
