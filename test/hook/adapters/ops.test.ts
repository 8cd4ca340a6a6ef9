/**
 * The ops page shipped with the hook, on a minimal Sails app (one model, one policy, no views, no
 * session, nothing of the fund app), in a real browser (Debian's chromium via playwright-core),
 * on every adapter: the app's own policy guards it, the list filters and paginates on the server,
 * a transaction opens with its steps, a reversal (with a required reason) is linked both ways in
 * the database, a transaction stuck for real (its owner's traffic held at a gate past its lease)
 * is settled from the page, a document's history travels in time; a POST without an actor, a
 * CSRF token or a reason is refused and writes nothing; user text is escaped.
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from 'chai';
import type { BrowserContext, Page } from 'playwright-core';
import { Readable } from 'node:stream';
import { resolveConfig } from '../../../lib/config';
import { html, joinHtml } from '../../../lib/ops/html';
import { formOf, type OpsRequest } from '../../../lib/ops/http';
import { Engine } from '../../../lib/engine';
import { isTransactError } from '../../../lib/core/errors';
import { newId } from '../../../lib/core/ids';
import { newLog } from '../../../lib/core/log-document';
import type { LogDocument } from '../../../lib/core/types';
import type { LoadedApp } from '../../support/app';
import { freePort, lowerApp } from '../../support/app';
import { newPage, openContext, shot } from '../../support/browser';
import { Gate } from '../../support/gated';
import { forEachAdapter, resetTarget, type Target } from '../../support/targets';

const REPO = resolve(__dirname, '..', '..', '..', '..');
/** OPS_DOCS_SHOTS=1: the PostgreSQL run also saves the screenshots docs/ops-page.md shows. */
const DOCS_SHOTS = process.env.OPS_DOCS_SHOTS === '1';
const EVIL = '<script>alert(1)</script>';
const LEASE_MS = 1_500;
const PAGE_SIZE = 5;
/** The operator who may act; "viewer" passes the policy but gets no actor. */
const OPERATOR = 'alice';

/**
 * A Sails app of its own in a temporary directory: the hook (this build), an `account` model, and
 * a policy `signedIn` that lets a request through only with an `x-operator` header — standing in
 * for an app's session check.
 */
function minimalApp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'transact-ops-app-'));
  mkdirSync(join(dir, 'api', 'hooks', 'transact'), { recursive: true });
  mkdirSync(join(dir, 'api', 'models'), { recursive: true });
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  // Sails loads installed hooks (the ORM) from the app's package.json dependencies.
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'ops-test-app', private: true, dependencies: { sails: '*', 'sails-hook-orm': '*', 'sails-disk': '*' } }));
  writeFileSync(join(dir, 'api', 'hooks', 'transact', 'index.js'), `module.exports = require(${JSON.stringify(join(REPO, 'dist', 'lib'))});\n`);
  writeFileSync(
    join(dir, 'api', 'models', 'Account.js'),
    `module.exports = { transactional: true, attributes: { owner: { type: 'string', required: true }, balance: { type: 'number', isInteger: true, defaultsTo: 0, autoMigrations: { columnType: 'double precision' } } } };\n`,
  );
  return dir;
}

function datastoreOf(target: Target): Record<string, unknown> {
  switch (target.adapter) {
    case 'disk':
      return { adapter: 'sails-disk', dir: target.location };
    case 'mongo': {
      // A fresh copy: sails-mongo never forgets the models of an app it tore down.
      delete require.cache[require.resolve('sails-mongo')];
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return { adapter: require('sails-mongo') as unknown, url: target.location };
    }
    case 'postgresql':
      return { adapter: 'sails-postgresql', url: target.location };
  }
}

/** The app's policy: anonymous requests never reach the ops actions. */
function signedIn(req: IncomingMessage, res: ServerResponse, proceed: () => void): void {
  if (typeof req.headers['x-operator'] === 'string' && req.headers['x-operator'] !== '') return proceed();
  res.statusCode = 401;
  res.setHeader('Content-Type', 'text/plain');
  res.end('sign in first (policy signedIn)');
}

async function liftMinimal(target: Target): Promise<{ app: LoadedApp; base: string }> {
  // migrate: 'drop' below means a fresh schema: lift never drops a table that holds rows.
  await resetTarget(target);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Sails = require('sails').constructor as new () => LoadedApp & { lift(config: object, cb: (err?: Error) => void): void };
  const app = new Sails();
  const port = await freePort();
  const id = target.adapter === 'mongo' ? { type: 'string', required: true, columnName: '_id' } : { type: 'string', required: true };
  const config = {
    appPath: minimalApp(),
    environment: 'test',
    port,
    explicitHost: '127.0.0.1',
    log: { level: process.env.SAILS_LOG_LEVEL ?? 'error' },
    globals: { _: false, async: false, models: false, sails: false },
    hooks: { grunt: false, views: false, sockets: false, pubsub: false, i18n: false, session: false },
    models: { migrate: 'drop', datastore: 'default', dontUseObjectIds: true, attributes: { id, createdAt: { type: 'number', autoCreatedAt: true }, updatedAt: { type: 'number', autoUpdatedAt: true } } },
    datastores: { default: datastoreOf(target) },
    policies: { '*': true, 'transact/ops/*': [signedIn] },
    transact: {
      // The stuck-page cases stall an owner on the log protocol (v2), whose pending log is what an
      // operator settles; on log protocol v3 (sails-disk's default) a stalled owner leaves held
      // records and no log, freed by the next transaction that meets them (R5): nothing to settle.
      protocol: 'log' as const,
      recoveryIntervalMs: 0,
      leaseMs: LEASE_MS,
      clockSkewMs: 0,
      ops: { path: '/ops', title: 'Ops test', back: { href: '/', label: 'the app' }, pageSize: PAGE_SIZE, actor: (req: IncomingMessage) => (req.headers['x-operator'] === OPERATOR ? OPERATOR : null),
        // No session hook here: the signed-in identity stands in for the session the forms' tokens are bound to.
        session: (req: IncomingMessage) => (typeof req.headers['x-operator'] === 'string' ? `operator:${req.headers['x-operator']}` : null),
      },
    },
  };
  await new Promise<void>((ok, fail) => app.lift(config, (err?: Error) => (err ? fail(err) : ok())));
  return { app, base: `http://127.0.0.1:${port}` };
}

describe('ops page building blocks', function () {
  it('escapes every interpolated value, in text and in attributes; nested templates and lists pass as markup', function () {
    const evil = `"><script>alert('x')</script>&`;
    const cell = html`<td title="${evil}">${evil}</td>`;
    expect(cell.markup).to.equal('<td title="&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;">&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;</td>');
    expect(html`<tr>${[cell, 'a<b', null, undefined, false, 0]}</tr>`.markup).to.equal(`<tr>${cell.markup}a&lt;b0</tr>`);
    expect(joinHtml(['<a>', html`<b></b>`], '<br>').markup).to.equal('&lt;a&gt;&lt;br&gt;<b></b>');
  });

  it("reads a form itself when the app's body parser left it alone (bounded), and ignores other content types", async function () {
    const request = (body: string, type: string): OpsRequest => Object.assign(Readable.from([Buffer.from(body)]), { headers: { 'content-type': type } }) as unknown as OpsRequest;
    const form = await formOf(request('_csrf=abc&reason=why%20not&reason=second', 'application/x-www-form-urlencoded; charset=utf-8'));
    expect([...form]).to.deep.equal([['_csrf', 'abc'], ['reason', 'why not']]);
    expect((await formOf(request('{"reason":"x"}', 'application/json'))).size).to.equal(0);
    await formOf(request(`reason=${'x'.repeat(20_000)}`, 'application/x-www-form-urlencoded')).then(
      () => expect.fail('a 20 kB form was read'),
      (err: { status?: number }) => expect(err.status).to.equal(413),
    );
    // what a parser already read wins (only its string values)
    const parsed = Object.assign(Readable.from([]), { headers: {}, body: { _csrf: 't', reason: 'r', extra: ['a'] } }) as unknown as OpsRequest;
    expect([...(await formOf(parsed))]).to.deep.equal([['_csrf', 't'], ['reason', 'r']]);
  });
});

describe('ops page config', function () {
  const actor = (): null => null;
  it('is off by default; on, it gets defaults for what the app left out', function () {
    expect(resolveConfig({}).ops).to.equal(false);
    expect(resolveConfig({ ops: { path: '/admin/ops', actor } }).ops).to.deep.include({ path: '/admin/ops', title: 'Transactions', pageSize: 50, back: null });
  });
  it('refuses a path that is not plain absolute segments, a missing actor, and a back link that leaves the app', function () {
    for (const path of ['ops', '/ops/', '/', '/o ps', '/ops/:id', '/ops?x', '//evil.example']) {
      expect(() => resolveConfig({ ops: { path, actor } }), path).to.throw(/invalid config.transact: "ops.path"/);
    }
    expect(() => resolveConfig({ ops: { path: '/ops' } as never })).to.throw(/invalid config.transact/);
    for (const href of ['javascript:alert(1)', 'https://evil.example/', '//evil.example']) {
      expect(() => resolveConfig({ ops: { path: '/ops', actor, back: { href, label: 'x' } } }), href).to.throw(/invalid config.transact/);
    }
  });
});

forEachAdapter('ops page in a browser', (target, adapter) => {
  let app: LoadedApp;
  let base: string;
  let context: BrowserContext;
  let page: Page;
  const engine = (): Engine => app.hooks.transact.engine as Engine;
  const log = async (id: string): Promise<LogDocument> => (await engine().getLog(id)) as LogDocument;
  const balanceOf = async (id: string): Promise<number> => Number((await app.models.account.findOne({ id }))?.balance);
  const logCount = async (): Promise<number> => app.models.transactlog.count({});

  before(async function () {
    this.timeout(120_000);
    ({ app, base } = await liftMinimal(target()));
    context = await openContext();
    await context.setExtraHTTPHeaders({ 'x-operator': OPERATOR });
    page = await newPage(context);
  });
  after(async function () {
    this.timeout(60_000);
    await context?.close();
    if (app !== undefined) await lowerApp(app);
  });

  async function account(owner: string, balance: number, label = `open ${owner}`): Promise<{ id: string; tx: string }> {
    const id = newId();
    const result = await engine().batch([{ op: 'create', model: 'account', id, values: { owner, balance } }], { label });
    return { id, tx: result.id };
  }

  async function move(from: string, to: string, cents: number, label: string): Promise<string> {
    const result = await engine().batch(
      [
        { op: 'increment', model: 'account', id: from, field: 'balance', by: -cents, min: 0 },
        { op: 'increment', model: 'account', id: to, field: 'balance', by: cents },
      ],
      { label },
    );
    return result.id;
  }

  it("is behind the app's own policy: anonymous requests get the policy's 401, for pages, the stylesheet and POSTs alike", async function () {
    const { tx } = await account('Anon', 100);
    for (const path of ['/ops', '/ops/ops.css', '/ops/stuck', `/ops/transactions/${tx}`, '/ops/history/account/x']) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).to.equal(401);
      expect(await res.text()).to.contain('policy signedIn');
    }
    const before = await logCount();
    const res = await fetch(`${base}/ops/transactions/${tx}/reverse`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'reason=anonymous' });
    expect(res.status).to.equal(401);
    expect((await log(tx)).reversedBy).to.equal(null);
    expect(await logCount()).to.equal(before);
  });

  it('lists transactions newest first with filters (state, model, label, time range) and server-side pages; its headers forbid framing, sniffing and scripts', async function () {
    this.timeout(60_000);
    const a = await account('Ann', 10_000, 'filter-test open');
    const b = await account('Ben', 0, 'filter-test open');
    for (let i = 0; i < 6; i++) await move(a.id, b.id, 100, `filter-test move ${i}`);
    await engine().batch([{ op: 'increment', model: 'account', id: a.id, field: 'balance', by: -1_000_000, min: 0 }], { label: 'filter-test overdraw' }).catch(() => undefined);

    const response = await page.goto(`${base}/ops?label=filter-test`);
    const headers = response?.headers() ?? {};
    expect(headers['x-frame-options']).to.equal('DENY');
    expect(headers['x-content-type-options']).to.equal('nosniff');
    expect(headers['content-security-policy']).to.contain("default-src 'none'").and.to.contain("frame-ancestors 'none'");
    expect(await page.evaluate<string>("getComputedStyle(document.querySelector('header')).display")).to.equal('flex'); // its own stylesheet loaded
    expect(await page.locator('#transactions tr[data-id]').count()).to.equal(PAGE_SIZE);
    expect(await page.textContent('#summary')).to.match(/^8 transaction\(s\); page 1 of 2/);
    expect(await page.locator('#transactions tr[data-id]').first().textContent()).to.contain('filter-test move 5');
    await shot(page, `ops-transactions-${adapter}`);
    await Promise.all([page.waitForURL(/page=2/), page.click('#next')]);
    expect(await page.locator('#transactions tr[data-id]').count()).to.equal(3);
    expect(await page.locator('#transactions tr[data-id]').last().textContent()).to.contain('filter-test open');

    // the filter form: committed moves only (the overdraw was refused before anything was logged)
    await page.goto(`${base}/ops`);
    await page.selectOption('select[name=state]', 'committed');
    await page.fill('input[name=label]', 'filter-test move');
    await Promise.all([page.waitForURL(/state=committed/), page.click('#filter')]);
    expect(await page.textContent('#summary')).to.match(/^6 transaction\(s\)/);
    // any case, on every adapter (the page's hint says so)
    await page.goto(`${base}/ops?label=${encodeURIComponent('FILTER-Test Move')}`);
    expect(await page.textContent('#summary')).to.match(/^6 transaction\(s\)/);
    expect(await page.locator('label:has(input[name=label])').getAttribute('title')).to.contain('any case');
    // by model, and a time range that ends before everything
    await page.goto(`${base}/ops?model=account&label=filter-test`);
    expect(await page.locator('#transactions tr[data-id]').count()).to.equal(PAGE_SIZE);
    await page.goto(`${base}/ops?model=nosuchmodel`);
    expect(await page.locator('#transactions tr[data-id]').count()).to.equal(0);
    await page.goto(`${base}/ops?label=filter-test&to=2001-01-01T00:00:00`);
    expect(await page.locator('#transactions tr[data-id]').count()).to.equal(0);
    const from = new Date(Date.now() - 60_000).toISOString().slice(0, 19);
    await page.goto(`${base}/ops?label=filter-test&from=${from}&state=committed`);
    expect(await page.textContent('#summary')).to.match(/^8 transaction\(s\)/);
    // bad filters: a 4xx page
    for (const query of ['state=done', 'from=yesterday', 'model=Robert%27);DROP', 'page=0', 'page=abc', 'label=ab']) {
      const bad = await page.goto(`${base}/ops?${query}`);
      expect(bad?.status(), query).to.equal(400);
    }
  });

  it('opens a transaction: its steps with before/after images and a link to each document; user text is escaped', async function () {
    this.timeout(60_000);
    let alerts = 0;
    page.on('dialog', (dialog) => {
      if (dialog.type() === 'alert') alerts++;
    });
    const a = await account(EVIL, 500, EVIL);
    await page.goto(`${base}/ops?label=${encodeURIComponent('<script>')}`);
    const row = page.locator(`#transactions tr[data-id="${a.tx}"]`);
    expect(await row.locator('td').nth(3).textContent()).to.equal(EVIL);
    await Promise.all([page.waitForURL(`**/ops/transactions/${a.tx}`), row.locator('a').first().click()]);
    expect(await page.textContent('#label')).to.equal(EVIL);
    expect(await page.textContent('#state')).to.equal('committed');
    expect(await page.locator('h3.step').count()).to.equal(1);
    expect(await page.locator('table.diff tr.changed').count()).to.be.greaterThan(2);
    expect(await page.locator('table.diff').textContent()).to.contain(JSON.stringify(EVIL));
    expect(alerts).to.equal(0);
    expect(await page.locator(`h3.step a[href$="/ops/history/account/${a.id}"]`).count()).to.equal(1);
    const missing = await page.goto(`${base}/ops/transactions/${newId()}`);
    expect(missing?.status()).to.equal(404);
    const bad = await page.goto(`${base}/ops/transactions/${encodeURIComponent('<x>')}`);
    expect(bad?.status()).to.equal(400);
  });

  it('reverses a committed transaction with a reason: the database links both ways and records who; the money is back', async function () {
    this.timeout(60_000);
    const a = await account('Rea', 1_000);
    const b = await account('Reb', 0);
    const tx = await move(a.id, b.id, 400, 'paid to the wrong account');
    await page.goto(`${base}/ops/transactions/${tx}`);
    await page.fill('#reverse-form input[name=reason]', 'paid to the wrong account');
    await Promise.all([page.waitForURL(/done=reversed/), page.click('#reverse')]);
    expect(await page.textContent('#notice')).to.contain('Reversed');
    expect(await page.textContent('#reverses')).to.equal(tx);
    const reversal = decodeURIComponent(new URL(page.url()).pathname.split('/').pop() as string);
    await shot(page, `ops-reversal-${adapter}`);
    const original = await log(tx);
    const compensating = await log(reversal);
    expect(original.reversedBy).to.equal(reversal);
    expect(compensating.reverses).to.equal(tx);
    expect(compensating.state).to.equal('committed');
    expect(compensating.reason).to.equal(`paid to the wrong account (by ${OPERATOR} on the ops page)`);
    expect(await balanceOf(a.id)).to.equal(1_000);
    expect(await balanceOf(b.id)).to.equal(0);
    await page.click('#reverses');
    await page.waitForSelector('#reversed-by');
    expect(await page.textContent('#reversed-by')).to.equal(reversal);
    expect(await page.locator('#reverse-form').count()).to.equal(0); // reversed once: no second form
  });

  it('refuses a POST without a CSRF token, with a wrong one, without a reason, or from someone who may only look: 4xx, nothing written', async function () {
    this.timeout(60_000);
    const a = await account('Csa', 1_000);
    const b = await account('Csb', 0);
    const tx = await move(a.id, b.id, 300, 'csrf target');
    await page.goto(`${base}/ops/transactions/${tx}`);
    const token = (await page.getAttribute('#reverse-form input[name=_csrf]', 'value')) as string;
    expect(token).to.match(/^[A-Za-z0-9_-]{43}$/);
    const before = await logCount();
    const post = (form: Record<string, string>) => page.request.post(`${base}/ops/transactions/${tx}/reverse`, { form, maxRedirects: 0 });
    expect((await post({ reason: 'no token' })).status()).to.equal(403);
    expect((await post({ _csrf: `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`, reason: 'wrong token' })).status()).to.equal(403);
    expect((await post({ _csrf: token, reason: '   ' })).status()).to.equal(400);
    expect((await post({ _csrf: token, reason: 'x'.repeat(401) })).status()).to.equal(400);
    expect((await page.request.post(`${base}/ops/transactions/${encodeURIComponent('<bad>')}/reverse`, { form: { _csrf: token, reason: 'bad id' }, maxRedirects: 0 })).status()).to.equal(400);
    // the token is bound to the session, not kept in a cookie of the page's own
    expect((await context.cookies(`${base}/ops`)).map((c) => c.name)).to.not.include('transact_ops_csrf');

    // a viewer passes the app's policy but has no actor: no forms, and a POST with its own valid token is refused
    const viewer = await openContext();
    try {
      await viewer.setExtraHTTPHeaders({ 'x-operator': 'viewer' });
      const p = await newPage(viewer);
      await p.goto(`${base}/ops/transactions/${tx}`);
      expect(await p.textContent('header .actor')).to.equal('read only');
      expect(await p.locator('#reverse-form').count()).to.equal(0);
      const forged = await p.request.post(`${base}/ops/transactions/${tx}/reverse`, { form: { _csrf: token, reason: 'viewer' }, maxRedirects: 0 });
      expect(forged.status()).to.equal(403);
      expect(await forged.text()).to.contain('not act');
    } finally {
      await viewer.close();
    }
    expect((await log(tx)).reversedBy).to.equal(null);
    expect(await logCount()).to.equal(before);
    expect(await balanceOf(b.id)).to.equal(300);
  });

  it("settles a transaction stuck for real (its owner's traffic held past its lease) from the stuck page, with a reason: rolled back, who and why on its log", async function () {
    this.timeout(60_000);
    const a = await account('Stuck', 1_000);
    // A second instance whose datastore traffic stalls mid-transaction: it wrote, then went silent.
    const gated = Gate.wrap(engine().store);
    const owner = new Engine(gated, (identity) => app.models[identity], { ...engine().options, instanceId: 'stalled-owner' });
    await owner.start();
    let release: () => void = () => undefined;
    const hold = new Promise<void>((ok) => (release = ok));
    let wrote: () => void = () => undefined;
    const written = new Promise<void>((ok) => (wrote = ok));
    const outcome = owner
      .interactive(async (tx) => {
        await tx.increment('account', a.id, 'balance', 250);
        wrote();
        await hold;
      }, { label: 'stalled owner' })
      .then(() => 'committed', (err: unknown) => (isTransactError(err) ? err.code : String(err)));
    await written;
    gated.gate.close(); // its heartbeats stall from here on
    expect(await balanceOf(a.id)).to.equal(1_250);
    const [pending] = await app.models.transactlog.find({ where: { label: 'stalled owner' } });
    const stuckId = String(pending.id);

    // while its lease is live it is not listed
    await page.goto(`${base}/ops/stuck`);
    expect(await page.locator(`#stuck tr[data-id="${stuckId}"]`).count()).to.equal(0);
    await new Promise((ok) => setTimeout(ok, LEASE_MS + 300));
    await page.goto(`${base}/ops/stuck`);
    const row = page.locator(`#stuck tr[data-id="${stuckId}"]`);
    expect(await row.count()).to.equal(1);
    expect(await row.textContent()).to.contain('lease expired');
    await shot(page, `ops-stuck-${adapter}`);
    // without a reason: refused, nothing written
    const token = (await row.locator('input[name=_csrf]').getAttribute('value')) as string;
    expect((await page.request.post(`${base}/ops/transactions/${stuckId}/settle`, { form: { _csrf: token, reason: '' }, maxRedirects: 0 })).status()).to.equal(400);
    expect((await log(stuckId)).state).to.equal('pending');
    await row.locator('input[name=reason]').fill('owner froze; customer retries');
    await Promise.all([page.waitForURL(/stuck\?done=settled/), row.locator('button.settle').click()]);
    expect(await page.textContent('#notice')).to.contain('Settled');
    expect(await page.locator(`#stuck tr[data-id="${stuckId}"]`).count()).to.equal(0);
    const settled = await log(stuckId);
    expect(settled.state).to.equal('rolled-back');
    expect(settled.error?.message).to.contain(`settled by ${OPERATOR}`).and.to.contain('owner froze; customer retries');
    expect(await balanceOf(a.id)).to.equal(1_000);
    // a settled transaction is not stuck: settling again is a 409
    expect((await page.request.post(`${base}/ops/transactions/${stuckId}/settle`, { form: { _csrf: token, reason: 'again' }, maxRedirects: 0 })).status()).to.equal(409);
    // the stalled owner wakes up: its writes are refused, it learns it lost the transaction
    gated.gate.open();
    release();
    expect(await outcome).to.equal('lease_lost');
    expect(await balanceOf(a.id)).to.equal(1_000);
  });

  it("shows a document's history and travels in time (?at=): each version's state, before its first version nothing", async function () {
    this.timeout(60_000);
    const a = await account('Tim', 100);
    const b = await account('Tom', 0);
    const sleep = () => new Promise((ok) => setTimeout(ok, 20));
    await sleep();
    await move(a.id, b.id, 30, 'history one');
    await sleep();
    await move(a.id, b.id, 20, 'history two');
    await page.goto(`${base}/ops/history/account/${a.id}`);
    expect(await page.locator('#versions tr.version').count()).to.equal(3);
    expect(JSON.parse(String(await page.textContent('#current'))).balance).to.equal(50);
    await shot(page, `ops-history-${adapter}`);
    // each version's time is a link to the state then
    const expected = [100, 70, 50];
    for (let i = 0; i < 3; i++) {
      await Promise.all([page.waitForURL(/\?at=/), page.locator('#versions tr.version a.at').nth(i).click()]);
      expect(JSON.parse(String(await page.textContent('#state-at'))).balance, `version ${i}`).to.equal(expected[i]);
      await page.goBack();
    }
    // the time form: before the account existed
    await page.fill('#time-travel input[name=at]', '2001-01-01T00:00:00.000');
    await Promise.all([page.waitForURL(/at=2001/), page.click('#show-at')]);
    expect(await page.textContent('#state-at')).to.equal('did not exist');
    // bad input: 4xx
    expect((await page.goto(`${base}/ops/history/account/${a.id}?at=soon`))?.status()).to.equal(400);
    expect((await page.goto(`${base}/ops/history/nosuchmodel/${a.id}`))?.status()).to.equal(404);
    expect((await page.goto(`${base}/ops/history/transactlog/${a.id}`))?.status()).to.equal(404); // the hook's own models are not documents
  });

  // ---------------------------------------------------------------------------------------------
  // The ops page at a glance (issue 23, item 5)

  /** A log written straight to the store (no owner runs it): what a crashed instance leaves behind. */
  async function orphan(label: string, fields: Partial<LogDocument> = {}): Promise<LogDocument> {
    const now = Date.now();
    const doc = newLog({ id: newId(), state: 'pending', mode: 'batch', onCrash: 'rollback', owner: 'crashed#1', leaseUntil: now - 60_000, startedAt: now - 90_000, label, ...fields });
    expect(await engine().store.insertLog(doc)).to.equal(true);
    return doc;
  }

  /** What a settle would change on a log: compared before and after a dry run or a refused POST. */
  const stateOf = async (id: string) => {
    const doc = await log(id);
    return { state: doc.state, epoch: doc.epoch, recoveries: doc.recoveries, owner: doc.owner, leaseUntil: doc.leaseUntil, error: doc.error };
  };

  async function docsShot(name: string): Promise<void> {
    if (DOCS_SHOTS && adapter === 'postgresql') await page.screenshot({ path: join(REPO, 'docs', `${name}.png`), fullPage: true });
  }

  const errorCode = async (): Promise<string | null> => page.getAttribute('#error', 'data-code');

  it("shows a strip of counts per state, each the database's own count by an indexed query, as badges; a count opens what it counts", async function () {
    this.timeout(60_000);
    const a = await account('Glance', 1_000, 'glance open');
    const b = await account('Glancer', 0, 'glance open');
    await move(a.id, b.id, 10, 'glance move');
    await orphan('glance stuck');
    await orphan('glance needs attention', { attention: { code: 'recovery_failed', message: 'the datastore refused the undo', at: Date.now() } });
    await orphan('glance in flight', { leaseUntil: Date.now() + 3_600_000, startedAt: Date.now() });
    await orphan('glance rolled back yesterday', { state: 'rolled-back', startedAt: Date.now() - 2 * 3_600_000, endedAt: Date.now() - 2 * 3_600_000 });

    await page.goto(`${base}/ops`);
    const now = Date.now();
    const count = async (id: string): Promise<number> => Number((await page.textContent(`#${id} b.count`))?.replace('+', ''));
    const db = app.models.transactlog;
    const active = (await db.find({ where: { state: ['pending', 'rolling-back'] } })) as unknown as LogDocument[];
    expect(await count('count-pending')).to.equal(await db.count({ state: 'pending' }));
    expect(await count('count-rolling-back')).to.equal(await db.count({ state: 'rolling-back' }));
    expect(await count('count-stuck')).to.equal(active.filter((l) => Number(l.leaseUntil) < now).length);
    expect(await count('count-attention')).to.equal(active.filter((l) => l.attention !== null && l.attention !== undefined).length).and.to.be.greaterThan(0);
    expect(await count('count-committed-hour')).to.equal(await db.count({ state: 'committed', startedAt: { '>=': now - 3_600_000 } })).and.to.be.greaterThan(2);
    expect(await count('count-committed-day')).to.equal(await db.count({ state: 'committed', startedAt: { '>=': now - 86_400_000 } }));
    expect(await count('count-rolled-back-hour')).to.equal(await db.count({ state: 'rolled-back', startedAt: { '>=': now - 3_600_000 } }));
    expect(await count('count-rolled-back-day')).to.equal((await count('count-rolled-back-hour')) + 1);
    // badges: the state's word in a badge of its class, the same class in the rows
    expect(await page.getAttribute('#count-pending .badge', 'class')).to.equal('badge state-pending');
    expect(await page.textContent('#count-attention .badge')).to.equal('needs attention');
    expect(await page.locator('#transactions span.badge.state-committed').count()).to.be.greaterThan(0);
    await shot(page, `ops-overview-${adapter}`);
    await docsShot('ops-overview');
    // a count opens the list it counts
    await Promise.all([page.waitForURL(/state=pending/), page.click('#count-pending')]);
    const states = await page.locator('#transactions tr[data-id] td:nth-child(2)').allTextContents();
    expect(states.length).to.be.greaterThan(0);
    expect(new Set(states)).to.deep.equal(new Set(['pending']));
    await Promise.all([page.waitForURL(/\/ops\/stuck$/), page.click('#count-stuck')]);

    // auto-refresh: a link turns the page's <meta http-equiv="refresh"> on, another off; no script runs
    await page.goto(`${base}/ops`);
    expect(await page.locator('meta[http-equiv=refresh]').count()).to.equal(0);
    await Promise.all([page.waitForURL(/refresh=10/), page.click('#refresh a[data-refresh="10"]')]);
    expect(await page.getAttribute('meta[http-equiv=refresh]', 'content')).to.equal('10');
    expect(await page.locator('script').count()).to.equal(0);
    await Promise.all([page.waitForURL((url) => !url.search.includes('refresh')), page.click('#refresh a[data-refresh="off"]')]);
    expect(await page.locator('meta[http-equiv=refresh]').count()).to.equal(0);
    expect((await page.goto(`${base}/ops?refresh=1`))?.status()).to.equal(400);
    expect(await errorCode()).to.equal('validation_failed');
  });

  it('searches by transaction id, document, label and time range, across pages by key (each page its cursor), newest first as the database orders them', async function () {
    this.timeout(90_000);
    const a = await account('Seeker', 10_000, 'search-test open');
    const b = await account('Found', 0, 'search-test open');
    const moves: string[] = [];
    for (let i = 0; i < 10; i++) moves.push(await move(a.id, b.id, 10, `search-test move ${i}`));
    const ids = async (): Promise<string[]> => page.locator('#transactions tr[data-id]').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-id') as string));
    /** Every page from here on, by the "older" link; each link carries the last row's cursor. */
    const allPages = async (): Promise<string[]> => {
      const seen = await ids();
      while ((await page.locator('#next').count()) > 0) {
        expect(await page.getAttribute('#next', 'href')).to.match(/before=[\d.]+(~|%7E)/);
        await Promise.all([page.waitForURL(/before=/), page.click('#next')]);
        seen.push(...(await ids()));
      }
      return seen;
    };
    const newestFirst = async (where: Record<string, unknown>): Promise<string[]> => ((await app.models.transactlog.find({ where, sort: [{ startedAt: 'DESC' }, { id: 'DESC' }] })) as unknown as LogDocument[]).map((l) => String(l.id));

    // by id: that one alone
    await page.goto(`${base}/ops?id=${moves[3]}`);
    expect(await ids()).to.deep.equal([moves[3]]);
    await page.goto(`${base}/ops?id=${newId()}`);
    expect(await ids()).to.deep.equal([]);
    // by label, across pages by key: every match once, in the database's order
    await page.goto(`${base}/ops?label=search-test`);
    expect(await page.textContent('#summary')).to.match(/^12 transaction\(s\); page 1 of 3/);
    const byLabel = await allPages();
    expect(byLabel).to.deep.equal(await newestFirst({ label: { contains: 'search-test' } }));
    // back by key (after=), then to the first page again
    await Promise.all([page.waitForURL(/after=/), page.click('#prev')]);
    expect(await ids()).to.deep.equal(byLabel.slice(PAGE_SIZE, 2 * PAGE_SIZE));
    await Promise.all([page.waitForURL((url) => !url.search.includes('after') && !url.search.includes('page')), page.click('#prev')]);
    expect(await ids()).to.deep.equal(byLabel.slice(0, PAGE_SIZE));
    // by document: the transactions that touched it (the store's index on documents), across pages
    await page.goto(`${base}/ops?document=account:${a.id}`);
    expect(await page.textContent('#summary')).to.match(/^11 transaction\(s\)/);
    const touching = await allPages();
    expect(touching).to.deep.equal([...moves].reverse().concat(a.tx));
    // a page three deep, then back by its "after" cursor
    await page.goto(`${base}/ops?label=search-test&from=${new Date(Date.now() - 600_000).toISOString().slice(0, 19)}`);
    expect(await allPages()).to.deep.equal(byLabel);
    expect(await page.textContent('#summary')).to.match(/page 3 of 3/);
    await Promise.all([page.waitForURL(/after=[\d.]+(~|%7E)/), page.click('#prev')]);
    expect(await page.textContent('#summary')).to.match(/page 2 of 3/);
    expect(await ids()).to.deep.equal(byLabel.slice(PAGE_SIZE, 2 * PAGE_SIZE));
    // a time range that ends before everything; document and state together
    await page.goto(`${base}/ops?document=account:${a.id}&to=2001-01-01T00:00:00`);
    expect(await ids()).to.deep.equal([]);
    await page.goto(`${base}/ops?document=account:${b.id}&label=open`);
    expect(await ids()).to.deep.equal([b.tx]);
    // open one: its images as JSON beside the table, parsing back to what the log holds
    await page.goto(`${base}/ops/transactions/${moves[0]}`);
    const stored = await log(moves[0]);
    expect(JSON.parse(String(await page.textContent('#json-0-before')))).to.deep.equal(JSON.parse(JSON.stringify(stored.steps[0].before)));
    expect(JSON.parse(String(await page.textContent('#json-1-after')))).to.deep.equal(JSON.parse(JSON.stringify(stored.steps[1].after)));
    await shot(page, `ops-transaction-json-${adapter}`);
    await docsShot('ops-transaction');
    // bad input: 400 with the registry's code
    for (const query of ['document=account', 'document=Account:x', `before=${encodeURIComponent('x~y')}`, `before=1~a&after=1~b`, `id=${encodeURIComponent('<x>')}`]) {
      expect((await page.goto(`${base}/ops?${query}`))?.status(), query).to.equal(400);
      expect(await errorCode(), query).to.equal('validation_failed');
    }
  });

  it('settles several stuck transactions at once: a dry run (recovery\'s own decision, nothing written), then one confirmation with one reason; the database checked after each step', async function () {
    this.timeout(90_000);
    const back = await orphan('bulk roll back');
    const forward = await orphan('bulk roll forward', { onCrash: 'rollforward' });
    const live = await orphan('bulk live', { leaseUntil: Date.now() + 3_600_000, startedAt: Date.now() });
    const subjects = [back.id, forward.id, live.id];
    const snapshot = async () => Promise.all(subjects.map(stateOf));
    const initial = await snapshot();
    const logsBefore = await logCount();

    // a viewer: no selection, no bulk action; the dry run and the POST refused
    const viewer = await openContext();
    try {
      await viewer.setExtraHTTPHeaders({ 'x-operator': 'viewer' });
      const p = await newPage(viewer);
      await p.goto(`${base}/ops/stuck`);
      expect(await p.locator('#bulk-form').count()).to.equal(0);
      expect(await p.locator('input[type=checkbox]').count()).to.equal(0);
      expect((await p.goto(`${base}/ops/stuck/preview?id=${back.id}`))?.status()).to.equal(403);
      expect(await p.getAttribute('#error', 'data-code')).to.equal('forbidden');
    } finally {
      await viewer.close();
    }

    // select two on the stuck page (the live one is not listed), then the dry run
    await page.goto(`${base}/ops/stuck`);
    expect(await page.locator(`#stuck tr[data-id="${live.id}"]`).count()).to.equal(0);
    await page.check(`#stuck tr[data-id="${back.id}"] input.select`);
    await page.check(`#stuck tr[data-id="${forward.id}"] input.select`);
    await Promise.all([page.waitForURL(/\/ops\/stuck\/preview\?/), page.click('#bulk-preview')]);
    expect(new URL(page.url()).searchParams.getAll('id').sort()).to.deep.equal([back.id, forward.id].sort());
    const actionOf = async (id: string): Promise<string | null> => page.getAttribute(`#preview tr[data-id="${id}"]`, 'data-action');
    expect(await actionOf(back.id)).to.equal('roll back');
    expect(await actionOf(forward.id)).to.equal('roll forward');
    await shot(page, `ops-bulk-preview-${adapter}`);
    await docsShot('ops-bulk-preview');
    // the live one, named by hand: left alone
    await page.goto(`${base}/ops/stuck/preview?id=${back.id}&id=${forward.id}&id=${live.id}`);
    expect(await actionOf(live.id)).to.equal('nothing');
    expect(await page.textContent('#preview-summary')).to.equal('1 to roll back, 1 to roll forward, 1 left alone.');
    expect(await snapshot(), 'a dry run writes nothing').to.deep.equal(initial);

    // bad input: 4xx with a machine-readable code, nothing written
    const tooMany = Array.from({ length: 101 }, () => `id=${newId()}`).join('&');
    for (const query of ['', tooMany, `id=${back.id}&id=${back.id}`, `id=${encodeURIComponent('<x>')}`]) {
      expect((await page.goto(`${base}/ops/stuck/preview?${query}`))?.status(), query.slice(0, 40)).to.equal(400);
      expect(await errorCode()).to.equal('validation_failed');
    }
    await page.goto(`${base}/ops/stuck/preview?id=${back.id}&id=${forward.id}&id=${live.id}`);
    const token = (await page.getAttribute('#bulk-settle-form input[name=_csrf]', 'value')) as string;
    const ids = (await page.getAttribute('#bulk-settle-form input[name=ids]', 'value')) as string;
    const postBulk = (form: Record<string, string>) => page.request.post(`${base}/ops/stuck/settle`, { form, maxRedirects: 0 });
    expect((await postBulk({ ids, reason: 'no token' })).status()).to.equal(403);
    expect((await postBulk({ _csrf: token, ids, reason: '  ' })).status()).to.equal(400);
    expect((await postBulk({ _csrf: token, ids: '', reason: 'none selected' })).status()).to.equal(400);
    const badIds = await postBulk({ _csrf: token, ids: `${back.id},<x>`, reason: 'bad id' });
    expect(badIds.status()).to.equal(400);
    expect(await badIds.text()).to.contain('data-code="validation_failed"');
    expect(await snapshot(), 'refused POSTs write nothing').to.deep.equal(initial);
    expect(await logCount()).to.equal(logsBefore);

    // confirm once, one reason for all
    await page.fill('#bulk-settle-form input[name=reason]', 'instance i-7 died in the deploy');
    await Promise.all([page.waitForURL(/\/ops\/stuck\/settle$/), page.click('#bulk-settle')]);
    const outcomeOf = async (id: string): Promise<string | null> => page.getAttribute(`#bulk-result tr[data-id="${id}"]`, 'data-outcome');
    expect(await outcomeOf(back.id)).to.equal('settled');
    expect(await outcomeOf(forward.id)).to.equal('settled');
    expect(await outcomeOf(live.id)).to.equal('skipped');
    expect(await page.textContent('#notice')).to.contain('Settled 2 of 3');
    const [rolledBack, rolledForward, untouched] = await Promise.all(subjects.map(log));
    expect(rolledBack.state).to.equal('rolled-back');
    expect(rolledBack.error?.message).to.contain(`settled by ${OPERATOR}`).and.to.contain('instance i-7 died in the deploy');
    expect(rolledForward.state).to.equal('committed');
    expect(await stateOf(live.id)).to.deep.equal(initial[2]);
    expect(untouched.state).to.equal('pending');
    expect(await logCount(), 'settling writes no new log').to.equal(logsBefore);
  });
});
