/**
 * The admin page in a real browser (Debian's chromium through playwright-core): sign-in with a
 * cookie session, a mismatch planted behind the engine's back shown highlighted with the
 * document's history (the hook's ops page, mounted at /admin/ops) one click away, a
 * needs_attention payment retried with one click against the simulated gateway, a reversal on the
 * ops page linked both ways and recorded under the admin's name, the ops page behind the admin
 * session (the app's policy), what a readonly user sees and its forged POSTs refused, user text
 * escaped, screenshots in artifacts/; and the ops page's first page over a seeded log of 100,000
 * transactions (sails-disk; the time is printed).
 */
import { expect } from 'chai';
import type { BrowserContext, Page } from 'playwright-core';
import { newId } from '../../lib/core/ids';
import { newLog } from '../../lib/core/log-document';
import { LOG_IDENTITY } from '../../lib/models/hook-models';
import type { Engine } from '../../lib/engine';
import { type FundApp, liftFund, lowerFund, sign } from '../support/http';
import { forEachAdapter } from '../support/targets';
import { openContext, newPage, shot, signIn } from '../support/browser';
import { type GatewaySim, startSim, useGateway } from '../support/gateway';
import { ADMIN } from '../support/http';

const EVIL = '<script>alert(1)</script>';

forEachAdapter('admin page in a browser', (target, adapter) => {
  let fund: FundApp;
  let context: BrowserContext;
  let page: Page;
  let sim: GatewaySim;
  let base: string;
  const engine = (): Engine => fund.app.hooks.transact.engine as Engine;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const model = (identity: string): any => fund.app.models[identity];

  before(async function () {
    this.timeout(120_000);
    fund = await liftFund(target());
    base = `http://127.0.0.1:${String((fund.app as unknown as { config: { port: number } }).config.port)}`;
    sim = await startSim();
    useGateway(fund.app, sim);
    context = await openContext();
    page = await newPage(context);
  });
  after(async function () {
    this.timeout(60_000);
    await context?.close();
    await sim?.close();
    await lowerFund(fund);
  });

  async function api(method: 'post' | 'patch', url: string, body: object, role: 'admin' | 'readwrite' = 'readwrite') {
    const res = await fund.http()[method](url).set('Authorization', fund.auth(role)).send(body);
    expect(res.status, JSON.stringify(res.body)).to.be.oneOf([200, 201]);
    return res;
  }

  /** An investor with `cents` of cash credited through a signed gateway callback. */
  async function investorWithCash(name: string, cents: number): Promise<string> {
    const investor = (await api('post', '/api/investor', { name })).body.id as string;
    const payment = (await api('post', '/api/deposit', { investor, amount: cents })).body.payment;
    const raw = JSON.stringify({ paymentId: payment.paymentId, status: 'succeeded', amount: cents });
    await fund.http().post('/api/payment/callback').set('X-Signature', sign(raw)).set('Content-Type', 'application/json').send(raw).expect(200);
    return investor;
  }

  it('signs an admin in through the form; the dashboard shows counts, jobs, counters and the chart', async function () {
    this.timeout(60_000);
    await investorWithCash('Dana', 50_000);
    await signIn(page, base, ADMIN.username, ADMIN.password);
    expect(await page.textContent('#role')).to.equal('admin');
    const css = await page.request.get(`${base}/admin/assets/admin.css`);
    expect(css.status()).to.equal(200);
    expect(css.headers()['content-type']).to.contain('text/css');
    expect(await page.evaluate<string>("getComputedStyle(document.querySelector('header')).display")).to.equal('flex');
    expect(await page.locator('#counts tr').count()).to.equal(5);
    expect(await page.textContent('#jobs')).to.contain('dropped-orders');
    expect(await page.locator('#chart rect').count()).to.be.greaterThan(1);
    await shot(page, `dashboard-${adapter}`);
  });

  it("puts the hook's ops page behind the admin session (the app's policy): anonymous and bearer-token requests never reach it", async function () {
    const page1 = await fund.http().get('/admin/ops').redirects(0);
    expect(page1.status).to.equal(302);
    expect(page1.headers.location).to.equal('/admin/login');
    const bearer = await fund.http().get('/admin/ops/stuck').set('Authorization', fund.auth('admin')).redirects(0);
    expect(bearer.status).to.equal(302); // the API's tokens are not the admin page's session
    const css = await fund.http().get('/admin/ops/ops.css').redirects(0);
    expect(css.status).to.equal(302);
    const post = await fund.http().post(`/admin/ops/transactions/${'a'.repeat(24)}/settle`).type('form').send({ reason: 'anonymous' }).redirects(0);
    expect(post.status).to.equal(401);
    // signed in, the admin page links into it
    await page.goto(`${base}/admin/attention`);
    await Promise.all([page.waitForURL(`${base}/admin/ops/stuck`), page.click('#ops-stuck')]);
    expect(await page.textContent('#no-stuck')).to.contain('No transaction is stuck');
    expect(await page.textContent('#actor')).to.equal(ADMIN.username);
    await page.click('#back');
    await page.waitForURL(`${base}/admin`);
    await page.goto(`${base}/admin/ops/stuck`);
    await shot(page, `admin-ops-stuck-${adapter}`);
  });

  it('highlights a mismatch written behind the engine, and the name "<script>" renders as text; the history is one click away', async function () {
    this.timeout(60_000);
    const investor = await investorWithCash(EVIL, 10_000);
    await model('investor').updateOne({ id: investor }).set({ cash: 10_001 }); // behind the engine's back
    let alerts = 0;
    page.on('dialog', (d) => {
      if (d.type() === 'alert') alerts++;
    });
    await page.goto(`${base}/admin/reconciliation`);
    const row = page.locator(`#investors tr.mismatch[data-id="${investor}"]`);
    expect(await row.count()).to.equal(1);
    expect(await row.locator('td').nth(1).textContent()).to.equal(EVIL);
    expect(await page.locator('#investors tr.mismatch').count()).to.equal(1);
    expect(await page.textContent('#status')).to.contain('1 mismatch');
    expect(alerts).to.equal(0);
    await shot(page, `reconciliation-${adapter}`);
    await Promise.all([page.waitForURL(`**/admin/ops/history/investor/${investor}`), row.locator('a').first().click()]);
    expect(await page.locator('#versions tr.version').count()).to.be.greaterThan(0);
    expect(await page.locator('#drift').count()).to.equal(1);
    await shot(page, `history-${adapter}`);
    await model('investor').updateOne({ id: investor }).set({ cash: 10_000 }); // put it back for the next scenarios
  });

  it('retries a needs_attention payment with one click: the gateway now says succeeded, it leaves the list, cash and ledger agree', async function () {
    this.timeout(60_000);
    const investor = (await api('post', '/api/investor', { name: 'Bob' })).body.id as string;
    const payment = (await api('post', '/api/deposit', { investor, amount: 7_500 })).body.payment;
    await engine().batch([{ op: 'update', model: 'payment', id: payment.id, set: { status: 'needs_attention', reason: 'gateway unreachable (test)' } }], { label: 'test: escalate' });
    sim.take({ paymentId: payment.paymentId, amount: 7_500, status: 'succeeded' }); // no callback: the status query answers
    await page.goto(`${base}/admin/attention`);
    const row = page.locator(`#items tr.item[data-id="${payment.id}"]`);
    expect(await row.count()).to.equal(1);
    expect(String(await row.textContent())).to.contain('gateway unreachable (test)');
    await shot(page, `attention-${adapter}`);
    const confirms: string[] = [];
    const onDialog = (d: { type(): string; message(): string }): void => {
      if (d.type() === 'confirm') confirms.push(d.message());
    };
    page.on('dialog', onDialog);
    await Promise.all([page.waitForURL(`${base}/admin/attention`), row.locator('button.retry').click()]);
    page.off('dialog', onDialog);
    // asked first: the page's own script (admin.js) runs under its Content-Security-Policy
    expect(confirms).to.deep.equal(['Ask the gateway and settle this item now?']);
    expect(await page.textContent('#flash')).to.contain('repaired');
    expect(await page.locator(`#items tr.item[data-id="${payment.id}"]`).count()).to.equal(0);
    const after = await model('investor').findOne({ id: investor });
    const lines: { amount: number }[] = (await model('ledgerentry').find({ where: { investor, account: 'cash' } })) as { amount: number }[];
    expect(after.cash).to.equal(7_500);
    expect(lines.reduce((s, l) => s + l.amount, 0)).to.equal(after.cash);
    const stored = await model('payment').findOne({ id: payment.id });
    expect(stored.status).to.equal('succeeded');
    expect(stored.attempts.at(-1)).to.include({ by: ADMIN.username, outcome: 'repaired' });
  });

  it('retries a needs_attention order with one click: the gateway now says succeeded, the order is allocated once and leaves the list', async function () {
    this.timeout(60_000);
    const platform = (await api('post', '/api/platform', { name: 'Koala' })).body.id as string;
    const loan = (await api('post', '/api/loan', { platform, borrower: 'Wu', target: 1_000_000, rateBps: 800, termMonths: 12 })).body.id as string;
    const investor = (await api('post', '/api/investor', { name: 'Dee' })).body.id as string;
    const placed = (await api('post', '/api/order', { investor, amount: 5_000, funding: 'gateway' })).body;
    const order = placed.order.id as string;
    // what the dropped-orders job leaves after its last attempt
    await engine().batch(
      [
        { op: 'update', model: 'payment', id: placed.payment.id, set: { status: 'needs_attention', reason: 'gateway unreachable (test)' } },
        { op: 'update', model: 'order', id: order, set: { status: 'needs_attention', reason: 'gateway unreachable (test)' } },
      ],
      { label: 'test: escalate' },
    );
    sim.take({ paymentId: placed.payment.paymentId, amount: 5_000, status: 'succeeded' });
    await page.goto(`${base}/admin/attention`);
    const row = page.locator(`#items tr.item[data-id="${order}"]`);
    expect(await row.count()).to.equal(1);
    await Promise.all([page.waitForURL(`${base}/admin/attention`), row.locator('button.retry').click()]);
    expect(await page.locator(`#items tr.item[data-id="${order}"]`).count()).to.equal(0);
    const stored = await model('order').findOne({ id: order });
    expect(stored.status).to.equal('allocated');
    const allocations: { amount: number; loan: string }[] = await model('allocation').find({ where: { order } });
    expect(allocations.map((a) => [a.loan, a.amount])).to.deep.equal([[loan, 5_000]]);
    expect((await model('loan').findOne({ id: loan })).raised).to.equal(5_000);
    const after = await model('investor').findOne({ id: investor });
    const lines: { amount: number }[] = await model('ledgerentry').find({ where: { investor, account: 'cash' } });
    expect(lines.reduce((s, l) => s + l.amount, 0)).to.equal(after.cash);
    expect(after.invested).to.equal(5_000);
  });

  it('reverses a committed transaction with a reason on the ops page; the reversal is linked both ways and names the admin', async function () {
    this.timeout(60_000);
    const investor = (await api('post', '/api/investor', { name: 'Carl' })).body.id as string;
    const tx = (await api('patch', `/api/investor/${investor}`, { name: 'Carla' })).get('X-Transaction-Id') as string;
    await page.goto(`${base}/admin/ops/transactions/${tx}`);
    expect(await page.textContent('#actor')).to.equal(ADMIN.username);
    await page.fill('#reverse-form input[name=reason]', 'renamed by mistake');
    await Promise.all([page.waitForURL(/\/admin\/ops\/transactions\/[^/?]+\?done=reversed$/), page.click('#reverse')]);
    await page.waitForSelector('#reverses');
    expect(await page.textContent('#reverses')).to.equal(tx);
    expect(await page.textContent('#reason')).to.equal(`renamed by mistake (by ${ADMIN.username} on the ops page)`);
    const reversal = new URL(page.url()).pathname.split('/').pop() as string;
    expect((await engine().getLog(tx))?.reversedBy).to.equal(reversal);
    expect((await engine().getLog(reversal))?.reverses).to.equal(tx);
    await shot(page, `reversal-${adapter}`);
    await page.click('#reverses');
    await page.waitForSelector('#reversed-by');
    expect(await page.textContent('#reversed-by')).to.equal(reversal);
    expect((await model('investor').findOne({ id: investor })).name).to.equal('Carl');
    await page.goto(`${base}/admin/ops?label=reversal`);
    expect(await page.locator('#transactions tr[data-id]').count()).to.be.greaterThan(0);
    await shot(page, `transactions-${adapter}`);
  });

  it('shows a readonly user no action buttons, and refuses its forged POSTs (403) — a readwrite user too', async function () {
    this.timeout(60_000);
    const investor = (await api('post', '/api/investor', { name: 'Eve' })).body.id as string;
    const payment = (await api('post', '/api/deposit', { investor, amount: 1_000 })).body.payment;
    await engine().batch([{ op: 'update', model: 'payment', id: payment.id, set: { status: 'needs_attention', reason: 'test' } }], { label: 'test: escalate' });
    const tx = (await api('patch', `/api/investor/${investor}`, { name: 'Eva' })).get('X-Transaction-Id') as string;
    for (const role of ['readonly', 'readwrite'] as const) {
      const other = await openContext();
      try {
        const p = await newPage(other);
        await signIn(p, base, `${role}-user`, `password-of-${role}-user`);
        await p.goto(`${base}/admin/attention`);
        expect(await p.locator(`#items tr.item[data-id="${payment.id}"]`).count()).to.equal(1);
        expect(await p.locator('button.retry, button.resolve, button.settle').count()).to.equal(0);
        if (role === 'readonly') await shot(p, `attention-readonly-${adapter}`);
        const csrf = await p.getAttribute('input[name=_csrf]', 'value');
        expect(csrf).to.be.a('string');
        // the ops page: readable, no action for this role, and its forged POST refused
        await p.goto(`${base}/admin/ops/transactions/${tx}`);
        expect(await p.textContent('#state')).to.equal('committed');
        expect(await p.locator('#reverse, #settle').count()).to.equal(0);
        // the token an admin's page would carry is bound to that admin's session: a made-up one here
        const forged = await p.request.post(`${base}/admin/ops/transactions/${tx}/reverse`, { form: { _csrf: 'x'.repeat(43), reason: 'forged' }, maxRedirects: 0 });
        expect(forged.status(), `${role}: ${await forged.text()}`).to.equal(403);
        const retry = await p.request.post(`${base}/admin/act/retry`, { form: { _csrf: csrf as string, kind: 'payment', id: payment.id }, maxRedirects: 0 });
        expect(retry.status(), `${role} retry: ${await retry.text()}`).to.equal(403);
      } finally {
        await other.close();
      }
    }
    expect((await engine().getLog(tx))?.reversedBy ?? null).to.equal(null);
    expect((await model('payment').findOne({ id: payment.id })).status).to.equal('needs_attention');
    // an admin's POST without the CSRF token is refused too
    const noCsrf = await page.request.post(`${base}/admin/act/resolve`, { form: { kind: 'payment', id: payment.id, note: 'x' }, maxRedirects: 0 });
    expect(noCsrf.status(), `admin no csrf: ${await noCsrf.text()}`).to.equal(403);
    const opsNoCsrf = await page.request.post(`${base}/admin/ops/transactions/${tx}/reverse`, { form: { reason: 'no token' }, maxRedirects: 0 });
    expect(opsNoCsrf.status(), `admin ops no csrf: ${await opsNoCsrf.text()}`).to.equal(403);
    expect((await engine().getLog(tx))?.reversedBy ?? null).to.equal(null);
    // the JSON API is untouched: no session cookie, bearer tokens as before
    const apiRes = await fund.http().get('/api/transaction').set('Authorization', fund.auth('readonly')).expect(200);
    expect(apiRes.headers['set-cookie']).to.equal(undefined);
  });

  if (adapter === 'disk') {
    it('renders the first page of 100,000 transactions from the server (time printed)', async function () {
      this.timeout(600_000);
      const now = Date.now();
      const total = Number(process.env.ADMIN_SEED_LOGS || 100_000);
      const started = Date.now();
      // Seeded in bulk through the log model (the store's insertLog checks each id first: minutes for 100,000).
      for (let offset = 0; offset < total; offset += 2_000) {
        const chunk = [];
        for (let i = offset; i < Math.min(total, offset + 2_000); i++) {
          const at = now - (total - i) * 1_000;
          chunk.push(newLog({ id: newId(), state: i % 50 === 0 ? 'rolled-back' : 'committed', mode: 'batch', onCrash: 'rollback', owner: 'seed', leaseUntil: at, startedAt: at, label: `seeded ${i}`, endedAt: at + 5 }));
        }
        await model(LOG_IDENTITY).createEach(chunk);
      }
      console.log(`      seeded ${total} log documents in ${Date.now() - started} ms`);
      const t0 = Date.now();
      await page.goto(`${base}/admin/ops`);
      const firstPageMs = Date.now() - t0;
      const summary = await page.textContent('#summary');
      console.log(`      first page of the ops page's transactions over ${total}+ transactions: ${firstPageMs} ms in the browser (${summary})`);
      expect(await page.locator('#transactions tr[data-id]').count()).to.equal(50);
      const t1 = Date.now();
      await page.click('#next');
      await page.waitForURL(/page=2/);
      console.log(`      second page: ${Date.now() - t1} ms`);
      expect(await page.locator('#transactions tr[data-id]').count()).to.equal(50);
      const t2 = Date.now();
      await page.goto(`${base}/admin`);
      console.log(`      dashboard over ${total}+ transactions: ${Date.now() - t2} ms`);
    });
  }
});
