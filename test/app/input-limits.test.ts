/**
 * Input limits and malformed input over HTTP (issue 19, items 6, 7, 8, 10), on the fund app per
 * adapter: every refusal is a 4xx in the one JSON error shape, leaks nothing, and writes nothing
 * (the log included: the database is counted afterwards).
 */
import { expect } from 'chai';
import type { Response, Test } from 'supertest';
import { ADMIN, type FundApp, liftFund, lowerFund, type Role } from '../support/http';
import { forEachAdapter } from '../support/targets';

type Doc = Record<string, unknown>;

const LEAKS = /\bat [\w.<>]+ \(|node_modules|\/work\/|\.js:\d+|\.ts:\d+|E_[A-Z_]+|stack/i;

function nested(levels: number, leaf: unknown = 1): unknown {
  let value: unknown = leaf;
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

function depthOf(value: unknown): number {
  let depth = 0;
  let current = value;
  while (current !== null && typeof current === 'object') {
    depth++;
    current = (current as Doc).a;
  }
  return depth;
}

forEachAdapter('input limits over HTTP', (target) => {
  let fund: FundApp;
  before(async function () {
    fund = await liftFund(target());
  });
  after(async function () {
    await lowerFund(fund);
  });

  const model = (identity: string) => fund.app.models[identity];

  function call(role: Role | null, method: 'get' | 'post' | 'patch', url: string, body?: unknown): Test {
    let req = fund.http()[method](url);
    if (role !== null) req = req.set('Authorization', fund.auth(role));
    return body === undefined ? req : req.send(body as object);
  }

  function expectError(res: Response, status: number, code: string, path?: string): void {
    const what = `${res.status} ${res.get('content-type')} ${res.text.slice(0, 300)}`;
    expect(res.status, what).to.equal(status);
    expect(res.get('content-type'), what).to.match(/^application\/json/);
    const body = res.body as { error: { code: string; path?: string } };
    expect(body.error?.code, what).to.equal(code);
    if (path !== undefined) expect(body.error.path, what).to.equal(path);
    expect(res.text, what).not.to.match(LEAKS);
  }

  async function counts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const identity of ['investor', 'account', 'user', 'transactlog', 'transactlock']) out[identity] = await model(identity).count({});
    return out;
  }

  async function account(): Promise<Doc> {
    const res = await call('readwrite', 'post', '/api/account', { owner: 'Deep' });
    expect(res.status, res.text).to.equal(201);
    return res.body as Doc;
  }

  it('item 6: PATCH with meta nested past 32 levels answers 400 on body.meta and logs nothing; 32 levels are stored', async function () {
    const { id } = await account();
    const before = await counts();
    for (const levels of [33, 1_400, 1_600, 2_250, 3_000]) {
      expectError(await call('readwrite', 'patch', `/api/account/${id as string}`, { meta: nested(levels) }), 400, 'validation_failed', 'body.meta');
    }
    expectError(await call('readwrite', 'patch', `/api/account/${id as string}`, { meta: { text: 'x'.repeat(70 * 1024) } }), 400, 'validation_failed', 'body.meta');
    expect(await counts()).to.deep.equal(before);
    const ok = await call('readwrite', 'patch', `/api/account/${id as string}`, { meta: nested(32) });
    expect(ok.status, ok.text).to.equal(200);
    expect(depthOf((ok.body as Doc).meta)).to.equal(32);
  });

  it('item 6: an account whose meta was stored deep before the limits existed is still read, listed and updated', async function () {
    const { id } = await account();
    // Written past the engine, as deep as the engine stored before its bounds (MongoDB itself stores 100 levels at most).
    const levels = target().adapter === 'mongo' ? 95 : 1_400;
    await (model('account') as unknown as { updateOne(c: Doc): { set(v: Doc): Promise<unknown> } }).updateOne({ id }).set({ meta: nested(levels) });
    const one = await call('readonly', 'get', `/api/account/${id as string}`);
    expect(one.status, one.text.slice(0, 200)).to.equal(200);
    expect(depthOf((one.body as Doc).meta)).to.equal(levels);
    expect((await call('readonly', 'get', '/api/account?limit=100')).status).to.equal(200);
    const renamed = await call('readwrite', 'patch', `/api/account/${id as string}`, { owner: 'Renamed' });
    expect(renamed.status, renamed.text.slice(0, 300)).to.equal(200);
    expect((await model('account').findOne({ id }))?.owner).to.equal('Renamed');
  });

  it('item 7: malformed criteria answer 400 with a code, never 500, and write nothing', async function () {
    const before = await counts();
    let or: unknown = { cash: 0 };
    for (let i = 0; i < 500; i++) or = { or: [or] };
    let and: unknown = { cash: 0 };
    for (let i = 0; i < 200; i++) and = { and: [and] };
    for (const where of [{ cash: { in: [0, 'a', null, true] } }, { createdAt: { '>': '2020-01-01' } }, or, and, { or: [null] }, { name: 5 }]) {
      expectError(await call('readonly', 'get', `/api/investor?where=${encodeURIComponent(JSON.stringify(where))}`), 400, 'validation_failed');
    }
    expect(await counts()).to.deep.equal(before);
  });

  it('item 7: or:[null] no longer matches every row', async function () {
    await call('readwrite', 'post', '/api/investor', { name: 'Someone' }).expect(201);
    const res = await call('readonly', 'get', `/api/investor?where=${encodeURIComponent('{"or":[null]}')}`);
    expectError(res, 400, 'validation_failed', 'where.or.0');
  });

  it('item 8: limit is at most 1000, refused above (as skip is above 10,000)', async function () {
    expectError(await call('readonly', 'get', '/api/investor?limit=9007199254740991'), 400, 'validation_failed', 'limit');
    expectError(await call('readonly', 'get', '/api/investor?limit=1001'), 400, 'validation_failed', 'limit');
    expect((await call('readonly', 'get', '/api/investor?limit=1000')).status).to.equal(200);
  });

  it('item 10: a path that is not percent-encoding answers a JSON 400', async function () {
    expectError(await call('readonly', 'get', '/api/investor/%ZZ'), 400, 'validation_failed', 'path');
  });

  it('item 10: at=2026-02-30 is refused, not read as 2026-03-02', async function () {
    const { id } = await account();
    expectError(await call('readonly', 'get', `/api/history/account/${id as string}?at=2026-02-30`), 400, 'validation_failed');
    expectError(await call('readonly', 'get', `/api/transaction?from=2026-04-31`), 400, 'validation_failed');
    expect((await call('readonly', 'get', `/api/history/account/${id as string}?at=2026-02-28T12:00:00Z`)).status).to.equal(200);
  });

  it('item 10: __proto__, constructor and prototype keys in a body are refused, nothing written', async function () {
    const { id } = await account();
    const before = await counts();
    for (const [raw, path] of [['{"name":"Proto","__proto__":{"admin":true}}', 'body.__proto__'], ['{"name":"Proto","constructor":{"prototype":{"x":1}}}', 'body.constructor'], ['{"name":"Proto","meta":[{"prototype":1}]}', 'body.meta.0.prototype']]) {
      const res = await call('readwrite', 'post', '/api/investor').set('Content-Type', 'application/json').send(raw);
      expectError(res, 400, 'validation_failed', path);
    }
    const patch = await call('readwrite', 'patch', `/api/account/${id as string}`).set('Content-Type', 'application/json').send('{"meta":{"__proto__":{"polluted":1}}}');
    expectError(patch, 400, 'validation_failed', 'body.meta.__proto__');
    const deposit = await call('readwrite', 'post', '/api/deposit').set('Content-Type', 'application/json').send('{"investor":"x","amount":100,"__proto__":{"amount":1}}');
    expectError(deposit, 400, 'validation_failed', 'body.__proto__');
    expect(await counts()).to.deep.equal(before);
  });

  it('item 10: usernames are unique whatever their case', async function () {
    const before = await counts();
    for (const username of [ADMIN.username.toUpperCase(), 'READONLY-user', 'Monitor-User']) {
      expectError(await call('admin', 'post', '/api/user', { username, password: 'a-long-enough-password', role: 'readonly' }), 409, 'already_exists', 'body.username');
    }
    expect(await counts()).to.deep.equal(before);
  });

  it('item 10: the admin login form compares the Origin\'s port, not only its host', async function () {
    const agent = fund.http();
    const form = await agent.get('/admin/login').set('Host', 'fund.example:8443').expect(200);
    const _csrf = (/name="_csrf" value="([^"]+)"/.exec(form.text) as RegExpExecArray)[1];
    const otherPort = await agent.post('/admin/login').set('Host', 'fund.example:8443').set('Origin', 'http://fund.example:3000').type('form').send({ ...ADMIN, _csrf }).redirects(0);
    expect(otherPort.status, otherPort.text.slice(0, 200)).to.equal(403);
    const sameOrigin = await agent.post('/admin/login').set('Host', 'fund.example:8443').set('Origin', 'http://fund.example:8443').type('form').send({ ...ADMIN, _csrf }).redirects(0);
    expect(sameOrigin.status, sameOrigin.text.slice(0, 200)).to.equal(302);
  });
});
