/**
 * The fund over HTTP: deposits, signed payment callbacks (credited once however often and however
 * concurrently delivered), orders spread over many loans (all or nothing, also when a loan fills
 * up behind the planner's back), gateway orders, withdrawals, bad input and role refusals. Every
 * scenario ends with the fund's invariants checked against the database. Plus the pure planner.
 */
import { expect } from 'chai';
import type request from 'supertest';
import { type FundApp, liftFund, lowerFund, type Role, sign } from '../support/http';
import { asFund, type Doc, all, engineOf, expectFundInvariants, fundLib, type LoanLike, seedInvestor, seedLoans, snapshot, wipeFund } from '../support/fund';
import { forEachAdapter } from '../support/targets';

type Body = Record<string, unknown>;

function loan(id: string, platform: string, target: number, raised = 0, status = 'open'): LoanLike {
  return { id, platform, target, raised, status, createdAt: 0 };
}

describe('fund planning (pure)', function () {
  it('interleaves platforms and uses as many loans as the amount allows, evenly, within caps', function () {
    const loans = [loan('a1', 'A', 1000), loan('a2', 'A', 1000), loan('a3', 'A', 1000), loan('b1', 'B', 1000), loan('c1', 'C', 1000, 900)];
    expect(fundLib.roundRobin(loans).map((l) => l.id)).to.deep.equal(['a1', 'b1', 'c1', 'a2', 'a3']);
    const parts = fundLib.planAllocation(loans, 1000, 300);
    expect(parts.map((p) => p.loan)).to.deep.equal(['a1', 'b1', 'c1', 'a2', 'a3']);
    expect(parts.map((p) => p.amount)).to.deep.equal([225, 225, 100, 225, 225]);
    expect(parts.reduce((s, p) => s + p.amount, 0)).to.equal(1000);
  });

  it('gives one cent per loan when the amount is smaller than the number of loans, and respects maxLoans', function () {
    const loans = Array.from({ length: 10 }, (_, i) => loan(`l${i}`, `p${i % 3}`, 100));
    expect(fundLib.planAllocation(loans, 4).map((p) => p.amount)).to.deep.equal([1, 1, 1, 1]);
    const limited = fundLib.planAllocation(loans, 500, null, 5);
    expect(limited).to.have.length(5);
    expect(limited.every((p) => p.amount === 100)).to.equal(true);
  });

  it('skips full and closed loans, and refuses an amount the loans cannot take', function () {
    const loans = [loan('a', 'A', 100, 100), loan('b', 'B', 100, 0, 'closed'), loan('c', 'C', 100, 40)];
    expect(fundLib.planAllocation(loans, 60).map((p) => [p.loan, p.amount])).to.deep.equal([['c', 60]]);
    expect(() => fundLib.planAllocation(loans, 61)).to.throw().with.property('code', 'insufficient_capacity');
    expect(() => fundLib.planAllocation(loans, 60, 59)).to.throw().with.property('code', 'insufficient_capacity');
    expect(() => fundLib.planAllocation([], 1)).to.throw().with.property('code', 'insufficient_capacity');
  });

  it('fills water-level: small caps first, the rest even, always summing to the total', function () {
    expect(fundLib.waterFill([1, 10, 10], 15)).to.deep.equal([1, 7, 7]);
    for (let n = 1; n <= 30; n++) {
      const caps = Array.from({ length: n }, (_, i) => 1 + ((i * 37) % 11));
      const capacity = caps.reduce((s, c) => s + c, 0);
      for (const total of [n, Math.floor((n + capacity) / 2), capacity]) {
        const parts = fundLib.waterFill(caps, total);
        expect(parts.reduce((s, p) => s + p, 0)).to.equal(total);
        parts.forEach((p, i) => expect(p).to.be.within(1, caps[i]));
      }
    }
  });

  it('takes the largest loans when the first ones of the round-robin are too small', function () {
    const loans = [loan('a', 'A', 1), loan('b', 'B', 1), loan('c', 'C', 100)];
    expect(fundLib.planAllocation(loans, 50, null, 1).map((p) => [p.loan, p.amount])).to.deep.equal([['c', 50]]);
  });

  it('checks signatures in constant time, refusing anything but 64 hex digits of the right HMAC', function () {
    const raw = Buffer.from('{"a":1}');
    expect(fundLib.validSignature(raw, sign('{"a":1}', 'k'), 'k')).to.equal(true);
    expect(fundLib.validSignature(raw, sign('{"a":2}', 'k'), 'k')).to.equal(false);
    expect(fundLib.validSignature(raw, sign('{"a":1}', 'other'), 'k')).to.equal(false);
    expect(fundLib.validSignature(raw, 'zz', 'k')).to.equal(false);
    expect(fundLib.validSignature(raw, undefined, 'k')).to.equal(false);
    expect(fundLib.validSignature(undefined, sign('', 'k'), 'k')).to.equal(false);
  });
});

forEachAdapter('fund over HTTP', (target) => {
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

  const post = (path: string, role: Role, body: Body | string): request.Test => {
    const req = fund.http().post(path).set('Authorization', fund.auth(role)).set('Content-Type', 'application/json');
    return req.send(typeof body === 'string' ? body : JSON.stringify(body));
  };
  const callback = (body: Body | string, signature?: string | null): request.Test => {
    const raw = typeof body === 'string' ? body : JSON.stringify(body);
    const req = fund.http().post('/api/payment/callback').set('Content-Type', 'application/json');
    if (signature !== null) req.set('X-Signature', signature ?? sign(raw));
    return req.send(raw);
  };
  const investor = async (id: string): Promise<Doc> => (await fund.app.models.investor.findOne({ id })) as Doc;
  const count = (model: string, where: Doc = {}): Promise<number> => fund.app.models[model].count(where) as unknown as Promise<number>;

  it('credits a deposit once when its callback is delivered again', async function () {
    const alice = await seedInvestor(fund.app, 'Alice', 0);
    const deposit = await post('/api/deposit', 'readwrite', { investor: alice, amount: 5000 }).expect(201);
    expect(deposit.body.payment).to.include({ investor: alice, amount: 5000, status: 'pending' });
    const paymentId = deposit.body.payment.paymentId as string;
    expect(paymentId).to.be.a('string');
    const first = await callback({ paymentId, status: 'succeeded', amount: 5000 }).expect(200);
    expect(first.body.payment).to.include({ status: 'succeeded', settlements: 1 });
    expect((await investor(alice)).cash).to.equal(5000);
    const again = await callback({ paymentId, status: 'succeeded', amount: 5000 }).expect(200);
    expect(again.body).to.deep.equal(first.body);
    expect((await investor(alice)).cash).to.equal(5000);
    expect(await count('ledgerentry', { paymentId, account: 'cash' })).to.equal(1);
    await expectFundInvariants(fund.app);
  });

  it('credits once when one callback is delivered 10 times concurrently, answering 200 with equal bodies', async function () {
    const alice = await seedInvestor(fund.app, 'Alice', 100);
    const deposit = await post('/api/deposit', 'readwrite', { investor: alice, amount: 2500 }).expect(201);
    const body = { paymentId: deposit.body.payment.paymentId as string, status: 'succeeded', amount: 2500 };
    const answers = await Promise.all(Array.from({ length: 10 }, () => callback(body)));
    expect(answers.map((a) => a.status)).to.deep.equal(Array(10).fill(200));
    for (const answer of answers) expect(answer.body).to.deep.equal(answers[0].body);
    expect((await investor(alice)).cash).to.equal(2600);
    await expectFundInvariants(fund.app);
  });

  /** The same signature with its first hex digit changed (always a different one). */
  const flipFirstDigit = (hex: string): string => (hex[0] === '0' ? '1' : '0') + hex.slice(1);

  it('refuses a missing, forged or mismatched signature with 401, writing nothing', async function () {
    const alice = await seedInvestor(fund.app, 'Alice', 0);
    const deposit = await post('/api/deposit', 'readwrite', { investor: alice, amount: 700 }).expect(201);
    const raw = JSON.stringify({ paymentId: deposit.body.payment.paymentId, status: 'succeeded', amount: 700 });
    const before = await snapshot(fund.app);
    const signatures: (string | null)[] = [null, '', 'nothex', sign(raw, 'not-the-secret'), sign(`${raw} `), flipFirstDigit(sign(raw)).toUpperCase(), `${sign(raw)}00`];
    for (const signature of signatures) {
      const res = await callback(raw, signature).expect(401);
      expect(res.body.error.code).to.equal('unauthorized');
    }
    // Bearer tokens are no substitute for the signature.
    await fund.http().post('/api/payment/callback').set('Authorization', fund.auth('admin')).set('Content-Type', 'application/json').send(raw).expect(401);
    expect(await snapshot(fund.app)).to.deep.equal(before);
    await expectFundInvariants(fund.app);
  });

  it('records a callback of another amount (409 amount_mismatch), credits nothing, and still accepts the right one', async function () {
    const alice = await seedInvestor(fund.app, 'Alice', 0);
    const deposit = await post('/api/deposit', 'readwrite', { investor: alice, amount: 1000 }).expect(201);
    const paymentId = deposit.body.payment.paymentId as string;
    const res = await callback({ paymentId, status: 'succeeded', amount: 100000 }).expect(409);
    expect(res.body.error).to.include({ code: 'amount_mismatch', path: 'body.amount' });
    const payment = (await fund.app.models.payment.findOne({ paymentId })) as Doc;
    expect(payment.status).to.equal('needs_attention');
    expect(payment.anomalies).to.be.an('array').with.length(1);
    expect((payment.anomalies as Doc[])[0]).to.include({ amount: 100000, status: 'succeeded' });
    expect((await investor(alice)).cash).to.equal(0);
    expect(await count('ledgerentry', { paymentId })).to.equal(0);
    await expectFundInvariants(fund.app);
    // The right callback (decision: needs_attention is not final) credits, keeping the anomaly.
    await callback({ paymentId, status: 'succeeded', amount: 1000 }).expect(200);
    expect((await investor(alice)).cash).to.equal(1000);
    expect(((await fund.app.models.payment.findOne({ paymentId })) as Doc).anomalies).to.have.length(1);
    await expectFundInvariants(fund.app);
  });

  it('marks a failed payment failed, cancels its order, credits nothing, and refuses another final status (409)', async function () {
    const alice = await seedInvestor(fund.app, 'Alice', 0);
    await seedLoans(fund.app, 2, [{ target: 5000 }, { target: 5000 }]);
    const order = await post('/api/order', 'readwrite', { investor: alice, amount: 3000, funding: 'gateway' }).expect(201);
    const paymentId = order.body.payment.paymentId as string;
    const failed = await callback({ paymentId, status: 'failed', amount: 3000 }).expect(200);
    expect(failed.body.payment.status).to.equal('failed');
    expect(failed.body.order.status).to.equal('cancelled');
    const again = await callback({ paymentId, status: 'failed', amount: 3000 }).expect(200);
    expect(again.body).to.deep.equal(failed.body);
    const before = await snapshot(fund.app);
    const conflict = await callback({ paymentId, status: 'succeeded', amount: 3000 }).expect(409);
    expect(conflict.body.error.code).to.equal('conflict');
    expect(await snapshot(fund.app)).to.deep.equal(before);
    expect(await investor(alice)).to.include({ cash: 0, invested: 0 });
    expect(await count('allocation')).to.equal(0);
    await expectFundInvariants(fund.app);
  });

  it('spreads a cash order over 200 loans on 5 platforms in one batch', async function () {
    this.timeout(120000);
    const alice = await seedInvestor(fund.app, 'Alice', 1_000_000);
    const seeded = await seedLoans(fund.app, 5, Array.from({ length: 200 }, (_, i) => ({ target: 5000 + (i % 7) * 1000, raised: (i % 3) * 500 })));
    const started = Date.now();
    const res = await post('/api/order', 'readwrite', { investor: alice, amount: 600_000, maxPerLoan: 4000, funding: 'cash' }).expect(201);
    const elapsed = Date.now() - started;
    expect(res.body.order).to.include({ status: 'allocated', amount: 600_000, funding: 'cash' });
    const allocations = await all(fund.app, 'allocation', { order: res.body.order.id });
    expect(allocations).to.have.length(200);
    expect(allocations.reduce((s, a) => s + (a.amount as number), 0)).to.equal(600_000);
    expect(allocations.every((a) => (a.amount as number) >= 1 && (a.amount as number) <= 4000)).to.equal(true);
    expect(new Set(allocations.map((a) => a.loan)).size).to.equal(200);
    expect(new Set(allocations.map((a) => a.platform))).to.have.property('size', 5);
    const loans = await all(fund.app, 'loan', { id: seeded.loans });
    expect(loans.every((l) => (l.raised as number) <= (l.target as number))).to.equal(true);
    expect(await investor(alice)).to.include({ cash: 400_000, invested: 600_000 });
    console.log(`        200-loan order: ${elapsed} ms`);
    await expectFundInvariants(fund.app);
  });

  it('refuses an order the 200 loans are one loan short of (409 insufficient_capacity), writing nothing', async function () {
    this.timeout(120000);
    const alice = await seedInvestor(fund.app, 'Alice', 1_000_000);
    // 200 loans of 1000; the 200th is already full: capacity 199000 for an order of 200000.
    await seedLoans(fund.app, 5, Array.from({ length: 200 }, (_, i) => ({ target: 1000, raised: i === 199 ? 1000 : 0 })));
    const before = await snapshot(fund.app);
    const res = await post('/api/order', 'readwrite', { investor: alice, amount: 200_000, funding: 'cash' }).expect(409);
    expect(res.body.error.code).to.equal('insufficient_capacity');
    expect(await snapshot(fund.app)).to.deep.equal(before);
    await expectFundInvariants(fund.app);
  });

  it('refuses an order whose last loan fills up between planning and the batch (service level), writing nothing', async function () {
    const alice = await seedInvestor(fund.app, 'Alice', 100_000);
    const seeded = await seedLoans(fund.app, 3, Array.from({ length: 12 }, () => ({ target: 1000 })));
    const plan = await fundLib.planCashOrder(asFund(fund.app), { investor: alice, amount: 12_000 });
    expect(plan.parts).to.have.length(12);
    const last = plan.parts[plan.parts.length - 1].loan;
    expect(seeded.loans).to.include(last);
    // Someone else invests 1 cent in the last loan behind the planner's back.
    await engineOf(fund.app).batch([{ op: 'increment', model: 'loan', id: last, field: 'raised', by: 1, max: 1000 }]);
    const before = await snapshot(fund.app);
    const err = await fundLib.executeOrder(asFund(fund.app), plan).then(
      () => null,
      (e: unknown) => e as { code?: string },
    );
    expect(err?.code).to.equal('insufficient_capacity');
    expect(await snapshot(fund.app)).to.deep.equal(before);
    // The same race for cash: the investor withdraws between planning and the batch.
    const plan2 = await fundLib.planCashOrder(asFund(fund.app), { investor: alice, amount: 5000 });
    await post('/api/withdrawal', 'readwrite', { investor: alice, amount: 96_000 }).expect(201);
    const before2 = await snapshot(fund.app);
    const err2 = await fundLib.executeOrder(asFund(fund.app), plan2).then(
      () => null,
      (e: unknown) => e as { code?: string },
    );
    expect(err2?.code).to.equal('insufficient_funds');
    expect(await snapshot(fund.app)).to.deep.equal(before2);
    await expectFundInvariants(fund.app);
  });

  it('refuses an order above the cash (409 insufficient_funds), writing nothing', async function () {
    const alice = await seedInvestor(fund.app, 'Alice', 999);
    await seedLoans(fund.app, 2, [{ target: 5000 }, { target: 5000 }]);
    const before = await snapshot(fund.app);
    const res = await post('/api/order', 'readwrite', { investor: alice, amount: 1000, funding: 'cash' }).expect(409);
    expect(res.body.error.code).to.equal('insufficient_funds');
    expect(await snapshot(fund.app)).to.deep.equal(before);
    await expectFundInvariants(fund.app);
  });

  it('answers a repeated Idempotency-Key with the same order, concurrently too, and refuses it for another order', async function () {
    const alice = await seedInvestor(fund.app, 'Alice', 10_000);
    await seedLoans(fund.app, 3, Array.from({ length: 6 }, () => ({ target: 5000 })));
    const order = { investor: alice, amount: 3000, maxPerLoan: 1000, funding: 'cash' };
    const first = await post('/api/order', 'readwrite', order).set('Idempotency-Key', 'order-1').expect(201);
    const again = await post('/api/order', 'readwrite', order).set('Idempotency-Key', 'order-1').expect(201);
    expect(again.body).to.deep.equal(first.body);
    const concurrent = await Promise.all(Array.from({ length: 5 }, () => post('/api/order', 'readwrite', order).set('Idempotency-Key', 'order-2')));
    expect(concurrent.map((r) => r.status)).to.deep.equal(Array(5).fill(201));
    for (const r of concurrent) expect(r.body).to.deep.equal(concurrent[0].body);
    expect(await count('order')).to.equal(2);
    expect(await investor(alice)).to.include({ cash: 4000, invested: 6000 });
    const before = await snapshot(fund.app);
    const other = await post('/api/order', 'readwrite', { ...order, amount: 2000 }).set('Idempotency-Key', 'order-1').expect(409);
    expect(other.body.error.code).to.equal('idempotency_conflict');
    expect(await snapshot(fund.app)).to.deep.equal(before);
    await expectFundInvariants(fund.app);
  });

  it('allocates a gateway order when its payment succeeds, or leaves it paid when the loans are full', async function () {
    const alice = await seedInvestor(fund.app, 'Alice', 50);
    const seeded = await seedLoans(fund.app, 2, Array.from({ length: 4 }, () => ({ target: 2000 })));
    const res = await post('/api/order', 'readwrite', { investor: alice, amount: 6000, maxPerLoan: 1500, funding: 'gateway' }).expect(201);
    expect(res.body.order).to.include({ status: 'awaiting_payment', funding: 'gateway' });
    expect(res.body.payment).to.include({ status: 'pending', amount: 6000, order: res.body.order.id, paymentId: res.body.order.paymentId });
    expect(await count('allocation')).to.equal(0);
    const paid = await callback({ paymentId: res.body.payment.paymentId, status: 'succeeded', amount: 6000 }).expect(200);
    expect(paid.body.order.status).to.equal('allocated');
    const allocations = await all(fund.app, 'allocation', { order: res.body.order.id });
    expect(allocations).to.have.length(4);
    expect(allocations.every((a) => a.amount === 1500)).to.equal(true);
    expect(await investor(alice)).to.include({ cash: 50, invested: 6000 });
    await expectFundInvariants(fund.app);
    // The loans have 2000 cents of room left: a second gateway order of 3000 is credited, left `paid`.
    const second = await post('/api/order', 'readwrite', { investor: alice, amount: 3000, funding: 'gateway' }).expect(201);
    const credited = await callback({ paymentId: second.body.payment.paymentId, status: 'succeeded', amount: 3000 }).expect(200);
    expect(credited.body.order.status).to.equal('paid');
    expect(await investor(alice)).to.include({ cash: 3050, invested: 6000 });
    expect(await count('allocation', { order: second.body.order.id })).to.equal(0);
    expect((await all(fund.app, 'loan', { id: seeded.loans })).map((l) => l.raised)).to.deep.equal([1500, 1500, 1500, 1500]);
    await expectFundInvariants(fund.app);
  });

  it('allocates a gateway order once when its callback is delivered 10 times concurrently', async function () {
    const alice = await seedInvestor(fund.app, 'Alice', 0);
    await seedLoans(fund.app, 3, Array.from({ length: 6 }, () => ({ target: 1000 })));
    const order = await post('/api/order', 'readwrite', { investor: alice, amount: 4500, funding: 'gateway' }).expect(201);
    const body = { paymentId: order.body.payment.paymentId as string, status: 'succeeded', amount: 4500 };
    const answers = await Promise.all(Array.from({ length: 10 }, () => callback(body)));
    expect(answers.map((a) => a.status)).to.deep.equal(Array(10).fill(200));
    for (const answer of answers) expect(answer.body).to.deep.equal(answers[0].body);
    expect(answers[0].body.order.status).to.equal('allocated');
    expect(await count('allocation')).to.equal(6);
    expect(await investor(alice)).to.include({ cash: 0, invested: 4500 });
    await expectFundInvariants(fund.app);
  });

  it('never spends cash twice under concurrent orders: the cash bound in the batch refuses the rest', async function () {
    const alice = await seedInvestor(fund.app, 'Alice', 10_000);
    await seedLoans(fund.app, 2, Array.from({ length: 4 }, () => ({ target: 100_000 })));
    const answers = await Promise.all(Array.from({ length: 5 }, () => post('/api/order', 'readwrite', { investor: alice, amount: 3000, funding: 'cash' })));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((s) => s === 201)).to.have.length(3);
    for (const refused of answers.filter((a) => a.status !== 201)) expect(refused.body.error.code).to.be.oneOf(['insufficient_funds', 'lock_timeout']);
    expect(await investor(alice)).to.include({ cash: 1000, invested: 9000 });
    await expectFundInvariants(fund.app);
  });

  it('withdraws cash with ledger lines, and refuses more than the cash (409), writing nothing', async function () {
    const alice = await seedInvestor(fund.app, 'Alice', 5000);
    const res = await post('/api/withdrawal', 'readwrite', { investor: alice, amount: 1200 }).expect(201);
    expect(res.body.investor).to.include({ id: alice, cash: 3800 });
    expect(await count('ledgerentry', { entry: res.body.withdrawal.entry })).to.equal(2);
    const before = await snapshot(fund.app);
    const refused = await post('/api/withdrawal', 'readwrite', { investor: alice, amount: 3801 }).expect(409);
    expect(refused.body.error.code).to.equal('insufficient_funds');
    expect(await snapshot(fund.app)).to.deep.equal(before);
    await expectFundInvariants(fund.app);
  });

  it('refuses bad input on every endpoint with a 4xx and a code, writing nothing', async function () {
    this.timeout(60000);
    const alice = await seedInvestor(fund.app, 'Alice', 5000);
    const { loans, platforms } = await seedLoans(fund.app, 1, [{ target: 5000 }]);
    const deposit = await post('/api/deposit', 'readwrite', { investor: alice, amount: 100 }).expect(201);
    const paymentId = deposit.body.payment.paymentId as string;
    const before = await snapshot(fund.app);
    const huge = 'x'.repeat(600 * 1024);
    const money: [unknown, string][] = [['100', 'validation_failed'], [-1, 'validation_failed'], [0, 'validation_failed'], [1.5, 'validation_failed'], [0.001, 'validation_failed'], [1e16, 'validation_failed'], [2 ** 53 + 2, 'validation_failed'], [1e13 + 1, 'validation_failed'], [null, 'validation_failed'], [true, 'validation_failed'], [[100], 'validation_failed'], [{ $gt: 0 }, 'validation_failed']];
    const ids: [unknown, number, string][] = [[{ $gt: '' }, 400, 'validation_failed'], [123, 400, 'validation_failed'], ['', 400, 'validation_failed'], ['a'.repeat(65), 400, 'validation_failed'], ["x' OR '1'='1", 400, 'validation_failed'], ['000000000000000000000000', 404, 'not_found'], [loans[0], 404, 'not_found'], [platforms[0], 404, 'not_found']];
    for (const path of ['/api/deposit', '/api/withdrawal', '/api/order']) {
      const valid: Body = path === '/api/order' ? { investor: alice, amount: 100, funding: 'cash' } : { investor: alice, amount: 100 };
      const cases: [Body | string, number, string][] = [
        ['{"investor": ', 400, 'malformed_json'],
        [`{"investor": "${alice}", "amount": NaN}`, 400, 'malformed_json'],
        [JSON.stringify({ ...valid, memo: huge }), 413, 'payload_too_large'],
        [{ ...valid, extra: 1 }, 400, 'validation_failed'],
        [{ ...valid, cash: 1_000_000 }, 400, 'validation_failed'],
        [{ amount: 100 }, 400, 'validation_failed'],
        ['[]', 400, 'validation_failed'],
        ...money.map(([amount, code]): [Body, number, string] => [{ ...valid, amount }, 400, code]),
        ...ids.map(([investorId, status, code]): [Body, number, string] => [{ ...valid, investor: investorId }, status, code]),
      ];
      if (path === '/api/order') cases.push([{ ...valid, funding: 'bitcoin' }, 400, 'validation_failed'], [{ ...valid, maxPerLoan: 0 }, 400, 'validation_failed'], [{ ...valid, maxPerLoan: 2.5 }, 400, 'validation_failed']);
      for (const [body, status, code] of cases) {
        const res = await post(path, 'readwrite', body);
        expect(res.status, `${path} ${String(typeof body === 'string' ? body.slice(0, 40) : JSON.stringify(body).slice(0, 80))}`).to.equal(status);
        expect(res.body.error.code).to.equal(code);
      }
    }
    const badKey = await post('/api/order', 'readwrite', { investor: alice, amount: 100, funding: 'cash' }).set('Idempotency-Key', 'k'.repeat(201)).expect(400);
    expect(badKey.body.error.path).to.equal('headers.idempotency-key');
    const callbacks: [Body | string, number, string][] = [
      ['{"paymentId": ', 400, 'malformed_json'],
      [{ paymentId, status: 'succeeded', amount: 100, extra: true }, 400, 'validation_failed'],
      [{ paymentId: { $gt: '' }, status: 'succeeded', amount: 100 }, 400, 'validation_failed'],
      [{ paymentId, status: 'refunded', amount: 100 }, 400, 'validation_failed'],
      [{ paymentId, status: 'succeeded', amount: '100' }, 400, 'validation_failed'],
      [{ paymentId, status: 'succeeded', amount: 100.5 }, 400, 'validation_failed'],
      [{ paymentId, status: 'succeeded', amount: -100 }, 400, 'validation_failed'],
      [{ paymentId: 'pay_unknown', status: 'succeeded', amount: 100 }, 404, 'not_found'],
      [JSON.stringify({ paymentId, status: 'succeeded', amount: 100, memo: huge }), 413, 'payload_too_large'],
    ];
    for (const [body, status, code] of callbacks) {
      const res = await callback(body);
      expect(res.status, `callback ${JSON.stringify(body)}`).to.equal(status);
      expect(res.body.error.code).to.equal(code);
    }
    expect(await snapshot(fund.app)).to.deep.equal(before);
    await expectFundInvariants(fund.app);
  });

  for (const role of ['readonly', 'monitor'] as const) {
    it(`refuses deposits, orders and withdrawals to ${role} (403), and to nobody (401), writing nothing`, async function () {
      const alice = await seedInvestor(fund.app, 'Alice', 5000);
      await seedLoans(fund.app, 1, [{ target: 5000 }]);
      const before = await snapshot(fund.app);
      const writes: [string, Body][] = [
        ['/api/deposit', { investor: alice, amount: 100 }],
        ['/api/order', { investor: alice, amount: 100, funding: 'cash' }],
        ['/api/order', { investor: alice, amount: 100, funding: 'gateway' }],
        ['/api/withdrawal', { investor: alice, amount: 100 }],
      ];
      for (const [path, body] of writes) {
        const res = await post(path, role, body).expect(403);
        expect(res.body.error.code).to.equal('forbidden');
        await fund.http().post(path).send(body).expect(401);
      }
      expect(await snapshot(fund.app)).to.deep.equal(before);
      await expectFundInvariants(fund.app);
    });
  }
});
