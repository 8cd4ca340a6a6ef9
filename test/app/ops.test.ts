/**
 * The hook's ops page as the fund mounts it (/admin/ops, behind the admin session), attacked the
 * way issue 19 describes (items 3, 5 and 6), on all three adapters, over HTTP with the session
 * cookie of a real form login:
 * - its forms' CSRF token is bound to the session: a cookie + field pair made up by someone who
 *   can set cookies for the host, or another session's token, is refused; so is a POST whose
 *   browser says it comes from another site or another origin (another port included);
 * - its history views follow the REST API's read rule for the session's role (token history is
 *   nobody's, user history the admin's only), and so do a transaction's images;
 * - its pages stay bounded whatever is stored: a value nested 1,450 deep (250 on FerretDB) and a megabyte long.
 * Every refusal is a 403 with its registry code and writes nothing (checked in the database).
 */
import { expect } from 'chai';
import request from 'supertest';
import type { Engine } from '../../lib/engine';
import { newId } from '../../lib/core/ids';
import { newLog } from '../../lib/core/log-document';
import type { LogDocument } from '../../lib/core/types';
import { ADMIN, type FundApp, liftFund, lowerFund } from '../support/http';
import { forEachAdapter } from '../support/targets';

/** How large a transaction page may get, whatever its documents hold (README, "Bounded pages"). */
const PAGE_BOUND_BYTES = 512 * 1024;

const codeOf = (text: string): string | undefined => /id="error" data-code="([a-z_]+)"/.exec(text)?.[1];
const tokenOf = (text: string): string | undefined => /name="_csrf" value="([^"]+)"/.exec(text)?.[1];

/** `{a: {a: … {leaf} …}}`, `depth` objects deep, built without recursion. */
function nested(depth: number, leaf: unknown): unknown {
  let value: unknown = leaf;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

forEachAdapter('the ops page attacked (issue 19: session-bound CSRF, read rules, bounded pages)', (target, adapter) => {
  let fund: FundApp;
  let base: string;
  const engine = (): Engine => fund.app.hooks.transact.engine as Engine;
  const log = async (id: string): Promise<LogDocument> => (await engine().getLog(id)) as LogDocument;
  const logCount = async (): Promise<number> => fund.app.models.transactlog.count({});
  const web = (): request.Agent => request.agent(base);

  before(async function () {
    this.timeout(120_000);
    fund = await liftFund(target());
    base = `http://127.0.0.1:${String((fund.app as unknown as { config: { port: number } }).config.port)}`;
  });
  after(async function () {
    this.timeout(60_000);
    await lowerFund(fund);
  });

  /** The admin session's cookie (`name=value`) after a form login, as a browser gets it. */
  async function sessionOf(username: string, password: string): Promise<string> {
    const agent = web();
    const form = await agent.get('/admin/login').expect(200);
    const res = await agent.post('/admin/login').type('form').send({ username, password, _csrf: tokenOf(form.text) }).redirects(0);
    expect(res.status, res.text).to.equal(302);
    const cookie = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('fund.admin.sid='));
    expect(cookie, 'a session cookie').to.be.a('string');
    return (cookie as string).split(';')[0];
  }

  /** A committed transaction to reverse: an investor renamed through the API. */
  async function committedTransaction(name: string): Promise<string> {
    const auth = fund.auth('readwrite');
    const created = await fund.http().post('/api/investor').set('Authorization', auth).send({ name }).expect(201);
    const renamed = await fund.http().patch(`/api/investor/${String(created.body.id)}`).set('Authorization', auth).send({ name: `${name} renamed` }).expect(200);
    return renamed.get('X-Transaction-Id') as string;
  }

  const reversePath = (tx: string): string => `/admin/ops/transactions/${tx}/reverse`;

  /**
   * An admin session, a committed transaction, the reverse form's token from the page as the
   * session sees it. `admin`: the cookies the browser then holds (the session's, and any the
   * page set); `session`: the session cookie alone.
   */
  async function reverseForm(name: string): Promise<{ admin: string; session: string; tx: string; token: string; page: request.Response }> {
    const session = await sessionOf(ADMIN.username, ADMIN.password);
    const tx = await committedTransaction(name);
    const page = await web().get(`/admin/ops/transactions/${tx}`).set('Cookie', session).expect(200);
    const token = tokenOf(page.text) as string;
    expect(token, 'the reverse form carries a token').to.match(/^[A-Za-z0-9_-]{43}$/);
    const set = ([] as string[]).concat(page.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]);
    return { admin: [session, ...set].join('; '), session, tx, token, page };
  }

  /** Each attempt is refused with 403 csrf_failed, and nothing is written. */
  async function expectRefused(tx: string, attempts: [string, request.Test][]): Promise<void> {
    const before = await logCount();
    for (const [what, attempt] of attempts) {
      const res = await attempt.redirects(0);
      expect([res.status, codeOf(res.text)], what).to.deep.equal([403, 'csrf_failed']);
    }
    expect((await log(tx)).reversedBy, 'not reversed').to.equal(null);
    expect(await logCount(), 'no transaction written').to.equal(before);
  }

  it('refuses a made-up cookie + field pair (what anyone who can set a cookie for the host can send) and another session\'s token: 403 csrf_failed, nothing written', async function () {
    this.timeout(60_000);
    const { admin, session, tx, token } = await reverseForm('Forged pair');
    // What the issue did: any 43 characters as a cookie of the ops page's old name and the same in the field.
    const made = 'x'.repeat(43);
    await expectRefused(tx, [
      ['a made-up cookie + field pair', web().post(reversePath(tx)).set('Cookie', `${session}; transact_ops_csrf=${made}`).type('form').send({ _csrf: made, reason: 'forged pair' })],
      ["another admin session's token", web().post(reversePath(tx)).set('Cookie', await sessionOf(ADMIN.username, ADMIN.password)).type('form').send({ _csrf: token, reason: 'other session' })],
      ['no token at all', web().post(reversePath(tx)).set('Cookie', admin).type('form').send({ reason: 'no token' })],
    ]);
  });

  it('refuses a POST from another site (Origin, Sec-Fetch-Site: cross-site, Origin: null) even with the real token: 403 csrf_failed, nothing written', async function () {
    this.timeout(60_000);
    const { admin, tx, token } = await reverseForm('Cross-site');
    await expectRefused(tx, [
      ['Origin of another site + Sec-Fetch-Site cross-site', web().post(reversePath(tx)).set('Cookie', admin).set('Origin', 'http://evil.example').set('Sec-Fetch-Site', 'cross-site').type('form').send({ _csrf: token, reason: 'cross-site' })],
      ['Origin of another site, no Sec-Fetch-Site (an older browser)', web().post(reversePath(tx)).set('Cookie', admin).set('Origin', 'http://evil.example').type('form').send({ _csrf: token, reason: 'cross-site old' })],
      ['Origin: null (a sandboxed frame)', web().post(reversePath(tx)).set('Cookie', admin).set('Origin', 'null').type('form').send({ _csrf: token, reason: 'null origin' })],
    ]);
  });

  it('refuses a POST from the same host on another port (same-site, another origin) even with the real token: 403 csrf_failed, nothing written', async function () {
    this.timeout(60_000);
    const { admin, tx, token } = await reverseForm('Other port');
    const otherPort = `http://127.0.0.1:${Number(new URL(base).port) + 1}`;
    await expectRefused(tx, [
      ['Origin of the same host on another port', web().post(reversePath(tx)).set('Cookie', admin).set('Origin', otherPort).type('form').send({ _csrf: token, reason: 'other port' })],
      ['Sec-Fetch-Site same-site', web().post(reversePath(tx)).set('Cookie', admin).set('Origin', otherPort).set('Sec-Fetch-Site', 'same-site').type('form').send({ _csrf: token, reason: 'same-site' })],
    ]);
  });

  it("still reverses with the page's own form: the session's token, same origin; the ops page sets no cookie of its own", async function () {
    this.timeout(60_000);
    const { admin, tx, token, page } = await reverseForm('Real form');
    const ok = await web().post(reversePath(tx)).set('Cookie', admin).set('Origin', base).set('Sec-Fetch-Site', 'same-origin').type('form').send({ _csrf: token, reason: 'the real form' }).redirects(0);
    expect(ok.status, ok.text).to.equal(303);
    const reversal = (await log(tx)).reversedBy as string;
    expect(reversal).to.be.a('string');
    expect((await log(reversal)).reason).to.equal(`the real form (by ${ADMIN.username} on the ops page)`);
    // A client that sends neither header (curl): the token alone decides.
    const again = await committedTransaction('Real form, curl');
    const curlPage = await web().get(`/admin/ops/transactions/${again}`).set('Cookie', admin).expect(200);
    const curl = await web().post(reversePath(again)).set('Cookie', admin).type('form').send({ _csrf: tokenOf(curlPage.text), reason: 'from curl' }).redirects(0);
    expect(curl.status, curl.text).to.equal(303);
    expect(String(page.headers['set-cookie'] ?? '')).to.not.contain('transact_ops_csrf');
  });

  it("follows the API's read rule for histories: token history 403 for an admin, user history 403 for readonly (200 for an admin); the transaction's images of a user are hidden from readonly, and so is its raw image", async function () {
    this.timeout(60_000);
    const admin = await sessionOf(ADMIN.username, ADMIN.password);
    const readonly = await sessionOf('readonly-user', 'password-of-readonly-user');
    const [token] = await fund.app.models.token.find({ limit: 1 });
    const adminUser = (await fund.app.models.user.findOne({ username: ADMIN.username })) as Record<string, unknown>;
    const readonlyUser = await fund.app.models.user.findOne({ username: 'readonly-user' });
    const get = (cookie: string, path: string) => web().get(path).set('Cookie', cookie).redirects(0);
    // The API first, for the same facts: the ops page must agree.
    expect((await fund.http().get(`/api/history/token/${String(token.id)}`).set('Authorization', fund.auth('admin'))).status).to.equal(403);
    expect((await fund.http().get(`/api/history/user/${String(adminUser.id)}`).set('Authorization', fund.auth('readonly'))).status).to.equal(403);

    for (const [who, cookie, path, status] of [
      ['admin', admin, `/admin/ops/history/token/${String(token.id)}`, 403],
      ['readonly', readonly, `/admin/ops/history/token/${String(token.id)}`, 403],
      ['readonly', readonly, `/admin/ops/history/user/${String(adminUser.id)}`, 403],
      ['admin', admin, `/admin/ops/history/user/${String(adminUser.id)}`, 200],
    ] as const) {
      const res = await get(cookie, path);
      expect(res.status, `${who} ${path}`).to.equal(status);
      if (status === 403) {
        expect(codeOf(res.text), `${who} ${path}`).to.equal('forbidden');
        expect(res.text, 'nothing of the document').to.not.contain('&quot;role&quot;');
      } else {
        expect(res.text).to.contain(`&quot;username&quot;: &quot;${ADMIN.username}&quot;`);
      }
    }
    // An investor's history is everyone's.
    const investorTx = await committedTransaction('Readable');
    const investor = (await log(investorTx)).steps[0].id;
    expect((await get(readonly, `/admin/ops/history/investor/${investor}`)).status).to.equal(200);

    // A transaction that wrote the readonly user: its before/after images are the user's history.
    const userId = String(readonlyUser?.id);
    const created = await log((await engine().batch([{ op: 'update', model: 'user', id: userId, set: { role: 'readonly' } }], { label: 'touch a user' })).id);
    const seq = created.steps[0].seq;
    const hidden = await get(readonly, `/admin/ops/transactions/${created.id}`);
    expect(hidden.status).to.equal(200);
    expect(hidden.text).to.contain('not readable for you').and.to.not.contain(String(readonlyUser?.passwordHash));
    const raw = await get(readonly, `/admin/ops/transactions/${created.id}/steps/${seq}/after`);
    expect([raw.status, codeOf(raw.text)]).to.deep.equal([403, 'forbidden']);
    const shown = await get(admin, `/admin/ops/transactions/${created.id}`);
    expect(shown.text).to.contain(String(readonlyUser?.passwordHash));
  });

  it(`keeps a transaction page under ${PAGE_BOUND_BYTES / 1024} KB and renders it without a stack overflow when a document holds a value nested 1,450 deep (250 on FerretDB) and a megabyte long; the raw image gives the whole value`, async function () {
    this.timeout(120_000);
    const admin = await sessionOf(ADMIN.username, ADMIN.password);
    const account = await fund.http().post('/api/account').set('Authorization', fund.auth('readwrite')).send({ owner: 'Deep' }).expect(201);
    const id = String(account.body.id);
    // Written around the engine's input checks (whatever they allow today), as a value already stored would be.
    // FerretDB's SQLite backend refuses documents nested between 300 and 400 levels deep (MongoDB itself: past 100).
    const depth = adapter === 'mongo' ? 250 : 1_450;
    const meta = { deep: nested(depth, 'bottom'), long: 'y'.repeat(1_000_000), wide: Array.from({ length: 5_000 }, (_, i) => ({ i })) };
    await (fund.app.models.account as unknown as { updateOne(c: object): { set(v: object): Promise<unknown> } }).updateOne({ id }).set({ meta });
    const tx = (await engine().batch([{ op: 'update', model: 'account', id, set: { frozen: true } }], { label: 'touch the deep account' })).id;

    const page = await web().get(`/admin/ops/transactions/${tx}`).set('Cookie', admin).expect(200);
    const bytes = Buffer.byteLength(page.text);
    expect(bytes, `the page is ${bytes} bytes`).to.be.below(PAGE_BOUND_BYTES);
    expect(page.text).to.contain('truncated:').and.to.contain('bytes');
    const rawLink = /class="raw" href="([^"]+\/after)"/.exec(page.text)?.[1] as string;
    expect(rawLink, 'a link to the whole image').to.be.a('string');
    const raw = await web().get(rawLink).set('Cookie', admin).buffer(true).parse((res, done) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => done(null, text));
    });
    expect(raw.status).to.equal(200);
    expect(raw.headers['content-type']).to.contain('application/json');
    const image = JSON.parse(raw.body as string) as { meta: typeof meta; frozen: boolean };
    expect(image.frozen).to.equal(true);
    expect(image.meta.long.length).to.equal(1_000_000);
    expect(image.meta.wide).to.have.length(5_000);
    let levels = 0;
    for (let v = image.meta.deep as { a?: unknown } | string; typeof v === 'object'; v = v.a as typeof v) levels++;
    expect(levels).to.equal(depth);

    const history = await web().get(`/admin/ops/history/account/${id}`).set('Cookie', admin).expect(200);
    expect(Buffer.byteLength(history.text), 'the history page').to.be.below(PAGE_BOUND_BYTES);
  });

  it('lets only a role that may settle (admin) bulk-settle: monitor and readonly see no selection on the stuck page, their dry run and POST are 403 forbidden, nothing written', async function () {
    this.timeout(60_000);
    const stuck = newLog({ id: newId(), state: 'pending', mode: 'batch', onCrash: 'rollback', owner: 'crashed#1', leaseUntil: Date.now() - 60_000, startedAt: Date.now() - 90_000, label: 'bulk roles' });
    expect(await engine().store.insertLog(stuck)).to.equal(true);
    const admin = await sessionOf(ADMIN.username, ADMIN.password);
    const adminStuck = await web().get('/admin/ops/stuck').set('Cookie', admin).expect(200);
    expect(adminStuck.text).to.contain('id="bulk-form"').and.to.contain(`name="id" value="${stuck.id}" form="bulk-form"`);
    const preview = await web().get(`/admin/ops/stuck/preview?id=${stuck.id}`).set('Cookie', admin).expect(200);
    expect(preview.text).to.contain(`data-id="${stuck.id}" data-action="roll back"`);
    const token = tokenOf(preview.text) as string;
    for (const [role, password] of [['monitor-user', 'password-of-monitor-user'], ['readonly-user', 'password-of-readonly-user']]) {
      const session = await sessionOf(role, password);
      const page = await web().get('/admin/ops/stuck').set('Cookie', session).expect(200);
      expect(page.text, role).to.contain(`data-id="${stuck.id}"`).and.not.contain('bulk-form').and.not.contain('type="checkbox"');
      const dryRun = await web().get(`/admin/ops/stuck/preview?id=${stuck.id}`).set('Cookie', session);
      expect([dryRun.status, codeOf(dryRun.text)], role).to.deep.equal([403, 'forbidden']);
      const own = tokenOf((await web().get(`/admin/ops/transactions/${stuck.id}`).set('Cookie', session)).text);
      const posted = await web().post('/admin/ops/stuck/settle').set('Cookie', session).type('form').send({ _csrf: own ?? token, ids: stuck.id, reason: `${role} tries` }).redirects(0);
      expect([posted.status, codeOf(posted.text)], role).to.deep.equal([403, 'forbidden']);
    }
    const after = await log(stuck.id);
    expect([after.state, after.epoch, after.recoveries]).to.deep.equal(['pending', 0, 0]);
  });
});
