/**
 * Several app instances on one database: all state (log, locks, leases) lives in the datastore.
 * Two real processes run transfers against the same accounts while this process runs its own
 * recovery timer; one of them is killed (SIGKILL) in the middle of a transaction. Its
 * unfinished transactions are each claimed by exactly one surviving instance, and afterwards the
 * money adds up (each applied exactly once: the ledger). sails-disk is single-process and is not
 * part of this suite.
 */
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { type LoadedApp, loadApp, lowerApp } from '../../support/app';
import { runChild } from '../../support/child';
import { checkLedger, LOAD_ACCOUNTS, seedLoadAccounts, START_BALANCE } from '../../support/load';
import { forEachAdapter, forEachPath, freshTarget, protocolConfig } from '../../support/targets';
import request from 'supertest';
import { ADMIN } from '../../support/http';
import { type Server, dropRedisKeys, redisKeys, redisPrefix, startServer, TEST_REDIS_URL } from '../../support/server';

forEachPath('several instances, one killed mid-load', (target, adapter, protocol) => {
  if (adapter === 'disk') return;
  // Leases long enough that the survivor keeps its own under two loaded processes on FerretDB
  // (losing them there would be safe, but is not what this test is about).
  const env = { TRANSACT_PROTOCOL: protocol, CHILD_LEASE_MS: '3000' };
  let app: LoadedApp;

  before(async function () {
    app = await loadApp(target(), { migrate: 'drop', transact: { leaseMs: 3000, clockSkewMs: 0, recoveryIntervalMs: 150, instanceId: 'observer', ...protocolConfig(protocol) } });
    await seedLoadAccounts(app);
  });
  after(async function () {
    if (app !== undefined) await lowerApp(app);
  });

  it('recovers the killed instance\'s transactions exactly once each, and the money adds up', async function () {
    this.timeout(300_000);
    const [killed, survivor] = await Promise.all([
      runChild(target(), ['load', '200'], 'batch:applied#25', { ...env, TRANSACT_INSTANCE: 'instance-a' }),
      runChild(target(), ['load', '60'], undefined, { ...env, TRANSACT_INSTANCE: 'instance-b' }),
    ]);
    expect(killed.signal, killed.stderr).to.equal('SIGKILL');
    expect(killed.lines.has('LOADED'), 'instance a died mid-load').to.equal(false);
    expect(survivor.code, survivor.stderr).to.equal(0);
    expect(JSON.parse(survivor.lines.get('LOADED') as string).otherErrors).to.deep.equal([]);

    const deadline = Date.now() + 20_000;
    let ledger = await checkLedger(app);
    while ((ledger.activeLogs > 0 || ledger.locks > 0) && Date.now() < deadline) {
      await sleep(100);
      ledger = await checkLedger(app);
    }
    const logs = await app.models.transactlog.find({});
    const recovered = logs.filter((log) => (log.recoveries as number) > 0);
    console.log(`      [${adapter}] ${logs.length} transactions, ${recovered.length} recovered: ${recovered.map((log) => `${String(log.owner).split('#')[0]}→${log.state}`).join(', ')}`);
    // On the native path PostgreSQL rolled the killed transaction back itself: nothing to recover.
    if (protocol === 'log') expect(recovered.length, 'the transaction instance a died in').to.be.at.least(1);
    else expect(recovered.length).to.equal(0);
    for (const log of recovered) {
      // Each claim takes the next epoch; a second one is a takeover of a claimer whose lease
      // lapsed (a recoverer slowed past its lease on a loaded FerretDB: seen in CI), fenced out
      // from then on. Exactly once is the effect, checked by the ledger below.
      expect(Number(log.epoch), `${log.id}: each claim at an epoch of its own`).to.be.at.least(log.recoveries as number);
      expect(String(log.owner)).to.match(/^(instance-b|observer)#/);
      expect(log.state).to.equal('rolled-back');
    }
    expect(ledger.activeLogs).to.equal(0);
    expect(ledger.locks).to.equal(0);
    expect(ledger.sum).to.equal(LOAD_ACCOUNTS.length * START_BALANCE);
    expect(ledger.negative).to.deep.equal([]);
    expect(ledger.unmatched).to.equal(0);
    expect(ledger.mismatched).to.deep.equal([]);
  });
});

describe('sails-disk is single-process', function () {
  it('warns at start when another live process already uses the same sails-disk directory', async function () {
    const target = await freshTarget('disk');
    const first = await loadApp(target, { migrate: 'drop' });
    try {
      const second = await runChild(target, ['recover'], undefined, { SAILS_LOG_LEVEL: 'warn' });
      expect(second.code, second.stderr).to.equal(0);
      expect(second.stdout + second.stderr).to.match(/process \d+ also uses the sails-disk directory .*single-process/);
    } finally {
      await lowerApp(first);
    }
    const alone = await runChild(target, ['recover'], undefined, { SAILS_LOG_LEVEL: 'warn' });
    expect(alone.code, alone.stderr).to.equal(0);
    expect(alone.stdout + alone.stderr).to.not.match(/also uses the sails-disk directory/);
  });
});

/**
 * Two instances behind one load balancer: admin sessions and login limits live in Redis
 * (REDIS_URL), so an instance serves any session and failed logins count once whichever instance
 * a request reaches. Real processes (`node app.js`), one database, one Redis under a prefix of
 * this run's own. On PostgreSQL only: what is shared here is in Redis, not in the datastore (the
 * login's user lookup is the same on every adapter, tested in login-security.test.ts).
 */
forEachAdapter('two instances share admin sessions and login limits (Redis)', (target, adapter) => {
  if (adapter !== 'postgresql') return;
  const prefix = redisPrefix();
  let a: Server | undefined;
  let b: Server | undefined;
  before(async function () {
    this.timeout(120_000);
    const env = {
      NODE_ENV: 'test',
      DATASTORE: adapter,
      PG_URL: target().location,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_PREFIX: prefix,
      TRUST_PROXY: 'loopback',
      LOGIN_LIMIT_PER_ADDRESS: '10',
      TRANSACT_ADMIN_USER: ADMIN.username,
      TRANSACT_ADMIN_PASSWORD: ADMIN.password,
    };
    a = await startServer(env); // creates the schema and the administrator
    b = await startServer({ ...env, sails_models__migrate: 'safe' });
  });
  after(async function () {
    this.timeout(30_000);
    await Promise.all([a?.stop(), b?.stop()]);
    await dropRedisKeys(prefix);
  });

  const sessionCookie = (res: request.Response): string => {
    const cookies = (res.headers['set-cookie'] as unknown as string[] | undefined) ?? [];
    const found = cookies.find((c) => c.startsWith('fund.admin.sid='));
    expect(found, `a session cookie in ${JSON.stringify(cookies)}`).to.be.a('string');
    return (found as string).split(';')[0];
  };
  const csrfOf = (html: string): string => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

  it('a session made on one instance works on the other, and signing out on one ends it on both', async function () {
    this.timeout(30_000);
    const [A, B] = [request((a as Server).base), request((b as Server).base)];
    // the form from A, posted to B (its CSRF token is in the session, so in Redis)
    const form = await A.get('/admin/login').expect(200);
    const anonymous = sessionCookie(form);
    const signIn = await B.post('/admin/login').set('Cookie', anonymous).type('form').send({ ...ADMIN, _csrf: csrfOf(form.text) }).redirects(0);
    expect(signIn.status, signIn.text).to.equal(302);
    const cookie = sessionCookie(signIn);
    for (const [name, server] of [['A', A], ['B', B]] as const) {
      const page = await server.get('/admin').set('Cookie', cookie).redirects(0);
      expect(page.status, `signed in on ${name}`).to.equal(200);
      expect(page.text).to.match(/id="role">admin</);
    }
    expect((await redisKeys(prefix)).filter((key) => key.startsWith(`${prefix}sess:`)).length, 'sessions are in Redis').to.be.at.least(1);
    const dashboard = await A.get('/admin').set('Cookie', cookie).expect(200);
    await A.post('/admin/logout').set('Cookie', cookie).type('form').send({ _csrf: csrfOf(dashboard.text) }).redirects(0).expect(302);
    const after = await B.get('/admin').set('Cookie', cookie).redirects(0);
    expect(after.status, 'signed out on B too').to.equal(302);
  });

  it('counts failed logins across both instances: per username, and per address over many usernames', async function () {
    this.timeout(60_000);
    const servers = [request((a as Server).base), request((b as Server).base)];
    const login = (i: number, address: string, username: string, password = 'a-wrong-password') => servers[i % 2].post('/api/auth/login').set('X-Forwarded-For', address).send({ username, password });
    // one username, each attempt from its own address, alternating instances
    const perUser: number[] = [];
    for (let i = 0; i < 7; i++) perUser.push((await login(i, `198.19.0.${i + 1}`, ADMIN.username)).status);
    expect(perUser, 'the 6th attempt, whichever instance').to.deep.equal([401, 401, 401, 401, 401, 429, 429]);
    // one address, a new username each time, alternating instances
    const perAddress: number[] = [];
    for (let i = 0; i < 12; i++) perAddress.push((await login(i, '198.19.1.1', `nobody-${i}`)).status);
    expect(perAddress.filter((s) => s === 401).length, 'LOGIN_LIMIT_PER_ADDRESS=10').to.equal(10);
    expect(perAddress.slice(10)).to.deep.equal([429, 429]);
    // 20 guesses at once, split over both instances: the check-and-count is atomic in Redis
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => login(i, `198.19.2.${i + 1}`, 'burst-target').then((res) => res.status)));
    expect(burst.filter((s) => s === 401).length, 'checked, of 20 concurrent guesses on both instances').to.equal(5);
    expect(burst.filter((s) => s === 429).length).to.equal(15);
    const limited = await login(1, '198.19.1.1', 'nobody-else').expect(429);
    expect(limited.body.error.code).to.equal('rate_limited');
    expect(limited.headers['retry-after']).to.match(/^\d+$/);
  });
});
