/**
 * The REST API over the engine: transactional blueprints (strict allowlists, typed values,
 * nothing written on error), closed internal and financial models, declarative batches with
 * idempotency keys, the transaction log (list, get, reverse), history, reconciliation, and
 * each role refused what it may not do.
 */
import { expect } from 'chai';
import type { Response, Test } from 'supertest';
import { newId } from '../../lib/core/ids';
import { newLog } from '../../lib/core/log-document';
import type { Engine } from '../../lib/engine';
import type { LogDocument } from '../../lib/core/types';
import { type FundApp, liftFund, lowerFund, type Role } from '../support/http';
import { forEachAdapter } from '../support/targets';

type Doc = Record<string, unknown>;
type Method = 'post' | 'patch' | 'put' | 'delete' | 'get';

interface ErrorBody {
  error: { code: string; message: string; path?: string };
}

forEachAdapter('REST API over the engine', (target) => {
  let fund: FundApp;
  before(async function () {
    fund = await liftFund(target());
  });
  after(async function () {
    await lowerFund(fund);
  });

  const engine = (): Engine => fund.app.hooks.transact.engine as Engine;
  const model = (identity: string) => fund.app.models[identity];

  function call(role: Role | null, method: Method, url: string, body?: unknown, headers: Record<string, string> = {}): Test {
    let req = fund.http()[method](url);
    if (role !== null) req = req.set('Authorization', fund.auth(role));
    for (const [name, value] of Object.entries(headers)) req = req.set(name, value);
    return body === undefined ? req : req.send(body as object);
  }

  function expectError(res: Response, status: number, code: string, path?: string): void {
    expect(res.status, JSON.stringify(res.body)).to.equal(status);
    const { error } = res.body as ErrorBody;
    expect(error.code).to.equal(code);
    expect(error.message).to.be.a('string');
    if (path !== undefined) expect(error.path).to.equal(path);
  }

  /** Counts of the models a refused request must leave alone. */
  async function counts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const identity of ['investor', 'loan', 'platform', 'account', 'ledgerentry', 'allocation', 'payment', 'token', 'transactlog', 'transactlock', 'user']) out[identity] = await model(identity).count({});
    return out;
  }

  async function createVia(identity: string, values: Doc, role: Role = 'readwrite'): Promise<{ doc: Doc; tx: string }> {
    const res = await call(role, 'post', `/api/${identity}`, values);
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    return { doc: res.body as Doc, tx: res.get('X-Transaction-Id') as string };
  }

  let platform: string;
  before(async function () {
    platform = (await createVia('platform', { name: 'Mintos' })).doc.id as string;
  });

  describe('transactional blueprints', function () {
    it('creates with POST /api/:model through the engine: 201, a committed log, the stored document equals the response', async function () {
      const { doc, tx } = await createVia('investor', { name: 'Ann' });
      expect(doc).to.include({ name: 'Ann', cash: 0, invested: 0 });
      expect(await model('investor').findOne({ id: doc.id })).to.deep.equal(doc);
      const log = (await engine().getLog(tx)) as LogDocument;
      expect(log).to.include({ state: 'committed', label: 'POST /api/investor', mode: 'batch' });
      expect(log.documents).to.deep.equal([`investor:${doc.id}`]);
      expect(log.steps[0]).to.include({ kind: 'create', model: 'investor', id: doc.id });
      expect(log.steps[0].after).to.deep.equal(doc);
    });

    it('updates with PATCH and PUT /api/:model/:id through the engine; 404 for an unknown id', async function () {
      const { doc: loan } = await createVia('loan', { platform, borrower: 'Acme', target: 100_000, rateBps: 900, termMonths: 24 });
      const patched = await call('readwrite', 'patch', `/api/loan/${loan.id}`, { borrower: 'Acme Ltd' }).expect(200);
      expect(patched.body).to.include({ borrower: 'Acme Ltd', target: 100_000, raised: 0 });
      const put = await call('readwrite', 'put', `/api/loan/${loan.id}`, { status: 'closed' }).expect(200);
      expect(put.body).to.include({ borrower: 'Acme Ltd', status: 'closed' });
      expect(await model('loan').findOne({ id: loan.id })).to.deep.equal(put.body);
      const log = (await engine().getLog(put.get('X-Transaction-Id') as string)) as LogDocument;
      expect(log).to.include({ state: 'committed', label: 'PUT /api/loan' });
      expect(log.steps[0].before).to.include({ status: 'open' });
      const before = await counts();
      expectError(await call('readwrite', 'patch', `/api/loan/${newId()}`, { borrower: 'Nobody' }), 404, 'not_found');
      expect(await counts()).to.deep.equal(before);
    });

    describe('strict validation, nothing written', function () {
      const badCreates: [string, string, Doc, string][] = [
        ['an unknown field', 'investor', { name: 'Eve', cash: 1_000_000 }, 'body.cash'],
        ['an attribute outside the allowlist', 'loan', { platform: 'p', borrower: 'B', target: 100, raised: 100 }, 'body.raised'],
        ['a wrong type', 'investor', { name: 42 }, 'body.name'],
        ['a missing required attribute', 'loan', { platform: 'p', borrower: 'B' }, 'body.target'],
        ['a fractional amount', 'loan', { platform: 'p', borrower: 'B', target: 1.5 }, 'body.target'],
        ['an unsafe integer', 'loan', { platform: 'p', borrower: 'B', target: 2 ** 53 + 2 }, 'body.target'],
        ['a huge number', 'loan', { platform: 'p', borrower: 'B', target: 1e300 }, 'body.target'],
        ['an injection object as a value', 'investor', { name: { $gt: '' } }, 'body.name'],
        ['a value outside isIn', 'account', { owner: 'Zed', currency: 'BTC' }, 'body.currency'],
        ['a string as a number', 'loan', { platform: 'p', borrower: 'B', target: '100' }, 'body.target'],
      ];
      for (const [name, identity, body, path] of badCreates) {
        it(`refuses ${name} on create with 400 validation_failed at ${path}`, async function () {
          const before = await counts();
          expectError(await call('readwrite', 'post', `/api/${identity}`, body), 400, 'validation_failed', path);
          expect(await counts()).to.deep.equal(before);
        });
      }

      it('refuses bad updates and bad ids with 400, changing nothing', async function () {
        const { doc } = await createVia('investor', { name: 'Bea' });
        const before = await counts();
        expectError(await call('readwrite', 'patch', `/api/investor/${doc.id}`, { name: { $gt: '' } }), 400, 'validation_failed', 'body.name');
        expectError(await call('readwrite', 'patch', `/api/investor/${doc.id}`, { cash: 5 }), 400, 'validation_failed', 'body.cash');
        expectError(await call('readwrite', 'patch', `/api/investor/${doc.id}`, {}), 400, 'validation_failed');
        expectError(await call('readwrite', 'patch', `/api/investor/${doc.id}`, [{ name: 'x' }]), 400, 'validation_failed');
        expectError(await call('readwrite', 'patch', `/api/investor/${encodeURIComponent('{"$gt":""}')}`, { name: 'x' }), 400, 'validation_failed', 'id');
        expectError(await call('readwrite', 'patch', `/api/investor/${'a'.repeat(101)}`, { name: 'x' }), 400, 'validation_failed', 'id');
        expectError(await call('readwrite', 'delete', `/api/platform/${encodeURIComponent('x y')}`), 400, 'validation_failed', 'id');
        expect(await counts()).to.deep.equal(before);
        expect(await model('investor').findOne({ id: doc.id })).to.deep.equal(doc);
      });
    });

    it('never destroys a financial document (405 destroy_forbidden); destroys through the engine where http.destroy allows', async function () {
      const { doc } = await createVia('investor', { name: 'Cid' });
      expectError(await call('admin', 'delete', `/api/investor/${doc.id}`), 405, 'destroy_forbidden');
      expect(await model('investor').findOne({ id: doc.id })).to.deep.equal(doc);
      const { doc: gone } = await createVia('platform', { name: 'Short-lived' });
      const res = await call('readwrite', 'delete', `/api/platform/${gone.id}`).expect(200);
      expect(res.body).to.deep.equal(gone);
      expect(await model('platform').findOne({ id: gone.id })).to.equal(undefined);
      expect(await engine().getLog(res.get('X-Transaction-Id') as string)).to.include({ state: 'committed', label: 'DELETE /api/platform' });
      expectError(await call('readwrite', 'delete', `/api/platform/${gone.id}`), 404, 'not_found');
    });

    it('answers 404 unknown_model for writes to an unknown model', async function () {
      expectError(await call('admin', 'post', '/api/nosuchmodel', { a: 1 }), 404, 'unknown_model');
      expectError(await call('admin', 'patch', '/api/nosuchmodel/abc', { a: 1 }), 404, 'unknown_model');
      expectError(await call('admin', 'delete', '/api/nosuchmodel/abc'), 404, 'unknown_model');
      expectError(await call('admin', 'post', '/api/constructor', { a: 1 }), 404, 'unknown_model');
    });
  });

  describe('internal and closed models', function () {
    it('refuses every write route to transactlog, transactlock, token, ledgerentry, allocation, payment (even for admin), writing nothing', async function () {
      const line = { id: newId(), entry: newId(), investor: null, account: 'gateway', amount: 1, memo: 'planted for the test' };
      await model('ledgerentry').create({ ...line }); // a copy: Waterline rewrites the values it is given
      const someLog = ((await model('transactlog').find({ limit: 1 }))[0] as Doc).id as string;
      const someToken = ((await model('token').find({ limit: 1 }))[0] as Doc).id as string;
      const ids: Record<string, string> = { transactlog: someLog, transactlock: newId(), token: someToken, ledgerentry: line.id, allocation: newId(), payment: newId() };
      const before = await counts();
      const snapshot = { log: await model('transactlog').findOne({ id: someLog }), token: await model('token').findOne({ id: someToken }), line: await model('ledgerentry').findOne({ id: line.id }) };
      for (const [identity, id] of Object.entries(ids)) {
        const values = { state: 'committed', owner: 'x', role: 'admin', amount: 1_000_000, account: 'cash', entry: 'e', user: 'u', leaseUntil: 0 };
        expectError(await call('admin', 'post', `/api/${identity}`, values), 405, 'method_not_allowed');
        expectError(await call('admin', 'patch', `/api/${identity}/${id}`, values), 405, 'method_not_allowed');
        expectError(await call('admin', 'put', `/api/${identity}/${id}`, values), 405, 'method_not_allowed');
        const destroyed = await call('admin', 'delete', `/api/${identity}/${id}`);
        if (['ledgerentry', 'allocation', 'payment'].includes(identity)) expectError(destroyed, 405, 'destroy_forbidden');
        else expectError(destroyed, 405, 'method_not_allowed');
        for (const op of [
          { op: 'create', model: identity, values: { amount: 1 } },
          { op: 'update', model: identity, id, set: { amount: 2 } },
          { op: 'increment', model: identity, id, field: 'amount', by: 5 },
          { op: 'destroy', model: identity, id },
        ]) {
          expectError(await call('admin', 'post', '/api/transaction', { ops: [op] }), 403, 'forbidden', 'ops.0.model');
        }
      }
      expect(await counts()).to.deep.equal(before);
      expect({ log: await model('transactlog').findOne({ id: someLog }), token: await model('token').findOne({ id: someToken }), line: await model('ledgerentry').findOne({ id: line.id }) }).to.deep.equal(snapshot);
    });

    it('refuses reading tokens, the log and the locks through the blueprints (403)', async function () {
      for (const identity of ['token', 'transactlog', 'transactlock']) {
        expect((await call('admin', 'get', `/api/${identity}`)).status).to.equal(403);
      }
    });
  });

  describe('POST /api/transaction', function () {
    it('runs a batch through the engine: 201 {id, state, steps}', async function () {
      const res = await call('readwrite', 'post', '/api/transaction', {
        label: 'onboarding',
        ops: [
          { op: 'create', model: 'investor', values: { name: 'Dan' } },
          { op: 'create', model: 'platform', values: { name: 'Bondora' } },
        ],
      }).expect(201);
      expect(res.body).to.include({ state: 'committed' });
      expect(res.body.steps).to.have.length(2);
      const [investorStep, platformStep] = res.body.steps as { id: string; after: Doc }[];
      expect(await model('investor').findOne({ id: investorStep.id })).to.deep.equal(investorStep.after);
      expect(await model('platform').findOne({ id: platformStep.id })).to.include({ name: 'Bondora' });
      expect(await engine().getLog(res.body.id as string)).to.include({ state: 'committed', label: 'onboarding' });
    });

    it('honours Idempotency-Key: a repeat answers the same id and applies once; other ops under the key are refused', async function () {
      const key = `k-${newId()}`;
      const body = { ops: [{ op: 'create', model: 'investor', values: { name: `Keyed ${key}` } }] };
      const first = await call('readwrite', 'post', '/api/transaction', body, { 'Idempotency-Key': key }).expect(201);
      const again = await call('readwrite', 'post', '/api/transaction', body, { 'Idempotency-Key': key }).expect(201);
      expect(again.body).to.deep.equal(first.body);
      expect(await model('investor').count({ name: `Keyed ${key}` })).to.equal(1);
      const log = (await engine().getLog(first.body.id as string)) as LogDocument;
      expect(log.idempotencyKey).to.equal(`http:${key}`);
      const other = { ops: [{ op: 'create', model: 'investor', values: { name: 'Someone else' } }] };
      expectError(await call('readwrite', 'post', '/api/transaction', other, { 'Idempotency-Key': key }), 409, 'idempotency_conflict');
      expect(await model('investor').count({ name: 'Someone else' })).to.equal(0);
      // without a key, the same body runs twice
      const a = await call('readwrite', 'post', '/api/transaction', body).expect(201);
      const b = await call('readwrite', 'post', '/api/transaction', body).expect(201);
      expect(a.body.id).to.not.equal(b.body.id);
      expect(await model('investor').count({ name: `Keyed ${key}` })).to.equal(3);
      expectError(await call('readwrite', 'post', '/api/transaction', body, { 'Idempotency-Key': 'has space' }), 400, 'validation_failed', 'headers.idempotency-key');
    });

    it('maps engine and allowlist errors to 4xx, writing nothing', async function () {
      const { doc: investor } = await createVia('investor', { name: 'Fay' });
      const before = await counts();
      const cases: [unknown, number, string, string | undefined][] = [
        [{}, 400, 'validation_failed', 'body.ops'],
        [{ ops: [] }, 400, 'validation_failed', 'body.ops'],
        [{ ops: [{ op: 'create', model: 'platform', values: { name: 'x' } }], extra: 1 }, 400, 'validation_failed', 'body.extra'],
        [{ ops: [{ op: 'create', model: 'platform', values: { name: 'x' }, extra: 1 }] }, 400, 'validation_failed', 'ops.0.extra'],
        [{ ops: [{ op: 'create', model: 'loan', values: { platform, borrower: 'B', target: 1.5 } }] }, 400, 'validation_failed', 'ops.0.values.target'],
        [{ ops: [{ op: 'update', model: 'investor', id: investor.id, set: { name: { $gt: '' } } }] }, 400, 'validation_failed', 'ops.0.set.name'],
        [{ ops: [{ op: 'update', model: 'investor', id: { $gt: '' }, set: { name: 'x' } }] }, 400, 'validation_failed', 'ops.0.id'],
        [{ ops: [{ op: 'update', model: 'investor', id: newId(), set: { name: 'x' } }] }, 404, 'not_found', undefined],
        [{ ops: [{ op: 'create', model: 'nosuch', values: {} }] }, 404, 'unknown_model', 'ops.0.model'],
        [{ ops: [{ op: 'update', model: 'investor', id: investor.id, set: { cash: 1_000_000 } }] }, 403, 'forbidden', 'ops.0.set.cash'],
        [{ ops: [{ op: 'increment', model: 'investor', id: investor.id, field: 'cash', by: 1_000_000 }] }, 403, 'forbidden', 'ops.0.op'],
        [{ ops: [{ op: 'create', model: 'ledgerentry', values: { entry: 'e', account: 'cash', amount: 5, investor: investor.id } }] }, 403, 'forbidden', 'ops.0.model'],
        [{ ops: [{ op: 'destroy', model: 'investor', id: investor.id }] }, 405, 'destroy_forbidden', 'ops.0.op'],
        [{ ops: [{ op: 'create', model: 'platform', values: { name: 'ok' } }, { op: 'create', model: 'account', values: { owner: 'x', balance: 5 } }] }, 403, 'forbidden', 'ops.1.values.balance'],
      ];
      for (const [body, status, code, path] of cases) expectError(await call('readwrite', 'post', '/api/transaction', body), status, code, path);
      expect(await counts()).to.deep.equal(before);
      expect(await model('investor').findOne({ id: investor.id })).to.deep.equal(investor);
    });
  });

  describe('the transaction log', function () {
    it('lists newest first without steps, filtered by state and model, paginated', async function () {
      await createVia('platform', { name: 'Listed' });
      const all = await call('readonly', 'get', '/api/transaction?limit=200').expect(200);
      const items = all.body.items as Doc[];
      expect(all.body).to.include({ limit: 200, skip: 0 });
      expect(items.length).to.be.above(5);
      const starts = items.map((item) => item.startedAt as number);
      expect(starts).to.deep.equal([...starts].sort((x, y) => y - x));
      for (const item of items) {
        expect(item).to.not.have.property('steps');
        expect(item).to.have.keys(['id', 'state', 'mode', 'label', 'idempotencyKey', 'idempotencyScope', 'startedAt', 'endedAt', 'documents', 'reverses', 'reversedBy', 'reason', 'error']);
      }
      expect(items[0]).to.include({ label: 'POST /api/platform', state: 'committed' });

      const defaults = await call('readonly', 'get', '/api/transaction').expect(200);
      expect(defaults.body).to.include({ limit: 50, skip: 0 });

      const committed = await call('readonly', 'get', '/api/transaction?state=committed&limit=200').expect(200);
      expect((committed.body.items as Doc[]).every((item) => item.state === 'committed')).to.equal(true);
      const none = await call('readonly', 'get', '/api/transaction?state=rolling-back').expect(200);
      expect(none.body.items).to.deep.equal([]);

      const loans = await call('readonly', 'get', '/api/transaction?model=loan&limit=200').expect(200);
      const loanItems = loans.body.items as { documents: string[]; id: string }[];
      expect(loanItems.length).to.be.at.least(1);
      for (const item of loanItems) expect(item.documents.some((key) => key.startsWith('loan:'))).to.equal(true);
      const expectedLoanIds = items.filter((item) => (item.documents as string[]).some((key) => key.startsWith('loan:'))).map((item) => item.id);
      expect(loanItems.map((item) => item.id)).to.deep.equal(expectedLoanIds);

      const page1 = await call('readonly', 'get', '/api/transaction?limit=2').expect(200);
      const page2 = await call('readonly', 'get', '/api/transaction?limit=2&skip=2').expect(200);
      expect([...page1.body.items, ...page2.body.items].map((item: Doc) => item.id)).to.deep.equal(items.slice(0, 4).map((item) => item.id));
      const modelPage = await call('readonly', 'get', '/api/transaction?model=platform&limit=1&skip=1').expect(200);
      const platformIds = items.filter((item) => (item.documents as string[]).some((key) => key.startsWith('platform:'))).map((item) => item.id);
      expect((modelPage.body.items as Doc[]).map((item) => item.id)).to.deep.equal(platformIds.slice(1, 2));

      for (const query of ['limit=201', 'limit=0', 'limit=abc', 'skip=-1', 'state=weird', 'foo=1', 'model=%24where', 'state[$ne]=x']) {
        expectError(await call('readonly', 'get', `/api/transaction?${query}`), 400, 'validation_failed');
      }
    });

    it('returns one whole log document with its steps; 404 unknown, 400 bad id', async function () {
      const { tx, doc } = await createVia('investor', { name: 'Gus' });
      const res = await call('readonly', 'get', `/api/transaction/${tx}`).expect(200);
      expect(res.body).to.include({ id: tx, state: 'committed', label: 'POST /api/investor' });
      expect(res.body.steps[0].after).to.deep.equal(doc);
      expect(res.body).to.deep.equal(JSON.parse(JSON.stringify(await engine().getLog(tx))));
      expectError(await call('readonly', 'get', `/api/transaction/${newId()}`), 404, 'not_found');
      expectError(await call('readonly', 'get', `/api/transaction/${encodeURIComponent("x'; drop")}`), 400, 'validation_failed', 'id');
    });

    it('reverses a committed transaction (admin only), linked both ways, once', async function () {
      const { tx, doc } = await createVia('platform', { name: 'Mistake' });
      const before = await counts();
      expectError(await call('readwrite', 'post', `/api/transaction/${tx}/reverse`, { reason: 'wrong' }), 403, 'forbidden');
      expect(await counts()).to.deep.equal(before);
      expectError(await call('admin', 'post', `/api/transaction/${tx}/reverse`, {}), 400, 'validation_failed', 'body.reason');
      expectError(await call('admin', 'post', `/api/transaction/${tx}/reverse`, { reason: 'x', force: true }), 400, 'validation_failed', 'body.force');
      const res = await call('admin', 'post', `/api/transaction/${tx}/reverse`, { reason: 'created by mistake' }).expect(201);
      expect(res.body).to.deep.equal({ id: res.body.id, reverses: tx });
      expect(await model('platform').findOne({ id: doc.id })).to.equal(undefined);
      expect(await engine().getLog(tx)).to.include({ reversedBy: res.body.id });
      expect(await engine().getLog(res.body.id as string)).to.include({ state: 'committed', reverses: tx, reason: 'created by mistake' });
      expectError(await call('admin', 'post', `/api/transaction/${tx}/reverse`, { reason: 'again' }), 409, 'already_reversed');
      expectError(await call('admin', 'post', `/api/transaction/${newId()}/reverse`, { reason: 'ghost' }), 404, 'not_found');
    });

    it('refuses to reverse a transaction whose documents changed since (409 conflict)', async function () {
      const { doc } = await createVia('investor', { name: 'Hal' });
      await call('readwrite', 'patch', `/api/investor/${doc.id}`, { name: 'Hal 2' }).expect(200);
      const patch = (await call('readonly', 'get', '/api/transaction?model=investor&limit=1').expect(200)).body.items[0] as Doc;
      await call('readwrite', 'patch', `/api/investor/${doc.id}`, { name: 'Hal 3' }).expect(200);
      expectError(await call('admin', 'post', `/api/transaction/${patch.id}/reverse`, { reason: 'stale' }), 409, 'conflict');
    });
  });

  describe('history', function () {
    it('lists every committed version, and the state at a time; follows the models\' read policies', async function () {
      const { doc } = await createVia('investor', { name: 'Ivy' });
      const created = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 15));
      const between = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 15));
      await call('readwrite', 'patch', `/api/investor/${doc.id}`, { name: 'Ivy B.' }).expect(200);
      const res = await call('readonly', 'get', `/api/history/investor/${doc.id}`).expect(200);
      const versions = res.body.versions as { kinds: string[]; before: Doc | null; after: Doc | null; label: string }[];
      expect(versions.map((v) => v.kinds)).to.deep.equal([['create'], ['update']]);
      expect(versions[0].before).to.equal(null);
      expect(versions[0].after).to.deep.equal(doc);
      expect(versions[1].after).to.include({ name: 'Ivy B.' });

      const then = await call('readonly', 'get', `/api/history/investor/${doc.id}?at=${new Date(between).toISOString()}`).expect(200);
      expect(then.body).to.deep.equal({ at: new Date(between).toISOString(), state: doc });
      const earlier = await call('readonly', 'get', `/api/history/investor/${doc.id}?at=${new Date(created - 60_000).toISOString()}`).expect(200);
      expect(earlier.body.state).to.equal(null);

      expectError(await call('readonly', 'get', `/api/history/investor/${doc.id}?at=yesterday`), 400, 'validation_failed', 'query.at');
      expectError(await call('readonly', 'get', `/api/history/investor/${doc.id}?when=1`), 400, 'validation_failed', 'query.when');
      expectError(await call('readonly', 'get', `/api/history/nosuch/${doc.id}`), 404, 'unknown_model');
      expectError(await call('readonly', 'get', `/api/history/transactlog/${doc.id}`), 403, 'forbidden');
      expectError(await call('admin', 'get', `/api/history/token/${doc.id}`), 403, 'forbidden');
      expectError(await call('readwrite', 'get', `/api/history/user/${doc.id}`), 403, 'forbidden');
      expect((await call('admin', 'get', `/api/history/user/${doc.id}`).expect(200)).body).to.deep.equal({ versions: [] });
    });
  });

  describe('reconciliation', function () {
    it('is ok on a clean fund; a balance written behind the engine\'s back shows up as a mismatch', async function () {
      const clean = await call('monitor', 'get', '/api/reconciliation').expect(200);
      expect(clean.body).to.include({ ok: true });
      expect(clean.body.mismatches).to.deep.equal([]);
      expect(clean.body.stuck).to.deep.equal([]);
      expect(new Date(clean.body.checkedAt as string).getTime()).to.be.closeTo(Date.now(), 60_000);

      const { doc: investor } = await createVia('investor', { name: 'Jon' });
      const { doc: loan } = await createVia('loan', { platform, borrower: 'Beta', target: 5000 });
      await model('investor').update({ id: investor.id }).set({ cash: 999 });
      await model('loan').update({ id: loan.id }).set({ raised: 250 });
      try {
        const res = await call('admin', 'get', '/api/reconciliation').expect(200);
        expect(res.body.ok).to.equal(false);
        expect(res.body.mismatches).to.have.deep.members([
          { model: 'investor', id: investor.id, field: 'cash', expected: 0, actual: 999 },
          { model: 'loan', id: loan.id, field: 'raised', expected: 0, actual: 250 },
        ]);
      } finally {
        await model('investor').update({ id: investor.id }).set({ cash: 0 });
        await model('loan').update({ id: loan.id }).set({ raised: 0 });
      }
      expect((await call('monitor', 'get', '/api/reconciliation').expect(200)).body.ok).to.equal(true);
    });

    it('lists a transaction stuck past its lease, not a live one', async function () {
      const now = Date.now();
      const stuckId = newId();
      const liveId = newId();
      const store = engine().store;
      await store.insertLog(newLog({ id: stuckId, state: 'pending', mode: 'batch', onCrash: 'rollback', owner: 'dead-instance', leaseUntil: now - 120_000, startedAt: now - 180_000, label: 'died' }));
      await store.insertLog(newLog({ id: liveId, state: 'pending', mode: 'batch', onCrash: 'rollback', owner: 'live-instance', leaseUntil: now + 120_000, startedAt: now, label: 'running' }));
      try {
        const res = await call('monitor', 'get', '/api/reconciliation').expect(200);
        expect(res.body.ok).to.equal(false);
        const stuck = res.body.stuck as { id: string; state: string; label: string; ageMs: number }[];
        expect(stuck.map((s) => s.id)).to.deep.equal([stuckId]);
        expect(stuck[0]).to.include({ state: 'pending', label: 'died' });
        expect(stuck[0].ageMs).to.be.at.least(180_000);
        const pending = await call('readonly', 'get', '/api/transaction?state=pending').expect(200);
        expect((pending.body.items as Doc[]).map((item) => item.id)).to.have.members([stuckId, liveId]);
      } finally {
        for (const id of [stuckId, liveId]) await store.updateLog(id, { states: ['pending'] }, { state: 'rolled-back', endedAt: Date.now() });
      }
      expect((await call('monitor', 'get', '/api/reconciliation').expect(200)).body.ok).to.equal(true);
    });
  });

  describe('roles', function () {
    const writes = (investorId: string, tx: string): [Method, string, unknown][] => [
      ['post', '/api/investor', { name: 'Intruder' }],
      ['patch', `/api/investor/${investorId}`, { name: 'Intruder' }],
      ['put', `/api/investor/${investorId}`, { name: 'Intruder' }],
      ['delete', `/api/platform/${platform}`, undefined],
      ['post', '/api/transaction', { ops: [{ op: 'create', model: 'platform', values: { name: 'Intruder' } }] }],
      ['post', `/api/transaction/${tx}/reverse`, { reason: 'intrusion' }],
    ];

    for (const role of ['readonly', 'monitor'] as const) {
      it(`refuses every write to ${role} (403), writing nothing; allows reads`, async function () {
        const { doc, tx } = await createVia('investor', { name: `Target of ${role}` });
        const before = await counts();
        for (const [method, url, body] of writes(doc.id as string, tx)) expectError(await call(role, method, url, body), 403, 'forbidden');
        expect(await counts()).to.deep.equal(before);
        expect(await model('investor').findOne({ id: doc.id })).to.deep.equal(doc);
        expect(await engine().getLog(tx)).to.include({ reversedBy: null });
        await call(role, 'get', '/api/transaction').expect(200);
        await call(role, 'get', `/api/transaction/${tx}`).expect(200);
        await call(role, 'get', `/api/history/investor/${doc.id}`).expect(200);
        await call(role, 'get', `/api/investor/${doc.id}`).expect(200);
        const reconciliation = await call(role, 'get', '/api/reconciliation');
        if (role === 'readonly') expectError(reconciliation, 403, 'forbidden');
        else expect(reconciliation.status).to.equal(200);
      });
    }

    it('refuses readwrite the reversal (403), allows it reconciliation', async function () {
      const { tx } = await createVia('platform', { name: 'Kept' });
      expectError(await call('readwrite', 'post', `/api/transaction/${tx}/reverse`, { reason: 'no' }), 403, 'forbidden');
      expect(await engine().getLog(tx)).to.include({ reversedBy: null });
      await call('readwrite', 'get', '/api/reconciliation').expect(200);
    });

    it('lets monitor+ see stuck transactions and only admin settle one', async function () {
      const now = Date.now();
      const stuckId = newId();
      const store = engine().store;
      await store.insertLog(newLog({ id: stuckId, state: 'pending', mode: 'batch', onCrash: 'rollback', owner: 'dead-instance', leaseUntil: now - 120_000, startedAt: now - 180_000, label: 'died' }));
      try {
        expectError(await call('readonly', 'get', '/api/transaction/stuck'), 403, 'forbidden');
        expect(((await call('monitor', 'get', '/api/transaction/stuck').expect(200)).body.items as Doc[]).map((item) => item.id)).to.deep.equal([stuckId]);
        for (const role of ['readonly', 'monitor', 'readwrite'] as const) expectError(await call(role, 'post', `/api/transaction/${stuckId}/settle`, { reason: 'no' }), 403, 'forbidden');
        expectError(await call(null, 'post', `/api/transaction/${stuckId}/settle`, {}), 401, 'unauthorized');
        expect(await engine().getLog(stuckId)).to.include({ state: 'pending' });
        const settled = await call('admin', 'post', `/api/transaction/${stuckId}/settle`, { reason: 'instance gone' }).expect(200);
        expect(settled.body).to.include({ id: stuckId, state: 'rolled-back' });
        expect(((await engine().getLog(stuckId)) as LogDocument).error?.settled).to.include({ reason: 'instance gone' });
      } finally {
        await store.updateLog(stuckId, { states: ['pending', 'rolling-back'] }, { state: 'rolled-back', endedAt: Date.now() });
      }
    });

    it('answers 401 to every endpoint without a token, writing nothing', async function () {
      const { doc, tx } = await createVia('investor', { name: 'Anonymous target' });
      const before = await counts();
      for (const [method, url, body] of writes(doc.id as string, tx)) expectError(await call(null, method, url, body), 401, 'unauthorized');
      for (const url of ['/api/transaction', `/api/transaction/${tx}`, `/api/history/investor/${doc.id}`, '/api/reconciliation']) expectError(await call(null, 'get', url), 401, 'unauthorized');
      expect(await counts()).to.deep.equal(before);
    });
  });
});
