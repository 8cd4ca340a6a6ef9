/**
 * The fund's money invariants over HTTP, per adapter (issue 19): an account never below its
 * floor (a reversal included), an account holding money never destroyed, a frozen account moving
 * no money, a deposit credited to the wrong investor corrected, and reconciliation reporting each
 * invariant broken behind the engine's back (no account or investor below zero, the accounts'
 * total equal to the money that came in, no money left in a destroyed account).
 */
import { expect } from 'chai';
import type { Response, Test } from 'supertest';
import { rawDestroy } from '../../lib/models/destroy-guard';
import { newId } from '../../lib/core/ids';
import { asFund, type Doc, expectFundInvariants, fundLib, seedInvestor, wipeFund } from '../support/fund';
import { type FundApp, liftFund, lowerFund, type Role, sign } from '../support/http';
import { forEachAdapter } from '../support/targets';

type Method = 'post' | 'patch' | 'delete' | 'get';

interface MongoDb {
  collection(name: string): { updateOne(filter: object, update: object): Promise<unknown> };
}
interface NativeModel {
  _adapter: { update(datastore: string, query: object, done: (err?: Error) => void): void };
  datastore: string;
  tableName: string;
  getDatastore(): { manager: unknown; sendNativeQuery(sql: string, values: unknown[]): PromiseLike<unknown> };
}

forEachAdapter('fund money invariants', (target, adapter) => {
  let fund: FundApp;
  before(async function () {
    this.timeout(120000);
    fund = await liftFund(target());
  });
  after(async function () {
    await lowerFund(fund);
  });
  beforeEach(async function () {
    await wipeFund(fund.app);
  });

  const model = (identity: string) => fund.app.models[identity];
  const call = (role: Role, method: Method, url: string, body?: object): Test => {
    const req = fund.http()[method](url).set('Authorization', fund.auth(role));
    return body === undefined ? req : req.send(body);
  };
  const expectError = (res: Response, status: number, code: string): void => {
    expect(res.status, JSON.stringify(res.body)).to.equal(status);
    expect(res.body.error.code, JSON.stringify(res.body)).to.equal(code);
  };
  const balance = async (id: string): Promise<unknown> => ((await model('account').findOne({ id })) as Doc | undefined)?.balance;
  const balances = async (...ids: string[]): Promise<unknown[]> => Promise.all(ids.map(balance));
  const open = (owner: string, amount: number): Promise<string> => fundLib.openAccount(asFund(fund.app), { owner, balance: amount }).then((account) => account.id);
  const transfer = (from: string, to: string, amount: number): Test => call('readwrite', 'post', '/transfers', { from, to, amount });
  const reconciliation = async (): Promise<{ ok: boolean; mismatches: Doc[] }> => (await call('monitor', 'get', '/api/reconciliation?limit=1000').expect(200)).body;
  /** Sets values past Waterline's validation (its `min` refuses a negative balance), natively, as a write behind the engine would. */
  const nativeSet = async (identity: string, id: string, values: Doc): Promise<void> => {
    const wl = model(identity) as unknown as NativeModel;
    if (adapter === 'mongo') {
      await (wl.getDatastore().manager as MongoDb).collection(wl.tableName).updateOne({ _id: id }, { $set: values });
    } else if (adapter === 'postgresql') {
      const sets = Object.keys(values).map((column, i) => `"${column}" = $${i + 2}`).join(', ');
      await wl.getDatastore().sendNativeQuery(`UPDATE "${wl.tableName}" SET ${sets} WHERE id = $1`, [id, ...Object.values(values)]);
    } else {
      const query = { method: 'update', using: wl.tableName, criteria: { where: { id } }, valuesToSet: values, meta: {} };
      await new Promise<void>((resolve, reject) => wl._adapter.update(wl.datastore, query, (err) => (err ? reject(err) : resolve())));
    }
  };
  /** Every account, transfer, account line and log document: equal before and after a refusal proves nothing was written. */
  const written = async (): Promise<Doc> => ({
    accounts: await model('account').find({ sort: 'id ASC' }),
    transfers: await model('transfer').find({ sort: 'id ASC' }),
    lines: await model('accountentry').find({ sort: 'id ASC' }),
    logs: await model('transactlog').count({}),
  });

  describe('item 1: a reversal respects the accounts\' floor', function () {
    it('refuses to reverse A→C after C sent the money on: 409 bound_violation, nothing written', async function () {
      const [a, b, c] = [await open('A', 100_000), await open('B', 50_000), await open('C', 0)];
      const ac = (await transfer(a, c, 1000).expect(201)).body.transaction as string;
      await transfer(c, b, 1000).expect(201);
      // A refused reversal keeps its rolled-back log (the hook's rule); no document changes.
      const { logs: _logs, ...before } = await written();
      const res = await call('admin', 'post', `/api/transaction/${ac}/reverse`, { reason: 'paid to the wrong account' });
      expectError(res, 409, 'bound_violation');
      const { logs: _after, ...after } = await written();
      expect(after).to.deep.equal(before);
      expect(await model('transactlog').findOne({ id: ac })).to.include({ state: 'committed', reversedBy: null });
      expect(await balances(a, b, c)).to.deep.equal([99_000, 51_000, 0]);
      expect((await reconciliation()).ok).to.equal(true);
    });

    it('reverses a transfer whose money is still there: balances back, the Transfer marked reversed, reconciliation ok', async function () {
      const [a, b] = [await open('A', 10_000), await open('B', 0)];
      const res = (await transfer(a, b, 2500).expect(201)).body as { transaction: string; transfer: string };
      await call('admin', 'post', `/api/transaction/${res.transaction}/reverse`, { reason: 'sent twice' }).expect(201);
      expect(await balances(a, b)).to.deep.equal([10_000, 0]);
      expect(await model('transfer').findOne({ id: res.transfer })).to.include({ status: 'reversed' });
      const rec = await reconciliation();
      expect(rec.mismatches).to.deep.equal([]);
      expect(rec.ok).to.equal(true);
    });

    it('refuses a credit that would leave an account below zero through the engine too (the model declares min: 0)', async function () {
      const a = await open('A', 0);
      const before = await written();
      const err = await asFund(fund.app).transact([{ op: 'increment', model: 'account', id: a, field: 'balance', by: -1 }]).then(() => null, (e: unknown) => e);
      expect(err).to.have.property('code', 'bound_violation');
      expect(await written()).to.deep.equal(before);
    });
  });

  describe('item 2: an account holding money is never destroyed', function () {
    it('refuses DELETE /api/account/:id of an account with money: 409 account_not_empty, nothing written; an empty one closes', async function () {
      const [a, b] = [await open('A', 1000), await open('B', 0)];
      await transfer(a, b, 500).expect(201);
      const before = await written();
      expectError(await call('readwrite', 'delete', `/api/account/${b}`), 409, 'account_not_empty');
      expect(await written()).to.deep.equal(before);
      await transfer(b, a, 500).expect(201);
      const closed = await call('readwrite', 'delete', `/api/account/${b}`);
      expect(closed.status, JSON.stringify(closed.body)).to.equal(200);
      expect(await model('account').findOne({ id: b })).to.equal(undefined);
      expect(await balance(a)).to.equal(1000);
      expect((await reconciliation()).ok).to.equal(true);
    });

    it('refuses a destroy through POST /api/transaction, writing nothing', async function () {
      const a = await open('A', 500);
      const before = await written();
      const res = await call('readwrite', 'post', '/api/transaction', { ops: [{ op: 'destroy', model: 'account', id: a }] });
      expect(res.status, JSON.stringify(res.body)).to.be.within(400, 499);
      expect(await written()).to.deep.equal(before);
    });
  });

  describe('item 9: a frozen account moves no money', function () {
    it('refuses transfers out of and into a frozen account (409 account_frozen) and closing it, writing nothing; unfrozen, it moves again', async function () {
      const [a, b] = [await open('A', 1000), await open('B', 0)];
      await call('readwrite', 'patch', `/api/account/${a}`, { frozen: true }).expect(200);
      const before = await written();
      expectError(await transfer(a, b, 100), 409, 'account_frozen');
      expectError(await transfer(b, a, 0 + 1), 409, 'account_frozen');
      await call('readwrite', 'patch', `/api/account/${b}`, { frozen: true }).expect(200);
      const frozenBoth = await written();
      expectError(await call('readwrite', 'delete', `/api/account/${b}`), 409, 'account_frozen');
      expect(await written()).to.deep.equal(frozenBoth);
      expect((before.accounts as Doc[]).map((doc) => doc.balance)).to.deep.equal((frozenBoth.accounts as Doc[]).map((doc) => doc.balance));
      await call('readwrite', 'patch', `/api/account/${a}`, { frozen: false }).expect(200);
      await call('readwrite', 'patch', `/api/account/${b}`, { frozen: false }).expect(200);
      await transfer(a, b, 100).expect(201);
      expect(await balances(a, b)).to.deep.equal([900, 100]);
    });
  });

  describe('item 15: correcting a deposit credited to the wrong investor', function () {
    const credit = async (investor: string, amount: number): Promise<string> => {
      const paymentId = (await call('readwrite', 'post', '/api/deposit', { investor, amount }).expect(201)).body.payment.paymentId as string;
      const raw = JSON.stringify({ paymentId, status: 'succeeded', amount });
      await fund.http().post('/api/payment/callback').set('Content-Type', 'application/json').set('X-Signature', sign(raw)).send(raw).expect(200);
      return paymentId;
    };
    const cash = async (id: string): Promise<unknown> => ((await model('investor').findOne({ id })) as Doc).cash;

    it('moves the payment and its cash to the right investor (admin), with balanced ledger lines; reversing the deposit is irreversible', async function () {
      const [wrong, right] = [await seedInvestor(fund.app, 'Wrong', 0), await seedInvestor(fund.app, 'Right', 100)];
      const paymentId = await credit(wrong, 5000);
      const depositTx = (await model('transactlog').find({ where: { label: 'payment callback' }, limit: 1 }))[0] as Doc | undefined;
      if (depositTx !== undefined) expectError(await call('admin', 'post', `/api/transaction/${String(depositTx.id)}/reverse`, { reason: 'wrong investor' }), 409, 'irreversible');
      expectError(await call('readwrite', 'post', `/api/payment/${paymentId}/reassign`, { investor: right, reason: 'wrong investor' }), 403, 'forbidden');
      const res = await call('admin', 'post', `/api/payment/${paymentId}/reassign`, { investor: right, reason: 'paid by Right, credited to Wrong' });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      expect(res.body.payment).to.include({ paymentId, investor: right });
      expect([await cash(wrong), await cash(right)]).to.deep.equal([0, 5100]);
      const again = await call('admin', 'post', `/api/payment/${paymentId}/reassign`, { investor: right, reason: 'again' });
      expectError(again, 409, 'conflict');
      expect([await cash(wrong), await cash(right)]).to.deep.equal([0, 5100]);
      await expectFundInvariants(fund.app);
      expect((await reconciliation()).ok).to.equal(true);
    });

    it('refuses when the wrong investor spent the money meanwhile (409 insufficient_funds), writing nothing', async function () {
      const [wrong, right] = [await seedInvestor(fund.app, 'Wrong', 0), await seedInvestor(fund.app, 'Right', 0)];
      const paymentId = await credit(wrong, 5000);
      await call('readwrite', 'post', '/api/withdrawal', { investor: wrong, amount: 4000 }).expect(201);
      const before = { investors: await model('investor').find({ sort: 'id ASC' }), lines: await model('ledgerentry').count({}), payments: await model('payment').find({}) };
      expectError(await call('admin', 'post', `/api/payment/${paymentId}/reassign`, { investor: right, reason: 'wrong investor' }), 409, 'insufficient_funds');
      expect({ investors: await model('investor').find({ sort: 'id ASC' }), lines: await model('ledgerentry').count({}), payments: await model('payment').find({}) }).to.deep.equal(before);
    });
  });

  describe('reconciliation reports each invariant broken behind the engine', function () {
    it('an account below zero (its lines agreeing): a floor mismatch', async function () {
      const [a, c] = [await open('A', 1000), await open('C', 0)];
      await nativeSet('account', c, { balance: -1000 });
      await model('accountentry').create({ id: newId(), entry: 'planted', account: c, kind: 'transfer', amount: -1000, status: 'done' });
      await model('account').update({ id: a }).set({ balance: 2000 });
      await model('accountentry').create({ id: newId(), entry: 'planted', account: a, kind: 'transfer', amount: 1000, status: 'done' });
      const rec = await reconciliation();
      expect(rec.ok).to.equal(false);
      expect(rec.mismatches).to.deep.equal([{ model: 'account', id: c, field: 'balance', expected: 0, actual: -1000, rule: 'floor' }]);
    });

    it('an investor below zero (its lines agreeing): a floor mismatch', async function () {
      const investor = await seedInvestor(fund.app, 'Ann', 0);
      await nativeSet('investor', investor, { cash: -5 });
      await model('ledgerentry').create({ id: newId(), entry: 'planted', investor, account: 'cash', amount: -5, memo: null, paymentId: null, order: null });
      await model('ledgerentry').create({ id: newId(), entry: 'planted', investor: null, account: 'withdrawals', amount: 5, memo: null, paymentId: null, order: null });
      const rec = await reconciliation();
      expect(rec.mismatches).to.deep.equal([{ model: 'investor', id: investor, field: 'cash', expected: 0, actual: -5, rule: 'floor' }]);
      expect(rec.ok).to.equal(false);
    });

    it('money in a destroyed account: the account\'s lines with no account, and the total short', async function () {
      const [a, b] = [await open('A', 150_000), await open('B', 0)];
      await transfer(a, b, 500).expect(201);
      await rawDestroy(model('account'))({ id: b });
      const rec = await reconciliation();
      expect(rec.ok).to.equal(false);
      expect(rec.mismatches).to.have.deep.members([
        { model: 'account', id: b, field: 'balance', expected: 500, actual: null },
        { model: 'account', id: '*', field: 'balance', expected: 150_000, actual: 149_500, rule: 'total' },
      ]);
    });

    it('the accounts\' total differing from the money that came in (each account agreeing with its lines): a total mismatch', async function () {
      const a = await open('A', 1000);
      await model('account').update({ id: a }).set({ balance: 1700 });
      await model('accountentry').create({ id: newId(), entry: 'planted', account: a, kind: 'transfer', amount: 700, status: 'done' });
      const rec = await reconciliation();
      expect(rec.mismatches).to.deep.equal([{ model: 'account', id: '*', field: 'balance', expected: 1000, actual: 1700, rule: 'total' }]);
      expect(rec.ok).to.equal(false);
    });

    it('a balance written behind the engine\'s back: a ledger mismatch', async function () {
      const a = await open('A', 1000);
      await model('account').update({ id: a }).set({ balance: 1200 });
      const rec = await reconciliation();
      expect(rec.mismatches).to.have.deep.members([
        { model: 'account', id: a, field: 'balance', expected: 1000, actual: 1200 },
        { model: 'account', id: '*', field: 'balance', expected: 1000, actual: 1200, rule: 'total' },
      ]);
    });
  });
});
