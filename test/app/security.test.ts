/**
 * Security probes (issue 12, items 2, 3, 4, 6, 8, 9): what a black-box probe of the fund app
 * found, each as requests an attacker would send, on one lifted app per adapter. Every refusal
 * answers `{"error": {"code", "message", "path"?}}` with a 4xx, never a stack trace or a path
 * of this machine, and writes nothing: the database is checked afterwards.
 */
import { expect } from 'chai';
import type { Response, Test } from 'supertest';
import { resolveItem } from '../../api/lib/admin';
import { FUND_REGISTRY } from '../../api/lib/errors';
import type { Engine } from '../../lib/engine';
import { isTransactError } from '../../lib/core/errors';
import { asFund } from '../support/fund';
import { type FundApp, liftFund, lowerFund, type Role } from '../support/http';
import { forEachAdapter } from '../support/targets';

type Doc = Record<string, unknown>;

/** Traces of a stack or of this machine's files in an answer. */
const LEAKS = /\bat [\w.<>]+ \(|node_modules|\/work\/|\/home\/|\/tmp\/|\.js:\d+|\.ts:\d+|E_[A-Z_]+|stack/;

forEachAdapter('security probes', (target) => {
  let fund: FundApp;
  before(async function () {
    fund = await liftFund(target());
  });
  after(async function () {
    await lowerFund(fund);
  });

  const engine = (): Engine => fund.app.hooks.transact.engine as Engine;
  const model = (identity: string) => fund.app.models[identity];

  function call(role: Role | null, method: 'get' | 'post' | 'patch' | 'delete', url: string, body?: unknown): Test {
    let req = fund.http()[method](url);
    if (role !== null) req = req.set('Authorization', fund.auth(role));
    return body === undefined ? req : req.send(body as object);
  }

  /** The one error shape, a 4xx (or the given status), and no leak. */
  function expectError(res: Response, status: number | null, code?: string): void {
    const what = `${res.status} ${res.get('content-type')} ${res.text}`;
    if (status !== null) expect(res.status, what).to.equal(status);
    expect(res.get('content-type'), what).to.match(/^application\/json/);
    const body = res.body as { error?: { code?: unknown; message?: unknown; path?: unknown } };
    expect(body, what).to.have.keys('error');
    expect(body.error, what).to.be.an('object');
    expect(Object.keys(body.error as object).every((key) => ['code', 'message', 'path'].includes(key)), what).to.equal(true);
    expect(body.error?.code, what).to.be.a('string');
    expect(body.error?.message, what).to.be.a('string');
    if (code !== undefined) expect(body.error?.code, what).to.equal(code);
    expect(res.text, what).not.to.match(LEAKS);
  }

  /** Row counts of every model, the log included: what a refused request must leave as it was. */
  async function counts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const identity of ['investor', 'loan', 'platform', 'account', 'transfer', 'ledgerentry', 'allocation', 'order', 'payment', 'token', 'user', 'transactlog', 'transactlock']) {
      out[identity] = await model(identity).count({});
    }
    return out;
  }

  async function created(identity: string, values: Doc): Promise<Doc> {
    const res = await call('readwrite', 'post', `/api/${identity}`, values);
    expect(res.status, res.text).to.equal(201);
    return res.body as Doc;
  }

  it('item 2: POST /transfers validates strictly (no coercion, no unknown fields, one error shape) and writes nothing when it refuses', async function () {
    const result = await engine().batch([
      { op: 'create', model: 'account', values: { owner: 'alice', balance: 5000 } },
      { op: 'create', model: 'account', values: { owner: 'bob', balance: 0 } },
    ]);
    const [from, to] = result.steps.map((step) => step.id);
    const before = await counts();
    const probes: unknown[] = [
      { from, to, amount: '1e3' },
      { from, to, amount: true },
      { from, to, amount: '0x10' },
      { from, to, amount: '100' },
      { from, to, amount: 1.5 },
      { from, to, amount: 0 },
      { from, to, amount: -5 },
      { from, to, amount: 1e300 },
      { from, to, amount: 100, memo: 123 },
      { from, to, amount: 100, status: 'reversed' },
      { from, to, amount: 100, __proto__x: 1 },
      { from: 7, to, amount: 100 },
      { from, to: { $ne: 1 }, amount: 100 },
      { from, amount: 100 },
      { from, to: from, amount: 100 },
      [],
    ];
    for (const body of probes) {
      const res = await call('readwrite', 'post', '/transfers', body);
      expectError(res, 400, 'validation_failed');
      expect((res.body as { error: { path?: string } }).error.path, res.text).to.be.a('string');
    }
    const text = await call('readwrite', 'post', '/transfers').set('Content-Type', 'text/plain').send('amount=100');
    expectError(text, 400);
    expect(await counts()).to.deep.equal(before);
    expect((await model('account').findOne({ id: from }))?.balance).to.equal(5000);
    expect((await model('account').findOne({ id: to }))?.balance).to.equal(0);
    // The valid request still works, with the same shape of answer as before.
    const ok = await call('readwrite', 'post', '/transfers', { from, to, amount: 250, memo: 'rent' });
    expect(ok.status, ok.text).to.equal(201);
    expect((await model('account').findOne({ id: to }))?.balance).to.equal(250);
    const missing = await call('readwrite', 'post', '/transfers', { from, to: 'no-such-account', amount: 1 });
    expectError(missing, 404, 'not_found');
    const poor = await call('readwrite', 'post', '/transfers', { from: to, to: from, amount: 1_000_000 });
    expectError(poor, 409, 'bound_violation');
    // The fund's other writes and the hook's: strict too.
    const investor = await created('investor', { name: 'Strict' });
    for (const [url, body] of [
      ['/api/deposit', { investor: investor.id, amount: '100' }],
      ['/api/withdrawal', { investor: investor.id, amount: 1, extra: true }],
      ['/api/order', { investor: investor.id, amount: 100, funding: 'cash', maxPerLoan: '5' }],
      ['/api/investor', { name: 5 }],
      ['/api/investor', { name: 'x', cash: 100 }],
      ['/api/transaction', { ops: [{ op: 'create', model: 'platform', values: { name: 1 } }] }],
    ] as const) {
      expectError(await call('readwrite', 'post', url, body), 400, 'validation_failed');
    }
    expectError(await call('monitor', 'get', '/api/reconciliation?detailed=true'), 400, 'validation_failed');
  });

  it('item 3: bad criteria, sort, select, limit/skip and identities get 400/404 with a code, never a 500 or a stack trace; nothing odd reaches the adapter', async function () {
    await created('investor', { name: 'Probe' });
    const probes: [string, number, string][] = [
      ['/api/investor?sort=nosuchattr%20ASC', 400, 'unknown_attribute'],
      ['/api/investor?sort={"$natural":1}', 400, 'unknown_attribute'],
      ['/api/investor?sort={"name":"sideways"}', 400, 'validation_failed'],
      ['/api/investor?sort=[1]', 400, 'validation_failed'],
      ['/api/investor?where={"$where":"x"}', 400, 'unknown_attribute'],
      ['/api/investor?where={"name":{"$where":"x"}}', 400, 'validation_failed'],
      ['/api/investor?where={"name":{"$regex":".*"}}', 400, 'validation_failed'],
      ['/api/investor?where={"constructor":{"prototype":{"x":1}}}', 400, 'unknown_attribute'],
      ['/api/investor?where={"__proto__":{"x":1}}', 400, 'unknown_attribute'],
      ['/api/investor?where={"toString":1}', 400, 'unknown_attribute'],
      ['/api/investor?where={"name":{"in":[{"$gt":""}]}}', 400, 'validation_failed'],
      ['/api/investor?where={"or":{"name":"x"}}', 400, 'validation_failed'],
      ['/api/investor?where=[1]', 400, 'validation_failed'],
      ['/api/investor?where={bad json', 400, 'validation_failed'],
      ['/api/investor?constructor=1', 400, 'unknown_attribute'],
      ['/api/investor?hasOwnProperty=1', 400, 'unknown_attribute'],
      ['/api/investor?select=name', 400, 'validation_failed'],
      ['/api/investor?omit=name', 400, 'validation_failed'],
      ['/api/investor?populate=x', 400, 'validation_failed'],
      ['/api/investor?limit=-1', 400, 'validation_failed'],
      ['/api/investor?limit=abc', 400, 'validation_failed'],
      ['/api/investor?skip=1e3', 400, 'validation_failed'],
      ['/api/investor?skip=10001', 400, 'validation_failed'],
      ['/api/investor?skip=10000', 200, ''],
      ['/api/investor?limit=1&limit=2', 400, 'validation_failed'],
      ['/api/investor?cash=abc', 400, 'validation_failed'],
      ['/api/investor/nosuch', 404, 'not_found'],
      ['/api/investor/__proto__', 404, 'not_found'],
      ['/api/__proto__', 404, 'unknown_model'],
      ['/api/constructor/x', 404, 'unknown_model'],
      ['/api/history/__proto__/x', 404, 'unknown_model'],
      ['/api/history/constructor/x', 404, 'unknown_model'],
      ['/api/history/hasOwnProperty/x', 404, 'unknown_model'],
      ['/api/history/toString/x', 404, 'unknown_model'],
      ['/api/history/investor/__proto__', 200, ''],
      ['/api/transaction/__proto__', 404, 'not_found'],
      ['/api/transaction?state=constructor', 400, 'validation_failed'],
    ];
    const failures: string[] = [];
    for (const [url, status, code] of probes) {
      const res = await call('readonly', 'get', url);
      if (status === 200) {
        if (res.status !== 200 || LEAKS.test(res.text)) failures.push(`${url} → ${res.status} ${res.text.slice(0, 300)}`);
        continue;
      }
      try {
        expectError(res, status, code);
      } catch (err) {
        failures.push(`${url} → ${res.status} ${res.get('content-type')} ${res.text.slice(0, 300)}`);
      }
    }
    expect(failures, failures.join('\n')).to.deep.equal([]);
    // The engine itself (what the ops page's history and the app's code reach): own keys only.
    for (const identity of ['constructor', '__proto__', 'hasOwnProperty', 'toString']) {
      expect(engine().infoOf(identity), identity).to.equal(undefined);
      let thrown: unknown;
      try {
        await engine().history(identity, 'x');
      } catch (err) {
        thrown = err;
      }
      expect((thrown as { code?: string }).code, identity).to.equal('unknown_model');
    }
  });

  it('item 3: an unexpected error answers 500 {"error": {"code": "internal"}} with no stack trace or path, and is logged', async function () {
    const router = (fund.app as unknown as { router: { bind(path: string, fn: (req: unknown, res: { serverError(err: unknown): void }) => unknown): void } }).router;
    router.bind('get /security-probe/server-error', (_req, res) => res.serverError(new Error('boom in /work/secret/file.js:12')));
    router.bind('get /security-probe/throws', () => {
      throw new Error('thrown in /work/secret/file.js:13');
    });
    router.bind('get /security-probe/rejects', async () => {
      throw new Error('rejected in /work/secret/file.js:14');
    });
    const log = (fund.app as unknown as { log: { error: (...args: unknown[]) => void } }).log;
    const original = log.error;
    const logged: unknown[][] = [];
    log.error = (...args: unknown[]) => void logged.push(args);
    try {
      for (const url of ['/security-probe/server-error', '/security-probe/throws', '/security-probe/rejects']) {
        const res = await fund.http().get(url);
        expectError(res, 500, 'internal');
        expect((res.body as { error: { message: string } }).error.message).to.equal('internal error');
      }
    } finally {
      log.error = original;
    }
    // The detail is logged, not answered.
    const messages = logged.map((args) => args.map((arg) => (arg instanceof Error ? arg.message : String(arg))).join(' '));
    for (const what of ['boom', 'thrown', 'rejected']) expect(messages.some((message) => message.includes(`${what} in /work/secret/file.js`)), messages.join('\n')).to.equal(true);
  });

  it('item 4: references are checked: a loan on a missing platform or on an investor is refused with nothing written; a referenced platform cannot be destroyed', async function () {
    const investor = await created('investor', { name: 'Ref' });
    const platform = await created('platform', { name: 'RefPlatform' });
    const before = await counts();
    const loan = { borrower: 'b', target: 1000, rateBps: 500, termMonths: 12 };
    const missing = await call('readwrite', 'post', '/api/loan', { ...loan, platform: 'no-such-platform' });
    expectError(missing, 409, 'reference_not_found');
    expect((missing.body as { error: { path?: string } }).error.path).to.equal('body.platform');
    const wrongModel = await call('readwrite', 'post', '/api/loan', { ...loan, platform: investor.id });
    expectError(wrongModel, 409, 'reference_not_found');
    const batch = await call('readwrite', 'post', '/api/transaction', { ops: [{ op: 'create', model: 'loan', values: { ...loan, platform: 'no-such-platform' } }] });
    expectError(batch, 409, 'reference_not_found');
    // The engine itself (what the app's own endpoints use): batch and interactive.
    let thrown: unknown;
    try {
      await engine().batch([{ op: 'create', model: 'order', values: { investor: 'no-such-investor', amount: 5, funding: 'cash', status: 'allocated' } }]);
    } catch (err) {
      thrown = err;
    }
    expect((thrown as { code?: string }).code).to.equal('reference_not_found');
    thrown = undefined;
    try {
      await engine().interactive(async (tx) => tx.create('loan', { ...loan, platform: investor.id as string }));
    } catch (err) {
      thrown = err;
    }
    expect((thrown as { code?: string }).code).to.equal('reference_not_found');
    expect(await counts()).to.deep.equal(before);

    // A loan on the platform, funded by a cash order: the platform is referenced and stays.
    const good = await created('loan', { ...loan, platform: platform.id });
    await engine().batch([{ op: 'increment', model: 'investor', id: investor.id as string, field: 'cash', by: 500 }]);
    const order = await call('readwrite', 'post', '/api/order', { investor: investor.id, amount: 300, funding: 'cash' });
    expect(order.status, order.text).to.equal(201);
    const afterOrder = await counts();
    const destroy = await call('readwrite', 'delete', `/api/platform/${platform.id as string}`);
    expectError(destroy, 409, 'referenced');
    thrown = undefined;
    try {
      await engine().batch([{ op: 'destroy', model: 'platform', id: platform.id as string }]);
    } catch (err) {
      thrown = err;
    }
    expect((thrown as { code?: string }).code).to.equal('referenced');
    expect(await counts()).to.deep.equal(afterOrder);
    expect(await model('platform').findOne({ id: platform.id })).to.include({ name: 'RefPlatform' });
    expect(await model('loan').findOne({ id: good.id })).to.include({ platform: platform.id });
    // An unreferenced platform can still be destroyed; a reference to a document created in the same batch holds.
    const lonely = await created('platform', { name: 'Lonely' });
    const gone = await call('readwrite', 'delete', `/api/platform/${lonely.id as string}`);
    expect(gone.status, gone.text).to.equal(200);
    const together = await call('readwrite', 'post', '/api/transaction', {
      ops: [
        { op: 'create', model: 'platform', id: 'p-together', values: { name: 'Together' } },
        { op: 'create', model: 'loan', values: { ...loan, platform: 'p-together' } },
      ],
    });
    expect(together.status, together.text).to.equal(201);
  });

  it('item 4: a destroy racing references to the same platform never leaves a dangling reference (either the destroy or the references are refused)', async function () {
    const loan = { borrower: 'race', target: 1000, rateBps: 1, termMonths: 1 };
    for (let round = 0; round < 6; round++) {
      const platform = (await created('platform', { name: `Race ${round}` })).id as string;
      const writes = [
        engine().batch([{ op: 'create', model: 'loan', values: { ...loan, platform } }]),
        engine().interactive(async (tx) => tx.create('loan', { ...loan, platform })),
        engine().batch([{ op: 'destroy', model: 'platform', id: platform }]),
      ];
      const results = await Promise.allSettled(writes);
      for (const result of results) {
        if (result.status === 'rejected') expect((result.reason as { code?: string }).code, String(result.reason)).to.be.oneOf(['referenced', 'reference_not_found']);
      }
      const exists = (await model('platform').findOne({ id: platform })) !== undefined;
      const loans = await model('loan').count({ platform });
      expect(exists || loans === 0, `round ${round}: platform ${exists ? 'kept' : 'gone'}, ${loans} loans on it`).to.equal(true);
      expect(results[2].status === 'fulfilled', `round ${round}: the destroy succeeded exactly when no loan was created`).to.equal(loans === 0);
    }
  });

  it('item 6: hidden fields (password hashes) are never usable in where, sort, select or as a parameter', async function () {
    const probes = [
      '/api/user?where={"username":"readonly-user","passwordHash":{"startsWith":"scrypt$"}}',
      '/api/user?where={"passwordHash":{"!=":null}}',
      '/api/user?where={"or":[{"passwordHash":{">":"a"}}]}',
      '/api/user?passwordHash=x',
      '/api/user?sort=passwordHash%20ASC',
      '/api/user?sort={"passwordHash":1}',
      '/api/user?select=passwordHash',
    ];
    const failures: string[] = [];
    for (const url of probes) {
      const res = await call('admin', 'get', url);
      try {
        expectError(res, 400, 'hidden_attribute');
      } catch {
        failures.push(`${url} → ${res.status} ${res.text.slice(0, 200)}`);
      }
    }
    expect(failures, failures.join('\n')).to.deep.equal([]);
    const list = await call('admin', 'get', '/api/user');
    expect(list.status).to.equal(200);
    expect(list.text).not.to.contain('passwordHash');
    expect(list.text).not.to.contain('scrypt');
  });

  it('item 8: refused actions write nothing, log included (an admin resolve of a missing order, a refused reversal)', async function () {
    const me = { id: 'admin-id', username: 'root', role: 'admin' } as const;
    const before = await counts();
    let thrown: unknown;
    try {
      await resolveItem(asFund(fund.app), 'order', 'no-such-order', me, 'probe');
    } catch (err) {
      thrown = err;
    }
    expect(isTransactError(thrown, 'conflict'), String(thrown)).to.equal(true);
    expect(FUND_REGISTRY.statusOf('conflict')).to.equal(409);
    expect(await counts()).to.deep.equal(before);

    // A transfer's reversal is fine (Transfer has reverseCreate); an allocation's is irreversible.
    const investor = await created('investor', { name: 'Irreversible' });
    const created_ = await engine().batch([{ op: 'create', model: 'ledgerentry', values: { entry: 'e1', investor: investor.id, account: 'cash', amount: 0 } }]);
    const mid = await counts();
    const refused = await call('admin', 'post', `/api/transaction/${created_.id}/reverse`, { reason: 'probe' });
    expectError(refused, 409, 'irreversible');
    expect(await counts()).to.deep.equal(mid);
    expect((await engine().getLog(created_.id))?.reversedBy).to.equal(null);
    // A transaction that read, wrote nothing and failed leaves no log either.
    thrown = undefined;
    try {
      await engine().interactive(async (tx) => {
        await tx.read('investor', investor.id as string);
        throw new Error('changed my mind');
      });
    } catch (err) {
      thrown = err;
    }
    expect((thrown as Error).message).to.equal('changed my mind');
    expect(await counts()).to.deep.equal(mid);
  });

  it('item 9: every error answers {"error": {code, message}}: probes of policies, unknown routes, bad bodies, methods', async function () {
    const probes: [Role | null, 'get' | 'post' | 'patch' | 'delete', string, unknown, number][] = [
      ['readonly', 'get', '/api/token', undefined, 403],
      ['admin', 'get', '/api/token', undefined, 403],
      ['readonly', 'get', '/api/token/x', undefined, 403],
      ['readonly', 'get', '/api/user', undefined, 403],
      [null, 'get', '/api/investor', undefined, 401],
      ['readonly', 'post', '/api/investor', { name: 'x' }, 403],
      ['readonly', 'get', '/api/transactlog', undefined, 403],
      ['readonly', 'get', '/api/no/such/route', undefined, 404],
      ['readwrite', 'post', '/api/no-such-model', { a: 1 }, 404],
      ['readwrite', 'delete', '/api/investor/x', undefined, 405],
      ['readonly', 'get', '/api/investor?where={"name":{"contains":"x"}}', undefined, 400],
      ['readwrite', 'patch', '/api/investor/x', { name: 'y', extra: 1 }, 400],
      ['readwrite', 'post', '/api/auth/login', { username: 1 }, 400],
    ];
    const failures: string[] = [];
    for (const [role, method, url, body, status] of probes) {
      const res = await call(role, method, url, body);
      try {
        expectError(res, status);
      } catch {
        failures.push(`${method} ${url} → ${res.status} ${res.get('content-type')} ${res.text.slice(0, 200)}`);
      }
    }
    const malformed = await fund.http().post('/api/investor').set('Authorization', fund.auth('readwrite')).set('Content-Type', 'application/json').send('{"name": ');
    try {
      expectError(malformed, 400);
    } catch {
      failures.push(`malformed JSON → ${malformed.status} ${malformed.text.slice(0, 200)}`);
    }
    expect(failures, failures.join('\n')).to.deep.equal([]);
  });
});
