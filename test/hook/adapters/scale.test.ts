/**
 * Operating at scale: declared indexes (created by `npm run migrate` / lift in development, used
 * by the planner), and reconciliation computed by the datastore a page at a time — right answers
 * (injected mismatches found, pages cover all, no false mismatch while transactions run) without
 * reading whole collections through the app.
 */
import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { Client } from 'pg';
import type { Engine } from '../../../lib/engine';
import { isTransactError } from '../../../lib/core/errors';
import { newId } from '../../../lib/core/ids';
import { createIndexes, declaredIndexes } from '../../../lib/store/indexes';
import { newLog } from '../../../lib/core/log-document';
import { listTransactions } from '../../../lib/operator/transactions';
import { findPgLogs } from '../../../lib/store/postgres/store';
import type { StoreView, ViewRequest } from '../../../lib/store/contract';
import type { WaterlineModel } from '../../../lib/core/waterline';
import { type LoadedApp, loadApp, lowerApp } from '../../support/app';
import type { Mismatch, Reconciliation } from '../../../api/lib/reconciliation';
import { asFund, engineOf, fundLib, reconciliationLib, seedLoans, wipeFund } from '../../support/fund';
import { forEachAdapter } from '../../support/targets';

const ROOT = join(__dirname, '..', '..', '..', '..');


type Page = Reconciliation;

/** Every page of the reconciliation at `limit`, in order. */
async function allPages(app: LoadedApp, limit: number): Promise<Page[]> {
  const pages: Page[] = [];
  let after: string | null = null;
  for (let i = 0; i < 1000; i++) {
    const page = await reconciliationLib.reconcile(asFund(app), { page: reconciliationLib.pageOf({ limit, ...(after === null ? {} : { after }) }) });
    pages.push(page);
    if (page.next === null || page.next === undefined) return pages;
    after = page.next;
  }
  throw new Error('more than 1000 pages');
}

/** Counts the rows the store hands to committed reads (what the app would otherwise load). */
function countViewRows(engine: Engine): { rows: number; restore(): void } {
  const store = engine.store as unknown as { readView(requests: readonly ViewRequest[]): Promise<StoreView> };
  const original = store.readView.bind(store);
  const counter = {
    rows: 0,
    restore: () => {
      store.readView = original;
    },
  };
  store.readView = async (requests) => {
    const view = await original(requests);
    for (const rows of view.rows) counter.rows += rows.length;
    return view;
  };
  return counter;
}

// ---------------------------------------------------------------------------------------------
// Indexes

describe('declared indexes', function () {
  const model = (indexes: unknown, attributes: Record<string, unknown> = { a: { type: 'string' }, b: { type: 'number', columnName: 'b_col' } }): WaterlineModel =>
    ({ identity: 'thing', tableName: 'thing', primaryKey: 'id', attributes, indexes }) as unknown as WaterlineModel;

  it('resolves attribute names to columns, names indexes deterministically, and refuses a typo with the model and index in the error', function () {
    const [first, second] = declaredIndexes(model([{ fields: ['a', '-b'] }, { fields: ['a'], unique: true }]));
    expect(first).to.deep.include({ table: 'thing', name: 'thing_a_b_col_idx', unique: false, columns: [{ column: 'a', descending: false }, { column: 'b_col', descending: true }] });
    expect(second).to.deep.include({ name: 'thing_a_key', unique: true });
    const long = declaredIndexes(model([{ fields: ['a'], name: 'x'.repeat(80) }]))[0];
    expect(Buffer.byteLength(long.name)).to.be.at.most(63);
    expect(declaredIndexes(model([{ fields: ['a'], trigram: true, name: 'a_trgm' }]))[0]).to.deep.include({ name: 'thing_a_trgm', trigram: true, elements: false, unique: false });
    for (const bad of [[{ fields: ['nope'] }], [{ fields: [] }], 'paymentId', [{ fields: ['a', 'b'], elements: true }], [{ fields: ['b'], trigram: true }], [{ fields: ['a', 'b'], trigram: true }], [{ fields: ['a'], trigram: true, unique: true }]]) {
      const err = (() => {
        try {
          declaredIndexes(model(bad));
          return null;
        } catch (e) {
          return e;
        }
      })();
      expect(isTransactError(err, 'validation_failed'), String(err)).to.equal(true);
      expect((err as { path: string }).path).to.match(/^thing\.indexes\.\d$/);
    }
  });
});

forEachAdapter('indexes as part of the schema', (target, adapter) => {
  let app: LoadedApp;
  before(async function () {
    this.timeout(60_000);
    if (adapter === 'postgresql') {
      // `npm run migrate` on a fresh database creates the tables and the declared indexes.
      const env = { ...process.env, DATASTORE: 'postgresql', PG_URL: target().location, NODE_ENV: 'development', sails_log__level: 'error' };
      const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, 'dist', 'scripts', 'migrate.js')], { env, cwd: ROOT, timeout: 60_000 });
      expect(stdout).to.contain('payment.payment_paymentId_key');
    }
    app = await loadApp(target(), { migrate: adapter === 'postgresql' ? 'safe' : 'drop' });
  });
  after(async function () {
    if (app !== undefined) await lowerApp(app);
  });

  it('exist after migrate, under their declared names and columns; createIndexes is idempotent', async function () {
    const created = await createIndexes(app);
    const names = created.map((index) => `${index.model}.${index.name}`);
    // PostgreSQL: the declared names; MongoDB names an index by its keys.
    expect(names).to.include.members(adapter === 'mongo'
      ? ['payment.paymentId_1', 'ledgerentry.investor_1_account_1', 'allocation.order_1', 'allocation.loan_1', 'order.status_1_createdAt_1', 'transactlog.state_1_leaseUntil_1']
      : ['payment.payment_paymentId_key', 'ledgerentry.ledgerentry_investor_account_idx', 'allocation.allocation_order_idx', 'allocation.allocation_loan_idx', 'order.order_status_createdAt_idx', 'transactlog.transactlog_state_lease']);
    if (adapter === 'disk') {
      expect(created.every((index) => !index.created)).to.equal(true);
      return;
    }
    if (adapter === 'postgresql') {
      const client = new Client({ connectionString: target().location });
      await client.connect();
      try {
        const rows = (await client.query(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'`)).rows as { indexname: string; indexdef: string }[];
        const def = (name: string): string => rows.find((row) => row.indexname === name)?.indexdef ?? '(missing)';
        expect(def('payment_paymentId_key')).to.match(/CREATE UNIQUE INDEX .* ON public\.payment USING btree \("paymentId"\)/);
        expect(def('ledgerentry_investor_account_idx')).to.contain('(investor, account)');
        expect(def('payment_status_createdAt_idx')).to.contain('(status, "createdAt")');
        expect(def('transactlog_documents')).to.contain('gin');
        expect(def('transactlock_lease')).to.contain('"leaseUntil"');
        // The ops page's label search: pg_trgm's GIN index on the label, which its ILIKE takes.
        expect(def('transactlog_label_trgm')).to.match(/USING gin \(label (public\.)?gin_trgm_ops\)/);
        expect(created.find((index) => index.name === 'transactlog_label_trgm')).to.deep.include({ created: true });
        // The planner takes it for a callback's lookup (sequential scans off: the table is small here).
        await client.query('SET enable_seqscan = off');
        const plan = (await client.query(`EXPLAIN SELECT * FROM "payment" WHERE "paymentId" = $1`, ['pay_x'])).rows.map((row: Record<string, string>) => row['QUERY PLAN']).join('\n');
        expect(plan).to.match(/Index (Only )?Scan using "?payment_paymentId_key"?/);
        const ledgerPlan = (await client.query(`EXPLAIN SELECT * FROM "ledgerentry" WHERE "investor" = $1`, ['x'])).rows.map((row: Record<string, string>) => row['QUERY PLAN']).join('\n');
        expect(ledgerPlan).to.contain('ledgerentry_investor_account_idx');
        // The very SQL a label search runs (lib/store/postgres/store.ts findPgLogs), explained.
        let asked: { sql: string; params: unknown[] } | undefined;
        await findPgLogs({ query: async (sql: string, params: unknown[] = []) => ((asked = { sql, params }), { rows: [], rowCount: 0 }) }, '"transactlog"', { where: { label: { contains: 'Pay_ment' } }, sort: [{ startedAt: 'DESC' }, { id: 'DESC' }], limit: 50 });
        const labelPlan = (await client.query(`EXPLAIN ${asked?.sql ?? ''}`, asked?.params)).rows.map((row: Record<string, string>) => row['QUERY PLAN']).join('\n');
        expect(labelPlan).to.contain('transactlog_label_trgm');
        expect(asked?.sql).to.contain('"label" ILIKE $1');
        expect(asked?.params[0]).to.equal('%Pay\\_ment%');
      } finally {
        await client.end();
      }
      return;
    }
    const db = app.models.payment.getDatastore().manager as { collection(name: string): { listIndexes(): { toArray(): Promise<{ key: Record<string, number>; unique?: boolean }[]> } } };
    const paymentIndexes = await db.collection('payment').listIndexes().toArray();
    expect(paymentIndexes.find((index) => JSON.stringify(index.key) === '{"paymentId":1}')?.unique).to.equal(true);
    const ledgerIndexes = await db.collection('ledgerentry').listIndexes().toArray();
    expect(ledgerIndexes.map((index) => JSON.stringify(index.key))).to.include('{"investor":1,"account":1}');
    const logIndexes = await db.collection('transactlog').listIndexes().toArray();
    expect(logIndexes.map((index) => JSON.stringify(index.key))).to.include.members(['{"state":1,"leaseUntil":1}', '{"documents":1}']);
  });
});

forEachAdapter('label search (the ops page and the REST listing)', (target) => {
  let app: LoadedApp;
  const labels = ['Payment Succeeded', 'payment failed', 'PAYMENT refunded', 'refund_a', 'refundXa', '50% off', 'order', null];
  before(async function () {
    app = await loadApp(target(), { migrate: 'drop', transact: { scheduler: false } });
    const engine = engineOf(app);
    // Log documents as the engine writes them (labels as given), newest last.
    for (const [i, label] of labels.entries()) {
      const log = newLog({ id: newId(), state: 'committed', mode: 'batch', onCrash: 'rollback', owner: 'test', leaseUntil: 0, startedAt: 1_000 + i, label });
      await engine.store.insertLog({ ...log, endedAt: 1_000 + i });
    }
  });
  after(async function () {
    if (app !== undefined) await lowerApp(app);
  });
  const search = async (label: string, extra: Record<string, unknown> = {}): Promise<{ labels: (string | null)[]; total?: number }> => {
    const page = await listTransactions(engineOf(app), { label, limit: 50, skip: 0, ...extra }, { count: true });
    return { labels: page.items.map((item) => item.label), total: page.total };
  };

  it('matches a substring whatever its case, newest first, counted alike', async function () {
    expect(await search('payment')).to.deep.equal({ labels: ['PAYMENT refunded', 'payment failed', 'Payment Succeeded'], total: 3 });
    expect(await search('SUCCEEDED')).to.deep.equal({ labels: ['Payment Succeeded'], total: 1 });
    expect(await search('ent F')).to.deep.equal({ labels: ['payment failed'], total: 1 });
    expect(await search('no such label')).to.deep.equal({ labels: [], total: 0 });
  });

  it("takes the text literally: '_' and '%' are characters, not wildcards", async function () {
    expect(await search('d_a')).to.deep.equal({ labels: ['refund_a'], total: 1 });
    expect(await search('%')).to.deep.equal({ labels: ['50% off'], total: 1 });
  });

  it('combines with the other filters and pages by key', async function () {
    expect((await search('payment', { model: 'account' })).labels).to.deep.equal([]);
    const first = await listTransactions(engineOf(app), { label: 'PAYMENT', limit: 2, skip: 0 });
    const last = first.items[first.items.length - 1];
    const next = await listTransactions(engineOf(app), { label: 'PAYMENT', limit: 2, skip: 0, before: { startedAt: last.startedAt, id: last.id } });
    expect([...first.items, ...next.items].map((item) => item.label)).to.deep.equal(['PAYMENT refunded', 'payment failed', 'Payment Succeeded']);
    expect((await search('payment', { from: 1_001, to: 1_002 })).labels).to.deep.equal(['payment failed']);
  });
});

// ---------------------------------------------------------------------------------------------
// Reconciliation at scale

const LINES_PER_INVESTOR = 10;
/**
 * 20,000 cash lines on PostgreSQL. sails-disk and FerretDB compute every page by streaming all
 * lines (Waterline chunks; FerretDB runs $group in its own process, over a collection scan) and
 * write slowly: 4,000 lines on sails-disk and 2,000 on FerretDB keep the suite inside the CI
 * budget while still paging through thousands of documents.
 */
const investorsOn = (adapter: string): number => (adapter === 'postgresql' ? 2_000 : adapter === 'disk' ? 400 : 200);
const loansOn = (adapter: string): number => (adapter === 'postgresql' ? 200 : 50);
const ALLOCATIONS_PER_LOAN = 10;

forEachAdapter('reconciliation at scale', (target, adapter) => {
  let app: LoadedApp;
  const injected: Mismatch[] = [];
  const INVESTORS = investorsOn(adapter);
  const LOANS = loansOn(adapter);
  before(async function () {
    this.timeout(120_000);
    app = await loadApp(target(), { migrate: 'drop' });
    await wipeFund(app);
    // Seeded natively (Waterline createEach in chunks, not one transaction per row): consistent data.
    const investors: Record<string, unknown>[] = [];
    const lines: Record<string, unknown>[] = [];
    for (let i = 0; i < INVESTORS; i++) {
      const id = newId();
      let cash = 0;
      for (let j = 0; j < LINES_PER_INVESTOR; j++) {
        const amount = 1 + randomInt(10_000);
        cash += amount;
        lines.push({ id: newId(), entry: `seed:${id}:${j}`, investor: id, account: 'cash', amount, memo: null, paymentId: null, order: null });
      }
      lines.push({ id: newId(), entry: `seed:${id}`, investor: id, account: 'gateway', amount: -cash, memo: null, paymentId: null, order: null });
      investors.push({ id, name: `investor ${i}`, cash, invested: 0 });
    }
    const loans: Record<string, unknown>[] = [];
    const allocations: Record<string, unknown>[] = [];
    for (let i = 0; i < LOANS; i++) {
      const id = newId();
      let raised = 0;
      for (let j = 0; j < ALLOCATIONS_PER_LOAN; j++) {
        const amount = 1 + randomInt(5_000);
        raised += amount;
        allocations.push({ id: newId(), order: `order-${i}-${j}`, loan: id, platform: 'p', amount });
      }
      loans.push({ id, platform: 'p', borrower: `borrower ${i}`, target: raised * 2, raised, status: 'open' });
    }
    // Injected, behind the engine's back: wrong cash, a ledger line of a missing investor, wrong raised.
    for (const index of [0, 17, Math.floor(INVESTORS / 2), INVESTORS - 2]) {
      const investor = investors[index];
      injected.push({ model: 'investor', id: String(investor.id), field: 'cash', expected: Number(investor.cash), actual: Number(investor.cash) + 1 });
      investor.cash = Number(investor.cash) + 1;
    }
    const ghost = newId();
    lines.push({ id: newId(), entry: 'ghost', investor: ghost, account: 'cash', amount: 42, memo: null, paymentId: null, order: null });
    injected.push({ model: 'investor', id: ghost, field: 'cash', expected: 42, actual: null });
    for (const index of [3, LOANS - 7]) {
      const loan = loans[index];
      injected.push({ model: 'loan', id: String(loan.id), field: 'raised', expected: Number(loan.raised), actual: 0 });
      loan.raised = 0;
    }
    for (const [model, rows] of [['investor', investors], ['ledgerentry', lines], ['loan', loans], ['allocation', allocations]] as const) {
      for (let i = 0; i < rows.length; i += 2_000) await app.models[model].createEach(rows.slice(i, i + 2_000));
    }
  });
  after(async function () {
    if (app !== undefined) await lowerApp(app);
  });

  const key = (m: Mismatch): string => `${m.model}:${m.id}`;

  it('finds exactly the injected mismatches, page by page (pages cover all), without loading the collections', async function () {
    this.timeout(60_000);
    const counter = countViewRows(engineOf(app));
    const started = Date.now();
    let pages: Page[];
    try {
      pages = await allPages(app, 2);
    } finally {
      counter.restore();
    }
    const ms = Date.now() - started;
    const found = pages.flatMap((page) => page.mismatches);
    expect(found.map(key)).to.deep.equal([...new Set(found.map(key))]); // no key twice
    expect(found).to.have.deep.members(injected);
    // The committed re-check reads only the candidates' documents and lines, never the collections.
    expect(counter.rows, `rows handed to committed reads for ${found.length} mismatches`).to.be.below(400);
    expect(pages.length).to.equal(Math.ceil(injected.length / 2));
    expect(pages.every((page) => page.mismatches.length <= 2)).to.equal(true);
    expect(pages[0].ok).to.equal(false);
    console.log(`      ${adapter}: ${INVESTORS * LINES_PER_INVESTOR} cash lines, ${pages.length} pages in ${ms} ms, ${counter.rows} rows through committed reads`);

    const detailed = await reconciliationLib.reconcile(asFund(app), { detailed: true, page: reconciliationLib.pageOf({ limit: 100 }) });
    expect(detailed.mismatches).to.have.length(injected.length);
    expect(detailed.totals).to.include({ allocated: Number(detailed.totals?.raised) + injected.filter((m) => m.model === 'loan').reduce((sum, m) => sum + m.expected, 0) });
  });

  it('refuses a wrong page parameter with a typed error', function () {
    for (const [query, path] of [[{ limit: 0 }, 'limit'], [{ limit: 'x' }, 'limit'], [{ after: 'nomodel:1' }, 'after'], [{ stuckSkip: -1 }, 'stuckSkip']] as const) {
      const err = (() => {
        try {
          reconciliationLib.pageOf(query);
          return null;
        } catch (e) {
          return e as { code?: string; path?: string };
        }
      })();
      expect(err, JSON.stringify(query)).to.include({ code: 'validation_failed', path });
    }
  });

  it('shows no false mismatch while orders and withdrawals run', async function () {
    this.timeout(120_000);
    // Put the injected ones right (behind the engine, as they were made), then load.
    for (const m of injected) {
      if (m.actual === null) continue;
      await app.models[m.model].update({ id: m.id }).set({ [m.field]: m.expected });
    }
    const ghost = injected.find((m) => m.actual === null);
    const investorIds = (await app.models.investor.find({ where: {}, limit: 4, sort: 'id ASC' })).map((row) => String(row.id));
    await seedLoans(app, 1, Array.from({ length: 6 }, () => ({ target: 400_000 })));
    let running = true;
    const seen = { checks: 0, false: 0, unavailable: 0, sample: [] as Mismatch[] };
    const checker = async (): Promise<void> => {
      while (running) {
        try {
          const page = await reconciliationLib.reconcile(asFund(app), { page: reconciliationLib.pageOf({ limit: 50 }) });
          seen.checks++;
          const wrong = page.mismatches.filter((m) => m.id !== ghost?.id);
          if (wrong.length > 0) {
            seen.false++;
            if (seen.sample.length === 0) seen.sample = wrong;
          }
        } catch (err) {
          if (!isTransactError(err, 'unavailable')) throw err;
          seen.unavailable++;
        }
        // A monitor polls, it does not spin: on sails-disk and FerretDB a check streams every line
        // through this process (or FerretDB's), which would otherwise starve the transactions.
        await sleep(adapter === 'disk' ? 400 : adapter === 'mongo' ? 100 : 50);
      }
    };
    const checking = checker();
    let done = 0;
    // sails-disk and FerretDB take seconds per order over this many documents (they scan collections).
    const orders = adapter === 'postgresql' ? 30 : adapter === 'disk' ? 9 : 4;
    const worker = async (): Promise<void> => {
      // At least two reconciliations must run beside the orders: a faster protocol (v3 on sails-disk)
      // finishes the orders before a slow reconciliation ends, so the load goes on (bounded) until they have.
      while (done < orders || (seen.checks < 2 && done < orders * 5)) {
        done++;
        const investor = investorIds[randomInt(investorIds.length)];
        try {
          if (randomInt(3) === 0) await fundLib.withdraw(asFund(app), { investor, amount: 1 + randomInt(500) });
          else await fundLib.executeOrder(asFund(app), await fundLib.planCashOrder(asFund(app), { investor, amount: 1_000 + randomInt(5_000), maxPerLoan: 2_000 }));
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (!['insufficient_funds', 'insufficient_capacity', 'lock_timeout', 'bound_violation'].includes(code ?? '')) throw err;
        }
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    running = false;
    await checking;
    console.log(`      ${adapter}: ${seen.checks} reconciliations under load, ${seen.false} with a false mismatch, ${seen.unavailable} unavailable`);
    expect(seen.checks).to.be.at.least(2);
    expect(seen.false, JSON.stringify(seen.sample)).to.equal(0);
    const final = await reconciliationLib.reconcile(asFund(app));
    expect(final.mismatches.map(key)).to.deep.equal(ghost === undefined ? [] : [key(ghost)]);
  });
});
