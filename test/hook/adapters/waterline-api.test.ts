/**
 * Waterline's own transaction API — `datastore.transaction(async (db) => …)` with model calls
 * `.usingConnection(db)` — run by the engine, on every adapter (PostgreSQL on both engine paths,
 * with `waterlineTransactions: 'engine'`): all or nothing, locked reads, logged, crash-safe; and
 * what it cannot run inside is refused with nothing written. Plus the pure criteria checks, and
 * PostgreSQL's own native transaction left in place by default.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import type { Engine } from '../../../lib/engine';
import { isTransactError, type TransactError } from '../../../lib/core/errors';
import { newId } from '../../../lib/core/ids';
import { matches } from '../../../lib/query/criteria';
import { columnMap, compileWhere, restrictedIds, sortImages, window } from '../../../lib/waterline-api/criteria';
import { type LoadedApp, loadApp, lowerApp, useApp } from '../../support/app';
import { type ChildResult, runChild } from '../../support/child';
import { type AdapterName, forEachAdapter, forEachPath, freshTarget, type Protocol, protocolConfig, type Target } from '../../support/targets';
import { ACCOUNTS, datastoreOf, modelOf, type Row, TRANSFER_ID, waterlineTransfer } from '../../support/waterline-api';

const C = 'a00000000000000000000003';

/** The TransactError a Waterline call failed with: Waterline wraps adapter errors (`err.raw`). */
async function refusal(promise: PromiseLike<unknown>): Promise<TransactError<string>> {
  const outcome = await Promise.resolve(promise).then(
    () => null,
    (err: unknown) => err,
  );
  if (isTransactError(outcome)) return outcome;
  const raw = (outcome as { raw?: unknown } | null)?.raw;
  if (isTransactError(raw)) return raw;
  throw new Error(`expected a TransactError, got ${outcome === null ? 'success' : String(outcome)}`);
}

const byId = (rows: Row[]): Row[] => [...rows].sort((x, y) => String(x.id).localeCompare(String(y.id)));

describe('waterline-api criteria (pure)', function () {
  const columns = columnMap({ id: { columnName: '_id' }, owner: {}, balance: {}, frozen: {} });
  const doc = { id: 'x', owner: 'Alice', balance: 100, frozen: false, meta: null };

  it("compiles stage-3 where clauses on column names into committed reads' where clauses on attributes", function () {
    expect(compileWhere({ _id: 'x', balance: { '>': 50 }, or: [{ owner: 'Bob' }] }, columns, 'account')).to.deep.equal({ id: 'x', balance: { '>': 50 }, or: [{ owner: 'Bob' }] });
    // Two columns naming one attribute are both kept; a "__proto__" column stays a key (it matches nothing).
    expect(compileWhere({ _id: 'x', id: 'y' }, columns, 'account')).to.deep.equal({ and: [{ id: 'x' }, { id: 'y' }] });
    expect(matches(doc, compileWhere(JSON.parse('{"__proto__": "x"}'), columns, 'account'))).to.equal(false);
    const condition = compileWhere({ and: [{ _id: 'x' }, { balance: { '>': 50, '<=': 100 } }, { owner: { in: ['Alice', 'Bob'] } }] }, columns, 'account');
    expect(matches(doc, condition)).to.equal(true);
    expect(matches({ ...doc, balance: 101 }, condition)).to.equal(false);
    expect(matches({ ...doc, owner: 'Carol' }, condition)).to.equal(false);
    expect(matches(doc, compileWhere({ or: [{ owner: 'Bob' }, { frozen: false }] }, columns, 'account'))).to.equal(true);
    expect(matches(doc, compileWhere({ owner: { nin: ['Alice'] } }, columns, 'account'))).to.equal(false);
    expect(matches(doc, compileWhere({ meta: null }, columns, 'account'))).to.equal(true);
    expect(matches(doc, compileWhere({ owner: { '!=': null } }, columns, 'account'))).to.equal(true);
    expect(matches(doc, compileWhere({}, columns, 'account'))).to.equal(true);
  });

  it('orders only values of one type, as every adapter does', function () {
    expect(matches(doc, compileWhere({ balance: { '>': '50' } }, columns, 'account'))).to.equal(false);
    expect(matches(doc, compileWhere({ owner: { '>=': 'A' } }, columns, 'account'))).to.equal(true);
  });

  it('refuses what it could not re-check the way every adapter would', function () {
    for (const where of [{ owner: { like: '%li%' } }, { owner: { contains: 'li' } }, { meta: { tier: 'gold' } }, { owner: ['a'] }, { balance: { '>': { $gt: 1 } } }]) {
      let error: unknown;
      try {
        compileWhere(where, columns, 'account');
      } catch (err) {
        error = err;
      }
      expect(isTransactError(error, 'unsupported_query'), JSON.stringify(where)).to.equal(true);
    }
  });

  it('finds the ids a clause names, so no candidate query is needed', function () {
    const compile = (where: unknown): ReturnType<typeof compileWhere> => compileWhere(where, columns, 'account');
    expect(restrictedIds(compile({ _id: 'x' }), 'id')).to.deep.equal(['x']);
    expect(restrictedIds(compile({ _id: { in: ['x', 'y'] } }), 'id')).to.deep.equal(['x', 'y']);
    expect(restrictedIds(compile({ and: [{ _id: { in: ['x', 'y'] } }, { _id: 'y' }, { balance: 1 }] }), 'id')).to.deep.equal(['y']);
    expect(restrictedIds(compile({ or: [{ _id: 'x' }, { owner: 'Bob' }] }), 'id')).to.equal(null);
    expect(restrictedIds(compile({ owner: 'Bob' }), 'id')).to.equal(null);
    expect(restrictedIds(compile({ _id: { nin: ['x'] } }), 'id')).to.equal(null);
  });

  it('sorts (nulls first, stable) and cuts the window like the adapters', function () {
    const rows = [
      { id: 'a', balance: 5 },
      { id: 'b', balance: null },
      { id: 'c', balance: 7 },
      { id: 'd', balance: 5 },
    ];
    expect(sortImages(rows, [{ balance: 'DESC' }, { _id: 'ASC' }], columns).map((row) => row.id)).to.deep.equal(['c', 'a', 'd', 'b']);
    expect(sortImages(rows, [{ balance: 'ASC' }], columns).map((row) => row.id)).to.deep.equal(['b', 'a', 'd', 'c']);
    expect(window(['a', 'b', 'c', 'd'], 1, 2)).to.deep.equal(['b', 'c']);
    expect(window(['a', 'b'], 0, Number.MAX_SAFE_INTEGER)).to.deep.equal(['a', 'b']);
  });
});

forEachPath('waterline-api', (target, adapter, protocol) => {
  const getApp = useApp(target, { migrate: 'drop', transact: { ...protocolConfig(protocol), waterlineTransactions: 'engine', lockTimeoutMs: 3000 } }, async (app) => {
    const account = modelOf(app, 'account');
    await account.create({ id: ACCOUNTS.a, owner: 'Alice', balance: 1000, meta: { tier: 'gold' } });
    await account.create({ id: ACCOUNTS.b, owner: 'Bob', balance: 500, currency: 'CNY' });
    await account.create({ id: C, owner: 'Carol', balance: 0, frozen: true });
  });
  const account = (): ReturnType<typeof modelOf> => modelOf(getApp(), 'account');
  const transfer = (): ReturnType<typeof modelOf> => modelOf(getApp(), 'transfer');
  const datastore = (): ReturnType<typeof datastoreOf> => datastoreOf(getApp());
  const engine = (): Engine => getApp().hooks.transact.engine as Engine;
  const accounts = async (): Promise<Row[]> => byId(await account().find({}));
  const logs = async (): Promise<Row[]> => modelOf(getApp(), 'transactlog').find({});

  it('commits a transfer written in Waterline\'s API, logged with every step', async function () {
    // sails-hook-orm's shortcut to the default datastore's method is the engine's too.
    expect((getApp() as unknown as { transaction: unknown }).transaction).to.equal(datastore().transaction);
    const created = await waterlineTransfer(getApp(), ACCOUNTS.a, ACCOUNTS.b, 300, TRANSFER_ID);
    expect(created).to.include({ id: TRANSFER_ID, from: ACCOUNTS.a, to: ACCOUNTS.b, amount: 300, status: 'done' });
    expect((await accounts()).map((row) => row.balance)).to.deep.equal([700, 800, 0]);
    const [log] = (await logs()) as Array<{ id: string; state: string; steps: Array<{ kind: string; model: string; id: string }> }>;
    expect(log.state).to.equal('committed');
    expect(log.steps.map((step) => `${step.kind} ${step.model} ${step.id}`)).to.deep.equal([`update account ${ACCOUNTS.a}`, `update account ${ACCOUNTS.b}`, `create transfer ${TRANSFER_ID}`]);
    const history = await engine().history('account', ACCOUNTS.a);
    expect(history.map((version) => [version.transaction, (version.after as Row).balance])).to.deep.equal([[log.id, 700]]);
    // Logged, so reversible like any engine transaction.
    await engine().reverse(log.id, { reason: 'test' });
    expect((await accounts()).map((row) => row.balance)).to.deep.equal([1000, 500, 0]);
  });

  it("takes the engine's options from .meta({transact})", async function () {
    await datastore()
      .transaction(async (db) => account().updateOne({ id: C }).set({ balance: 1 }).usingConnection(db))
      .meta({ transact: { label: 'waterline transfer' } });
    expect((await logs()).map((log) => [log.state, log.label])).to.deep.equal([['committed', 'waterline transfer']]);
  });

  it("runs Waterline's lifecycle callbacks around each statement, and logs what beforeCreate set", async function () {
    type Callbacks = Record<string, (record: Row, proceed: (err?: unknown) => void) => void>;
    const callbacks = (getApp().models.transfer as unknown as { _callbacks: Callbacks })._callbacks;
    const saved = { ...callbacks };
    const seenAfter: Row[] = [];
    callbacks.beforeCreate = (record, proceed) => {
      record.memo = 'set by beforeCreate';
      proceed();
    };
    callbacks.afterCreate = (record, proceed) => {
      seenAfter.push(record);
      proceed();
    };
    try {
      await waterlineTransfer(getApp(), ACCOUNTS.a, ACCOUNTS.b, 10, TRANSFER_ID);
    } finally {
      for (const name of ['beforeCreate', 'afterCreate']) delete callbacks[name];
      Object.assign(callbacks, saved);
    }
    expect(seenAfter.map((row) => [row.id, row.memo])).to.deep.equal([[TRANSFER_ID, 'set by beforeCreate']]);
    const [log] = (await logs()) as Array<{ steps: Array<{ kind: string; after: Row | null }> }>;
    expect(log.steps.find((step) => step.kind === 'create')?.after).to.include({ id: TRANSFER_ID, memo: 'set by beforeCreate' });
    expect((await transfer().findOne({ id: TRANSFER_ID }))?.memo).to.equal('set by beforeCreate');
  });

  it("takes Waterline's callback style too: (db, proceed)", async function () {
    const updated = await datastore().transaction(((db: unknown, proceed: (err?: unknown, result?: unknown) => void) => {
      account()
        .updateOne({ id: C })
        .set({ balance: 3 })
        .usingConnection(db)
        .then(
          (row) => proceed(undefined, row),
          (err: unknown) => proceed(err),
        );
    }) as unknown as (db: unknown) => Promise<Row | undefined>);
    expect(updated).to.include({ id: C, balance: 3 });
    expect((await logs()).map((log) => log.state)).to.deep.equal(['committed']);
  });

  it('rolls everything back when the callback throws, and rethrows its error', async function () {
    const before = await accounts();
    const boom = new Error('rolls everything back');
    const outcome = await Promise.resolve(
      datastore().transaction(async (db) => {
        await account().updateOne({ id: ACCOUNTS.a }).set({ balance: 1 }).usingConnection(db);
        await account().destroyOne({ id: C }).usingConnection(db);
        await account().create({ id: newId(), owner: 'Eve' }).usingConnection(db);
        await transfer().createEach([{ id: newId(), from: ACCOUNTS.a, to: ACCOUNTS.b, amount: 1 }]).usingConnection(db);
        throw boom;
      }),
    ).then(
      () => null,
      (err: unknown) => err,
    );
    expect(outcome).to.equal(boom);
    expect(await accounts()).to.deep.equal(before);
    expect(await transfer().find({})).to.deep.equal([]);
    // Log protocol v3 (redo) wrote nothing before its commit point: like a native transaction, it leaves no log.
    const v3 = (getApp().hooks.transact.engine as { records?: unknown }).records !== undefined;
    expect((await logs()).map((log) => log.state)).to.deep.equal(protocol === 'log' && !v3 ? ['rolled-back'] : []);
  });

  it('runs find, findOne, count, sum, create, createEach, update, updateOne, destroy and destroyOne inside', async function () {
    const d = newId();
    const e = newId();
    const seen = await datastore().transaction(async (db) => {
      const created = await account().create({ id: d, owner: 'Dave', balance: 40 }).fetch().usingConnection(db);
      const none = await account().create({ id: newId(), owner: 'Zed', balance: 1 }).usingConnection(db);
      const each = await account().createEach([{ id: e, owner: 'Erin', balance: 60 }]).fetch().usingConnection(db);
      // Its own writes are visible inside (on PostgreSQL's native path they are not committed yet).
      const rich = await account().find({ where: { balance: { '>=': 40 } }, sort: 'balance DESC', limit: 3 }).usingConnection(db);
      const one = await account().findOne({ owner: 'Dave' }).usingConnection(db);
      const frozen = await account().count({ frozen: true }).usingConnection(db);
      const total = await account().sum('balance', { frozen: false }).usingConnection(db);
      const mean = await account().avg('balance', { id: { in: [ACCOUNTS.a, ACCOUNTS.b] } }).usingConnection(db);
      const updated = await account().update({ owner: { in: ['Dave', 'Erin'] } }).set({ frozen: true }).fetch().usingConnection(db);
      const unfetched = await account().update({ owner: 'Nobody' }).set({ frozen: true }).usingConnection(db);
      const single = await account().updateOne({ id: C }).set({ frozen: false, balance: 5 }).usingConnection(db);
      const missing = await account().updateOne({ id: 'nope' }).set({ balance: 5 }).usingConnection(db);
      const destroyed = await account().destroy({ owner: 'Zed' }).fetch().usingConnection(db);
      const destroyedOne = await account().destroyOne({ id: e }).usingConnection(db);
      return { created, none, each, rich, one, frozen, total, mean, updated, unfetched, single, missing, destroyed, destroyedOne };
    });
    // One logged transaction (PostgreSQL's own transaction would run all of this too, unlogged).
    expect((await logs()).map((log) => log.state)).to.deep.equal(['committed']);
    expect(seen.created).to.include({ id: d, owner: 'Dave', balance: 40, currency: 'EUR', frozen: false });
    expect(seen.none).to.equal(undefined);
    expect((seen.each as Row[]).map((row) => row.id)).to.deep.equal([e]);
    expect((seen.rich as Row[]).map((row) => row.owner)).to.deep.equal(['Alice', 'Bob', 'Erin']);
    expect(seen.one).to.include({ id: d, owner: 'Dave' });
    expect(seen.frozen).to.equal(1);
    expect(seen.total).to.equal(1000 + 500 + 40 + 1 + 60);
    expect(seen.mean).to.equal(750);
    expect(byId(seen.updated as Row[]).map((row) => [row.id, row.frozen])).to.deep.equal(byId([{ id: d, frozen: true }, { id: e, frozen: true }]).map((row) => [row.id, row.frozen]));
    expect(seen.unfetched).to.equal(undefined);
    expect(seen.single).to.include({ id: C, frozen: false, balance: 5 });
    expect(seen.missing).to.equal(undefined);
    expect((seen.destroyed as Row[]).map((row) => row.owner)).to.deep.equal(['Zed']);
    expect(seen.destroyedOne).to.include({ id: e, owner: 'Erin' });
    expect((await accounts()).map((row) => [row.owner, row.balance, row.frozen])).to.deep.equal(
      byId([
        { id: ACCOUNTS.a, owner: 'Alice', balance: 1000, frozen: false },
        { id: ACCOUNTS.b, owner: 'Bob', balance: 500, frozen: false },
        { id: C, owner: 'Carol', balance: 5, frozen: false },
        { id: d, owner: 'Dave', balance: 40, frozen: true },
      ]).map((row) => [row.owner, row.balance, row.frozen]),
    );
  });

  it('updates by criteria: a document that stopped matching before it was locked is skipped', async function () {
    // T1 holds Bob's lock; T2 (update every unfrozen account) finds Bob as a candidate and waits
    // for his lock; T1 freezes Bob and commits; T2 locks Bob, re-checks, and leaves him alone.
    let second: Promise<Row[] | undefined> | undefined;
    await datastore().transaction(async (db) => {
      await account().findOne({ id: ACCOUNTS.b }).usingConnection(db);
      second = Promise.resolve(datastore().transaction(async (db2) => account().update({ frozen: false }).set({ currency: 'USD' }).fetch().usingConnection(db2)));
      await sleep(300);
      await account().updateOne({ id: ACCOUNTS.b }).set({ frozen: true }).usingConnection(db);
    });
    const updated = (await second) as Row[];
    expect(updated.map((row) => row.owner)).to.deep.equal(['Alice']);
    expect((await accounts()).map((row) => [row.owner, row.currency, row.frozen])).to.deep.equal([
      ['Alice', 'USD', false],
      ['Bob', 'CNY', true],
      ['Carol', 'EUR', true],
    ]);
  });

  it('refuses a query it cannot run inside, with nothing written — even if the callback catches the error', async function () {
    const before = await accounts();
    const uncaught = await refusal(
      datastore().transaction(async (db) => {
        await account().updateOne({ id: ACCOUNTS.a }).set({ balance: 1 }).usingConnection(db);
        await account().update({ owner: { contains: 'o' } }).set({ balance: 2 }).usingConnection(db);
      }),
    );
    expect(uncaught.code).to.equal('unsupported_query');
    expect(uncaught.message).to.match(/"like" modifier on "owner"/);
    let inside: TransactError<string> | undefined;
    const caught = await refusal(
      datastore().transaction(async (db) => {
        await account().updateOne({ id: ACCOUNTS.a }).set({ balance: 1 }).usingConnection(db);
        inside = await refusal(account().find({ owner: { startsWith: 'A' } }).usingConnection(db));
        return 'carried on';
      }),
    );
    expect(inside?.code).to.equal('unsupported_query');
    expect(caught.code).to.equal('unsupported_query');
    // The hook's own log is never written through Waterline, not even inside.
    const internal = await refusal(datastore().transaction(async (db) => modelOf(getApp(), 'transactlock').find({}).usingConnection(db)));
    expect(internal.code).to.equal('unsupported_query');
    expect(await accounts()).to.deep.equal(before);
    expect(await transfer().find({})).to.deep.equal([]);
    if (adapter === 'postgresql') {
      // A native query cannot be locked, logged or undone: refused, never run on another connection.
      const native = await refusal(
        datastore().transaction(async (db) => {
          await datastore().sendNativeQuery(`UPDATE account SET balance = 0`).usingConnection(db);
        }),
      );
      expect(native.code).to.equal('unsupported_query');
      expect(await accounts()).to.deep.equal(before);
    }
  });

  it('refuses a connection used after its transaction ended', async function () {
    let saved: unknown;
    await datastore().transaction(async (db) => {
      saved = db;
      await account().findOne({ id: ACCOUNTS.a }).usingConnection(db);
    });
    const before = await accounts();
    const late = await refusal(account().updateOne({ id: ACCOUNTS.a }).set({ balance: 0 }).usingConnection(saved));
    expect(late.code).to.equal('transaction_ended');
    expect(await accounts()).to.deep.equal(before);
  });

  it('runs by-criteria statements in more concurrent transactions than the connection pool holds', async function () {
    // sails-postgresql's pool has 10 connections; the engine's native path holds one per
    // transaction, so a candidate query taking a second one would wait for the others forever.
    const owners = Array.from({ length: 12 }, (_, i) => `pool-${i}`);
    await account().createEach(owners.map((owner) => ({ id: newId(), owner, balance: 10 })));
    const started = Date.now();
    const results = await Promise.all(
      owners.map((owner) =>
        datastore().transaction(async (db) => {
          await account().findOne({ owner }).usingConnection(db);
          await sleep(100);
          return account().update({ owner }).set({ balance: 11 }).fetch().usingConnection(db);
        }),
      ),
    );
    expect(results.map((rows) => (rows as Row[]).map((row) => row.balance))).to.deep.equal(owners.map(() => [11]));
    expect(Date.now() - started).to.be.below(10_000);
  });

  it('conserves money under concurrent transfers (4 workers × 8 transfers)', async function () {
    this.timeout(120_000);
    const ids = [ACCOUNTS.a, ACCOUNTS.b, C];
    const start = (await accounts()).reduce((sum, row) => sum + (row.balance as number), 0);
    let committed = 0;
    let refused = 0;
    await Promise.all(
      [0, 1, 2, 3].map(async (worker) => {
        for (let i = 0; i < 8; i++) {
          const from = ids[(worker + i) % 3];
          const to = ids[(worker + i + 1) % 3];
          try {
            await waterlineTransfer(getApp(), from, to, 1 + ((worker * 7 + i) % 50));
            committed++;
          } catch {
            refused++; // insufficient funds or a lock timeout: rolled back, nothing of it written
          }
        }
      }),
    );
    const rows = await accounts();
    expect(rows.reduce((sum, row) => sum + (row.balance as number), 0)).to.equal(start);
    const transfers = await transfer().find({});
    expect(transfers.length).to.equal(committed);
    const seeded = new Map<string, number>([
      [ACCOUNTS.a, 1000],
      [ACCOUNTS.b, 500],
      [C, 0],
    ]);
    for (const row of transfers) {
      seeded.set(row.from as string, (seeded.get(row.from as string) as number) - (row.amount as number));
      seeded.set(row.to as string, (seeded.get(row.to as string) as number) + (row.amount as number));
    }
    expect(rows.map((row) => row.balance)).to.deep.equal(ids.map((id) => seeded.get(id)));
    expect(committed + refused).to.equal(32);
    expect(committed).to.be.greaterThan(0);
  });
});

const WATERLINE_CHILD = join(__dirname, '..', '..', 'support', 'waterline-api-child.js');

/** Runs the crash child (test/support/waterline-api-child.ts) and collects its `KEY json` lines. */
function runWaterlineChild(target: Target, protocol: Protocol, mode: 'run' | 'recover', crashAt?: string): Promise<ChildResult> {
  return runChild(target, [mode], crashAt, { TRANSACT_PROTOCOL: protocol }, WATERLINE_CHILD);
}

forEachPath('waterline-api crash', (_target, adapter: AdapterName, protocol) => {
  const cases: Array<{ crashAt: string; expected: 'none' | 'all' }> = [
    { crashAt: 'tx:applied#2', expected: 'none' }, // both balances written, the transfer not yet
    { crashAt: 'tx:logged#3', expected: 'none' }, // the transfer's create logged, not written
    { crashAt: 'tx:committed', expected: 'all' },
  ];
  for (const { crashAt, expected } of cases) {
    it(`a child killed at ${crashAt} recovers to ${expected === 'none' ? 'nothing' : 'the whole transfer'}`, async function () {
      this.timeout(120_000);
      const target = await freshTarget(adapter);
      const run = await runWaterlineChild(target, protocol, 'run', crashAt);
      expect(run.signal, run.stderr).to.equal('SIGKILL');
      expect(run.lines.has('DONE')).to.equal(false);
      const seed = JSON.parse(run.lines.get('SEED') as string) as Row[];
      const recovered = await runWaterlineChild(target, protocol, 'recover');
      expect(recovered.code, recovered.stderr).to.equal(0);
      const state = JSON.parse(recovered.lines.get('STATE') as string) as { accounts: Row[]; transfers: Row[]; logs: Row[]; locks: Row[] };
      expect(state.locks).to.deep.equal([]);
      if (expected === 'none') {
        expect(state.accounts, 'every account equals its before-image').to.deep.equal(seed);
        expect(state.transfers).to.deep.equal([]);
        expect(state.logs.map((log) => log.state)).to.deep.equal(protocol === 'log' ? ['rolled-back'] : []);
      } else {
        expect(state.accounts.map((row) => row.balance)).to.deep.equal([700, 800]);
        expect(state.transfers.map((row) => [row.id, row.amount])).to.deep.equal([[TRANSFER_ID, 300]]);
        expect(state.logs.map((log) => log.state)).to.deep.equal(['committed']);
      }
      // The documents equal what their committed history says.
      const app = await loadApp(target, { migrate: 'safe', transact: { ...protocolConfig(protocol), waterlineTransactions: 'engine' } });
      try {
        const engine = app.hooks.transact.engine as Engine;
        for (const row of state.accounts) {
          const history = await engine.history('account', row.id as string);
          const last = history.at(-1)?.after ?? null;
          if (last !== null) expect(last).to.deep.equal(row);
          else expect(row).to.deep.equal(seed.find((seeded) => seeded.id === row.id));
        }
      } finally {
        await lowerApp(app);
      }
    });
  }
});

forEachAdapter('waterline-api on PostgreSQL, native by default', (target, adapter) => {
  if (adapter !== 'postgresql') return;
  let app: LoadedApp | undefined;
  before(async function () {
    app = await loadApp(target(), { migrate: 'drop' });
  });
  after(async function () {
    if (app !== undefined) await lowerApp(app);
  });

  it("keeps sails-postgresql's own transaction: all or nothing, not logged", async function () {
    const loaded = app as LoadedApp;
    const account = modelOf(loaded, 'account');
    await account.create({ id: ACCOUNTS.a, owner: 'Alice', balance: 1000 });
    await account.create({ id: ACCOUNTS.b, owner: 'Bob', balance: 500 });
    await waterlineTransfer(loaded, ACCOUNTS.a, ACCOUNTS.b, 300);
    const failed = await Promise.resolve(
      datastoreOf(loaded).transaction(async (db) => {
        await account.updateOne({ id: ACCOUNTS.a }).set({ balance: 0 }).usingConnection(db);
        throw new Error('rolled back by PostgreSQL');
      }),
    ).then(
      () => null,
      (err: unknown) => err,
    );
    expect(String(failed)).to.match(/rolled back by PostgreSQL/);
    expect(byId(await account.find({})).map((row) => row.balance)).to.deep.equal([700, 800]);
    expect(await modelOf(loaded, 'transactlog').find({})).to.deep.equal([]);
  });
});
