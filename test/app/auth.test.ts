/**
 * Users, roles and tokens over HTTP: login, hashed passwords, expiring random tokens, a login
 * rate limit, and each role refused what it may not do.
 */
import { expect } from 'chai';
import { type FundApp, liftFund, lowerFund, ADMIN, type Role } from '../support/http';
import { forEachAdapter } from '../support/targets';

forEachAdapter('auth and roles over HTTP', (target) => {
  let fund: FundApp;
  before(async function () {
    fund = await liftFund(target());
  });
  after(async function () {
    await lowerFund(fund);
  });

  it('logs in with a password stored only as a scrypt hash, and returns a random token and the role', async function () {
    const res = await fund.http().post('/api/auth/login').send(ADMIN).expect(200);
    expect(res.body.role).to.equal('admin');
    expect(res.body.token).to.be.a('string').with.length.above(30);
    const stored = await fund.app.models.user.findOne({ username: ADMIN.username });
    expect(stored?.passwordHash).to.match(/^scrypt\$[0-9a-f]{32}\$[0-9a-f]{128}$/);
    expect(JSON.stringify(stored)).to.not.include(ADMIN.password);
    const tokens = await fund.app.models.token.find({});
    expect(tokens.map((t) => t.id)).to.not.include(res.body.token);
  });

  it('refuses a wrong password, an unknown user, and a missing or forged token with 401', async function () {
    await fund.http().post('/api/auth/login').send({ username: ADMIN.username, password: 'nope' }).expect(401);
    await fund.http().post('/api/auth/login').send({ username: 'ghost', password: 'nope' }).expect(401);
    const missing = await fund.http().get('/api/investor').expect(401);
    expect(missing.body.error.code).to.equal('unauthorized');
    await fund.http().get('/api/investor').set('Authorization', 'Bearer forged-token-forged-token-forged').expect(401);
  });

  it('refuses an expired token', async function () {
    const res = await fund.http().post('/api/auth/login').send(ADMIN).expect(200);
    await fund.http().get('/api/investor').set('Authorization', `Bearer ${res.body.token}`).expect(200);
    const [token] = await fund.app.models.token.find({ where: {}, sort: 'expiresAt DESC', limit: 1 });
    await fund.app.models.token.update({ id: token.id }).set({ expiresAt: Date.now() - 1 });
    const expired = await fund.http().get('/api/investor').set('Authorization', `Bearer ${res.body.token}`).expect(401);
    expect(expired.body.error.code).to.equal('unauthorized');
  });

  it('rate-limits failed logins per username', async function () {
    const attempt = () => fund.http().post('/api/auth/login').send({ username: 'readonly-user', password: 'wrong-password' });
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await attempt()).status);
    expect(statuses).to.deep.equal([401, 401, 401, 401, 401, 429]);
    const blocked = await fund.http().post('/api/auth/login').send({ username: 'readonly-user', password: 'password-of-readonly-user' });
    expect(blocked.status, 'even the right password waits out the limit').to.equal(429);
  });

  it('validates login and user bodies strictly', async function () {
    const extra = await fund.http().post('/api/auth/login').send({ ...ADMIN, admin: true }).expect(400);
    expect(extra.body.error).to.include({ code: 'validation_failed', path: 'body.admin' });
    const weak = await fund.http().post('/api/user').set('Authorization', fund.auth('admin')).send({ username: 'weakling', password: 'short', role: 'admin' }).expect(400);
    expect(weak.body.error.path).to.equal('body.password');
    const role = await fund.http().post('/api/user').set('Authorization', fund.auth('admin')).send({ username: 'someone', password: 'long-enough-password', role: 'root' }).expect(400);
    expect(role.body.error.path).to.equal('body.role');
    expect(await fund.app.models.user.count({ username: ['weakling', 'someone'] })).to.equal(0);
  });

  const cannotManageUsers: Role[] = ['monitor', 'readwrite', 'readonly'];
  for (const role of cannotManageUsers) {
    it(`refuses user management to ${role} (403), creating nobody`, async function () {
      const res = await fund.http().post('/api/user').set('Authorization', fund.auth(role)).send({ username: `made-by-${role}`, password: 'long-enough-password', role: 'admin' }).expect(403);
      expect(res.body.error.code).to.equal('forbidden');
      expect(await fund.app.models.user.count({ username: `made-by-${role}` })).to.equal(0);
    });
  }

  it('never exposes password hashes or tokens through the API', async function () {
    await fund.http().get('/api/user').set('Authorization', fund.auth('readonly')).expect(403);
    const users = await fund.http().get('/api/user').set('Authorization', fund.auth('admin')).expect(200);
    expect(JSON.stringify(users.body)).to.not.include('scrypt$');
    await fund.http().get('/api/token').set('Authorization', fund.auth('admin')).expect(403);
  });
});
