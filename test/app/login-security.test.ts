/**
 * The login as an attacker meets it (issue 12, items 1, 5, 7): one set of limits for the API and
 * the admin form, per username and per address, that guessing spread over usernames, a correct
 * login to one's own account in between, concurrency or the other login path do not get around;
 * the same work for an unknown username as for a wrong password; security headers on every
 * response; no login from another site. The app trusts the loopback proxy here, so each test
 * speaks from its own address (X-Forwarded-For) and starts with fresh counters.
 */
import { performance } from 'node:perf_hooks';
import { expect } from 'chai';
import type request from 'supertest';
import { type FundApp, liftFund, lowerFund, ADMIN } from '../support/http';
import { forEachAdapter } from '../support/targets';

const OWN = { username: 'readonly-user', password: 'password-of-readonly-user' };
let nextAddress = 0;
/** An address of its own (198.18.0.0/15, for tests) for each caller. */
const newAddress = (): string => {
  const n = nextAddress++;
  return `198.18.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
};

/** The admin form's CSRF token, read from the form an agent just fetched ('' if it has none). */
async function formToken(agent: request.Agent, address: string): Promise<string> {
  const form = await agent.get('/admin/login').set('X-Forwarded-For', address).expect(200);
  const match = /name="_csrf" value="([^"]+)"/.exec(form.text);
  return match === null ? '' : match[1];
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

forEachAdapter('login limits, timing, headers and login CSRF', (target) => {
  let fund: FundApp;
  before(async function () {
    fund = await liftFund(target(), { http: { trustProxy: 'loopback' } });
  });
  after(async function () {
    await lowerFund(fund);
  });

  const apiLogin = (address: string, username: string, password: string) => fund.http().post('/api/auth/login').set('X-Forwarded-For', address).send({ username, password });

  /** A form login by a fresh browser (its own cookie jar), as the form sends it. */
  async function formLogin(address: string, username: string, password: string): Promise<request.Response> {
    const agent = fund.http();
    const _csrf = await formToken(agent, address);
    return agent.post('/admin/login').set('X-Forwarded-For', address).type('form').send({ username, password, _csrf }).redirects(0);
  }

  it('limits one address guessing over many usernames, and a correct login to its own account in between does not reset it', async function () {
    this.timeout(60_000);
    const address = newAddress();
    const wrong: number[] = [];
    let ownLogins = 0;
    for (let i = 0; i < 100; i++) {
      if (i > 0 && i % 25 === 0) ownLogins += (await apiLogin(address, OWN.username, OWN.password)).status === 200 ? 1 : 0;
      wrong.push((await apiLogin(address, `victim-${i}`, 'a-guess')).status);
    }
    expect(ownLogins, 'the first own login, before the limit, still works').to.equal(1);
    expect(wrong.filter((s) => s === 401).length, 'guesses checked').to.equal(30);
    expect(wrong.slice(30).every((s) => s === 429), 'every guess after the 30th refused').to.equal(true);
    const refused = await apiLogin(address, 'victim-x', 'a-guess').expect(429);
    expect(refused.body.error.code).to.equal('rate_limited');
    expect(Number(refused.headers['retry-after'])).to.be.within(1, 60);
  });

  it('does not let the admin form log in from an address the API blocks', async function () {
    this.timeout(60_000);
    const address = newAddress();
    for (let i = 0; i < 30; i++) await apiLogin(address, `guess-target-${i}`, 'a-guess').expect(401);
    await apiLogin(address, 'guess-target-x', 'a-guess').expect(429);
    const form = await formLogin(address, ADMIN.username, ADMIN.password);
    expect(form.status, 'the right password on the form, from the blocked address').to.equal(429);
    expect(Number(form.headers['retry-after'])).to.be.within(1, 60);
  });

  it('counts one username\'s failures once for the API and the admin form together, from any address', async function () {
    this.timeout(30_000);
    const user = { username: 'limit-victim', password: 'the-victims-long-password' };
    await fund.http().post('/api/user').set('Authorization', fund.auth('admin')).send({ ...user, role: 'readonly' }).expect(201);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await apiLogin(newAddress(), user.username, `guess-${i}`)).status);
    for (let i = 0; i < 2; i++) statuses.push((await formLogin(newAddress(), user.username, `guess-form-${i}`)).status);
    expect(statuses).to.deep.equal([401, 401, 401, 401, 401]);
    expect((await formLogin(newAddress(), user.username, 'guess-6')).status, 'the 6th guess, on the form').to.equal(429);
    const api = await apiLogin(newAddress(), user.username, user.password);
    expect(api.status, 'the 7th, on the API, even with the right password').to.equal(429);
    expect(api.headers['retry-after']).to.match(/^\d+$/);
  });

  it('checks no more than the limit when the guesses arrive at once', async function () {
    this.timeout(30_000);
    const username = 'monitor-user';
    const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => apiLogin(newAddress(), username, `parallel-guess-${i}`).then((res) => res.status)));
    expect(statuses.filter((s) => s === 401).length, 'checked').to.equal(5);
    expect(statuses.filter((s) => s === 429).length, 'refused unchecked').to.equal(15);
  });

  it('takes as long for an unknown username as for a known one with a wrong password', async function () {
    this.timeout(60_000);
    // known users: each tried fewer times than its limit; every attempt from its own address
    const known = ['readwrite-user', 'timing-a', 'timing-b', 'timing-c'];
    for (const username of known.slice(1)) {
      await fund.http().post('/api/user').set('Authorization', fund.auth('admin')).send({ username, password: 'a-long-enough-password', role: 'readonly' }).expect(201);
    }
    const timed = async (username: string): Promise<number> => {
      const started = performance.now();
      await apiLogin(newAddress(), username, 'not-the-password').expect(401);
      return performance.now() - started;
    };
    await timed('warm-up-unknown');
    await timed(known[0]);
    const unknownMs: number[] = [];
    const knownMs: number[] = [];
    for (let i = 0; i < 12; i++) {
      knownMs.push(await timed(known[i % known.length]));
      unknownMs.push(await timed(`nobody-${i}`));
    }
    const [u, k] = [median(unknownMs), median(knownMs)];
    console.log(`      median login: unknown user ${u.toFixed(1)} ms, known user with a wrong password ${k.toFixed(1)} ms`);
    expect(u / k, `unknown ${u.toFixed(1)} ms vs known ${k.toFixed(1)} ms`).to.be.within(0.6, 1.7);
  });

  it('sends the security headers on admin pages, API answers and errors, and no X-Powered-By', async function () {
    const responses = await Promise.all([
      fund.http().get('/admin/login'),
      fund.http().get('/admin').redirects(0),
      fund.http().get('/admin/assets/admin.css'),
      fund.http().get('/api/health'),
      fund.http().get('/api/investor'),
      fund.http().get('/api/investor').set('Authorization', fund.auth('readonly')),
      fund.http().get('/no/such/page'),
      fund.http().post('/api/auth/login').set('Content-Type', 'application/json').send('{bad json'),
    ]);
    for (const res of responses) {
      const { method, path } = (res as unknown as { req: { method: string; path: string } }).req;
      const where = `${method} ${path} → ${res.status}`;
      expect(res.headers['content-security-policy'], where).to.include("frame-ancestors 'none'").and.include("default-src 'none'").and.not.include('unsafe-inline');
      expect(res.headers['x-frame-options'], where).to.equal('DENY');
      expect(res.headers['x-content-type-options'], where).to.equal('nosniff');
      expect(res.headers['referrer-policy'], where).to.equal('no-referrer');
      expect(res.headers['x-powered-by'], where).to.equal(undefined);
      expect(res.headers['strict-transport-security'], `${where}: HSTS only in production`).to.equal(undefined);
    }
    expect(responses.map((r) => r.status)).to.deep.equal([200, 302, 200, 200, 401, 200, 404, 400]);
  });

  it('refuses a login from another site (login CSRF) and makes no session', async function () {
    this.timeout(30_000);
    const address = newAddress();
    const signedIn = async (agent: request.Agent): Promise<boolean> => (await agent.get('/admin').set('X-Forwarded-For', address).redirects(0)).status === 200;
    // a form on another site posting the attacker's credentials: no token, its own Origin
    const attacker = fund.http();
    const forged = await attacker.post('/admin/login').set('X-Forwarded-For', address).set('Origin', 'http://evil.example').type('form').send(ADMIN).redirects(0);
    expect(forged.status).to.equal(403);
    expect(forged.headers['set-cookie'], 'no session cookie').to.equal(undefined);
    expect(await signedIn(attacker)).to.equal(false);
    // no Origin at all (an old browser, curl) and no token
    const bare = fund.http();
    expect((await bare.post('/admin/login').set('X-Forwarded-For', address).type('form').send(ADMIN).redirects(0)).status).to.equal(403);
    expect(await signedIn(bare)).to.equal(false);
    // a valid token, but the browser says the request comes from another site
    const crossSite = fund.http();
    const _csrf = await formToken(crossSite, address);
    expect((await crossSite.post('/admin/login').set('X-Forwarded-For', address).set('Sec-Fetch-Site', 'cross-site').type('form').send({ ...ADMIN, _csrf }).redirects(0)).status).to.equal(403);
    expect(await signedIn(crossSite)).to.equal(false);
    // a valid token, no Sec-Fetch-Site (an older browser), an Origin naming another host
    const oldBrowser = fund.http();
    const token2 = await formToken(oldBrowser, address);
    expect((await oldBrowser.post('/admin/login').set('X-Forwarded-For', address).set('Origin', 'http://evil.example').type('form').send({ ...ADMIN, _csrf: token2 }).redirects(0)).status).to.equal(403);
    expect(await signedIn(oldBrowser)).to.equal(false);
    // the form itself, same origin: signed in
    const browser = fund.http();
    const token = await formToken(browser, address);
    expect(token, 'the login form carries a CSRF token').to.not.equal('');
    const port = String((fund.app as unknown as { config: { port: number } }).config.port);
    const ok = await browser.post('/admin/login').set('X-Forwarded-For', address).set('Origin', `http://127.0.0.1:${port}`).set('Sec-Fetch-Site', 'same-origin').type('form').send({ ...ADMIN, _csrf: token }).redirects(0);
    expect(ok.status, ok.text).to.equal(302);
    expect(await signedIn(browser)).to.equal(true);
  });
});
