/**
 * Ambient transactions (`config.transact.ambient: true`, lib/waterline-api/ambient.ts): model calls made
 * without `.usingConnection(db)` inside `sails.transact(async tx => …)` and
 * `datastore.transaction(async db => …)` join the transaction — a helper, `Promise.all`, a
 * lifecycle callback, createEach/findOrCreate/stream/count/sum — on every adapter and path; the
 * opt-outs run outside; leftovers of an ended transaction are refused; nested transactions are
 * refused; two apps in one process never see each other's; and with ambient off nothing changes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { resolveConfig } from '../../../lib/config';
import { isTransactError, type TransactError } from '../../../lib/core/errors';
import { newId } from '../../../lib/core/ids';
import { type LoadedApp, loadApp, lowerApp, useApp } from '../../support/app';
import { forEachAdapter, forEachPath, freshTarget, protocolConfig, type Target } from '../../support/targets';
import { ACCOUNTS, datastoreOf, modelOf, type Row } from '../../support/waterline-api';

const C = 'a00000000000000000000003';

/** The TransactError an outcome is, or wraps (Waterline keeps an adapter's error as `raw`). */
function transactErrorOf(outcome: unknown): TransactError<string> | null {
  if (isTransactError(outcome)) return outcome;
  const raw = (outcome as { raw?: unknown } | null)?.raw;
  return isTransactError(raw) ? raw : null;
}

async function failure(promise: PromiseLike<unknown>): Promise<unknown> {
  return Promise.resolve(promise).then(
    () => new Error('expected a failure, got success'),
    (err: unknown) => err,
  );
}

type Way = 'sails.transact' | 'datastore.transaction';
const WAYS: readonly Way[] = ['sails.transact', 'datastore.transaction'];

/** Runs `work` as one transaction, the way named. */
function runIn<T>(app: LoadedApp, way: Way, work: () => Promise<T>): Promise<T> {
  if (way === 'sails.transact') return (app.transact as (fn: () => Promise<T>) => Promise<T>)(work);
  return Promise.resolve(datastoreOf(app).transaction(() => work()));
}

/** A helper the app wrote with no transaction in mind. */
function debit(app: LoadedApp, id: string, balance: number): PromiseLike<Row | undefined> {
  return modelOf(app, 'account').updateOne({ id }).set({ balance });
}

const boom = new Error('changed my mind');

describe('ambient transactions: config (pure)', function () {
  it('is off by default, and takes only a boolean', function () {
    expect(resolveConfig(undefined).ambient).to.equal(false);
    expect(resolveConfig({ ambient: true }).ambient).to.equal(true);
    expect(() => resolveConfig({ ambient: 'yes' as unknown as boolean })).to.throw(/invalid config.transact: "ambient" must be a boolean/);
  });
});

forEachPath('ambient transactions', (target, adapter, protocol) => {
  const getApp = useApp(target, { migrate: 'drop', transact: { ...protocolConfig(protocol), waterlineTransactions: 'engine', lockTimeoutMs: 3000, ambient: true } }, async (app) => {
    const account = modelOf(app, 'account');
    await account.create({ id: ACCOUNTS.a, owner: 'Alice', balance: 1000 });
    await account.create({ id: ACCOUNTS.b, owner: 'Bob', balance: 500 });
    await account.create({ id: C, owner: 'Carol', balance: 0 });
  });
  const account = (): ReturnType<typeof modelOf> => modelOf(getApp(), 'account');
  const transfer = (): ReturnType<typeof modelOf> => modelOf(getApp(), 'transfer');
  const balances = async (): Promise<unknown[]> => (await account().find({ sort: 'id ASC' })).map((row) => row.balance);

  for (const way of WAYS) {
    describe(way, function () {
      it("a helper's write without usingConnection is seen by the transaction's reads, and rolled back when it throws", async function () {
        const seen: unknown[] = [];
        const outcome = await failure(
          runIn(getApp(), way, async () => {
            await debit(getApp(), ACCOUNTS.a, 1);
            seen.push((await account().findOne({ id: ACCOUNTS.a }))?.balance);
            seen.push(await account().sum('balance', {}));
            throw boom;
          }),
        );
        expect(outcome).to.equal(boom);
        expect(seen).to.deep.equal([1, 501]);
        expect(await balances()).to.deep.equal([1000, 500, 0]);
      });

      it('commits it with the rest, logged', async function () {
        await runIn(getApp(), way, async () => {
          await debit(getApp(), ACCOUNTS.a, 700);
        });
        expect(await balances()).to.deep.equal([700, 500, 0]);
        const logs = await modelOf(getApp(), 'transactlog').find({});
        expect(logs.map((log) => [log.state, (log.steps as unknown[]).length])).to.deep.equal([['committed', 1]]);
      });

      it('Promise.all of several such calls joins, all or nothing', async function () {
        const outcome = await failure(
          runIn(getApp(), way, async () => {
            await Promise.all([debit(getApp(), ACCOUNTS.a, 1), debit(getApp(), ACCOUNTS.b, 2), debit(getApp(), C, 3)]);
            expect(await balances()).to.deep.equal([1, 2, 3]);
            throw boom;
          }),
        );
        expect(outcome).to.equal(boom);
        expect(await balances()).to.deep.equal([1000, 500, 0]);
        await runIn(getApp(), way, () => Promise.all([debit(getApp(), ACCOUNTS.a, 4), debit(getApp(), ACCOUNTS.b, 5)]));
        expect(await balances()).to.deep.equal([4, 5, 0]);
      });

      it('a lifecycle callback doing another model call joins (beforeCreate and afterCreate)', async function () {
        type Callbacks = Record<string, (record: Row, proceed: (err?: unknown) => void) => void>;
        const callbacks = (getApp().models.transfer as unknown as { _callbacks: Callbacks })._callbacks;
        const saved = { ...callbacks };
        callbacks.beforeCreate = (record, proceed) => {
          debit(getApp(), record.from as string, 11).then(() => proceed(), proceed);
        };
        callbacks.afterCreate = (record, proceed) => {
          debit(getApp(), record.to as string, 22).then(() => proceed(), proceed);
        };
        try {
          const outcome = await failure(
            runIn(getApp(), way, async () => {
              await transfer().create({ id: newId(), from: ACCOUNTS.a, to: ACCOUNTS.b, amount: 5 }).fetch();
              expect(await balances()).to.deep.equal([11, 22, 0]);
              throw boom;
            }),
          );
          expect(outcome).to.equal(boom);
        } finally {
          for (const name of ['beforeCreate', 'afterCreate']) delete callbacks[name];
          Object.assign(callbacks, saved);
        }
        expect(await balances()).to.deep.equal([1000, 500, 0]);
        expect(await transfer().find({})).to.deep.equal([]);
      });

      it('createEach, findOrCreate, stream, count and sum join', async function () {
        const d = newId();
        const e = newId();
        const outcome = await failure(
          runIn(getApp(), way, async () => {
            await account().createEach([{ id: d, owner: 'Dave', balance: 40 }]);
            await (account() as unknown as { findOrCreate(criteria: Row, values: Row): PromiseLike<Row> }).findOrCreate({ id: e }, { id: e, owner: 'Erin', balance: 60 });
            expect(await account().count({})).to.equal(5);
            expect(await account().sum('balance', {})).to.equal(1600);
            const stream = (account() as unknown as { stream(criteria: Row): { eachRecord(fn: (row: Row) => Promise<void>): PromiseLike<void> } }).stream({ id: { in: [d, e] } });
            await stream.eachRecord(async (row) => {
              await account().updateOne({ id: row.id as string }).set({ balance: 0 });
            });
            expect(await account().sum('balance', {})).to.equal(1500);
            throw boom;
          }),
        );
        expect(outcome).to.equal(boom);
        expect(await account().count({})).to.equal(3);
        expect(await balances()).to.deep.equal([1000, 500, 0]);
      });

      it(".meta({transact: 'outside'}) and hooks.transact.outside(fn) run outside: committed though the transaction rolls back", async function () {
        const outcome = await failure(
          runIn(getApp(), way, async () => {
            await debit(getApp(), ACCOUNTS.a, 1);
            await account().updateOne({ id: ACCOUNTS.b }).set({ balance: 2 }).meta({ transact: 'outside' });
            await getApp().hooks.transact.outside(() => debit(getApp(), C, 3));
            throw boom;
          }),
        );
        expect(outcome).to.equal(boom);
        expect(await balances()).to.deep.equal([1000, 2, 3]);
      });

      it('a timer set inside that fires after the end is refused (transaction_ended), nothing written', async function () {
        let fired: Promise<unknown> | undefined;
        await runIn(getApp(), way, async () => {
          await debit(getApp(), ACCOUNTS.a, 900);
          fired = new Promise((resolve) => {
            setTimeout(() => resolve(Promise.all([failure(debit(getApp(), ACCOUNTS.b, 1)), failure(runIn(getApp(), way, async () => debit(getApp(), C, 1)))])), 50);
          });
        });
        const late = (await (fired as Promise<unknown[]>)).map((err) => transactErrorOf(err)?.code);
        // The late call and a transaction the late callback starts: both refused, neither run outside.
        expect(late).to.deep.equal(['transaction_ended', 'transaction_ended']);
        await sleep(20);
        expect(await balances()).to.deep.equal([900, 500, 0]);
      });

      it('refuses a transaction started inside (nested_transaction); outside(fn) starts one on its own', async function () {
        const nested: unknown[] = [];
        await runIn(getApp(), way, async () => {
          nested.push(await failure(getApp().transact?.(async () => debit(getApp(), ACCOUNTS.b, 1)) as Promise<unknown>));
          nested.push(await failure(datastoreOf(getApp()).transaction(async () => debit(getApp(), ACCOUNTS.b, 1))));
          await debit(getApp(), ACCOUNTS.a, 10);
          await getApp().hooks.transact.outside(() => runIn(getApp(), 'sails.transact', async () => debit(getApp(), C, 7)));
        });
        expect(nested.map((err) => transactErrorOf(err)?.code)).to.deep.equal(['nested_transaction', 'nested_transaction']);
        expect(await balances()).to.deep.equal([10, 500, 7]);
      });

      it('a model on another datastore is refused (unsupported_query), never run outside', async function () {
        const model = getApp().models.transfer as unknown as { datastore: string };
        const saved = model.datastore;
        model.datastore = 'elsewhere';
        let outcome: unknown;
        try {
          outcome = await failure(runIn(getApp(), way, async () => transfer().create({ id: newId(), from: ACCOUNTS.a, to: ACCOUNTS.b, amount: 1 })));
        } finally {
          model.datastore = saved;
        }
        expect(transactErrorOf(outcome)?.code).to.equal('unsupported_query');
        expect(await transfer().find({})).to.deep.equal([]);
      });

      it("the hook's committed reads inside stay committed reads (the engine's own calls never join)", async function () {
        const seen = await runIn(getApp(), way, async () => {
          await debit(getApp(), ACCOUNTS.a, 5);
          return (await getApp().hooks.transact.reads().findOne('account', ACCOUNTS.a))?.balance;
        });
        expect(seen).to.equal(1000);
        expect(await balances()).to.deep.equal([5, 500, 0]);
      });
    });
  }

  if (adapter === 'disk' || protocol !== 'native') {
    it('sails.transact(tx): tx.* and ambient calls are one transaction', async function () {
      const outcome = await failure(
        (getApp().transact as (fn: (tx: { update(model: string, id: string, set: Row): Promise<Row>; read(model: string, id: string): Promise<Row | null> }) => Promise<void>) => Promise<void>)(async (tx) => {
          await tx.update('account', ACCOUNTS.b, { balance: 1 });
          await debit(getApp(), ACCOUNTS.a, 2);
          expect((await tx.read('account', ACCOUNTS.a))?.balance).to.equal(2);
          throw boom;
        }),
      );
      expect(outcome).to.equal(boom);
      expect(await balances()).to.deep.equal([1000, 500, 0]);
    });
  }
});

forEachAdapter('ambient transactions off (the default)', (target) => {
  const getApp = useApp(target, { migrate: 'drop', transact: { waterlineTransactions: 'engine' } }, async (app) => {
    await modelOf(app, 'account').create({ id: ACCOUNTS.a, owner: 'Alice', balance: 1000 });
  });

  it('a call without usingConnection runs outside, as before: committed though the transaction rolls back', async function () {
    for (const way of WAYS) {
      const outcome = await failure(
        runIn(getApp(), way, async () => {
          await debit(getApp(), ACCOUNTS.a, 1);
          throw boom;
        }),
      );
      expect(outcome).to.equal(boom);
      expect((await modelOf(getApp(), 'account').findOne({ id: ACCOUNTS.a }))?.balance).to.equal(1);
      await debit(getApp(), ACCOUNTS.a, 1000);
    }
  });
});

forEachAdapter('ambient transactions, two apps in one process', (target) => {
  let second: Target | undefined;
  let first: LoadedApp | undefined;
  let other: LoadedApp | undefined;
  before(async function () {
    second = await freshTarget(target().adapter);
    first = await loadApp(target(), { migrate: 'drop', freshAdapter: true, transact: { waterlineTransactions: 'engine', ambient: true } });
    other = await loadApp(second, { migrate: 'drop', freshAdapter: true, transact: { waterlineTransactions: 'engine', ambient: true } });
  });
  after(async function () {
    if (other !== undefined) await lowerApp(other);
    if (first !== undefined) await lowerApp(first);
  });

  it("never sees the other's transaction", async function () {
    const one = first as LoadedApp;
    const two = other as LoadedApp;
    await modelOf(one, 'account').create({ id: ACCOUNTS.a, owner: 'Alice', balance: 1000 });
    await modelOf(two, 'account').create({ id: ACCOUNTS.a, owner: 'Alice', balance: 1000 });
    const outcome = await failure(
      runIn(one, 'sails.transact', async () => {
        await debit(one, ACCOUNTS.a, 1);
        // The other app's call runs there, outside: not in this transaction, and not refused as nested.
        await debit(two, ACCOUNTS.a, 2);
        await runIn(two, 'sails.transact', async () => debit(two, ACCOUNTS.a, 3));
        throw boom;
      }),
    );
    expect(outcome).to.equal(boom);
    expect((await modelOf(one, 'account').findOne({ id: ACCOUNTS.a }))?.balance).to.equal(1000);
    expect((await modelOf(two, 'account').findOne({ id: ACCOUNTS.a }))?.balance).to.equal(3);
  });
});

/**
 * sails-postgresql's own `datastore.transaction()` (`waterlineTransactions: 'native'`, the
 * default there), on both hook protocols that run on PostgreSQL: its `db` is a client of its own,
 * a PostgreSQL transaction (no log), and ambient model calls made without `.usingConnection(db)`
 * run on that client — the same pitfalls covered as with the engine's.
 */
forEachPath("ambient transactions in sails-postgresql's own datastore.transaction()", (target, adapter, protocol) => {
  if (adapter !== 'postgresql') return;
  const getApp = useApp(target, { migrate: 'drop', transact: { ...protocolConfig(protocol), waterlineTransactions: 'native', lockTimeoutMs: 3000, ambient: true } }, async (app) => {
    const account = modelOf(app, 'account');
    await account.create({ id: ACCOUNTS.a, owner: 'Alice', balance: 1000 });
    await account.create({ id: ACCOUNTS.b, owner: 'Bob', balance: 500 });
    await account.create({ id: C, owner: 'Carol', balance: 0 });
  });
  const account = (): ReturnType<typeof modelOf> => modelOf(getApp(), 'account');
  const transfer = (): ReturnType<typeof modelOf> => modelOf(getApp(), 'transfer');
  const balances = async (): Promise<unknown[]> => (await account().find({ sort: 'id ASC' })).map((row) => row.balance);
  const own = <T>(work: (db: unknown) => Promise<T>): Promise<T> => Promise.resolve(datastoreOf(getApp()).transaction((db: unknown) => work(db)) as PromiseLike<T>);

  it("a helper's write without usingConnection is seen by the transaction's reads, and rolled back when it throws", async function () {
    const seen: unknown[] = [];
    const outcome = await failure(
      own(async () => {
        await debit(getApp(), ACCOUNTS.a, 1);
        seen.push((await account().findOne({ id: ACCOUNTS.a }))?.balance);
        seen.push(await account().sum('balance', {}));
        throw boom;
      }),
    );
    expect(outcome).to.equal(boom);
    expect(seen).to.deep.equal([1, 501]);
    expect(await balances()).to.deep.equal([1000, 500, 0]);
  });

  it('commits it with the calls given usingConnection(db): one PostgreSQL transaction, no engine log', async function () {
    await own(async (db) => {
      await debit(getApp(), ACCOUNTS.a, 700);
      await account().updateOne({ id: ACCOUNTS.b }).set({ balance: 800 }).usingConnection(db);
    });
    expect(await balances()).to.deep.equal([700, 800, 0]);
    expect(await modelOf(getApp(), 'transactlog').find({})).to.deep.equal([]);
  });

  it('Promise.all of several such calls joins, all or nothing', async function () {
    const outcome = await failure(
      own(async () => {
        await Promise.all([debit(getApp(), ACCOUNTS.a, 1), debit(getApp(), ACCOUNTS.b, 2), debit(getApp(), C, 3)]);
        expect(await balances()).to.deep.equal([1, 2, 3]);
        throw boom;
      }),
    );
    expect(outcome).to.equal(boom);
    expect(await balances()).to.deep.equal([1000, 500, 0]);
    await own(() => Promise.all([debit(getApp(), ACCOUNTS.a, 4), debit(getApp(), ACCOUNTS.b, 5)]));
    expect(await balances()).to.deep.equal([4, 5, 0]);
  });

  it('a lifecycle callback doing another model call joins (beforeCreate and afterCreate)', async function () {
    type Callbacks = Record<string, (record: Row, proceed: (err?: unknown) => void) => void>;
    const callbacks = (getApp().models.transfer as unknown as { _callbacks: Callbacks })._callbacks;
    const saved = { ...callbacks };
    callbacks.beforeCreate = (record, proceed) => {
      debit(getApp(), record.from as string, 11).then(() => proceed(), proceed);
    };
    callbacks.afterCreate = (record, proceed) => {
      debit(getApp(), record.to as string, 22).then(() => proceed(), proceed);
    };
    try {
      const outcome = await failure(
        own(async () => {
          await transfer().create({ id: newId(), from: ACCOUNTS.a, to: ACCOUNTS.b, amount: 5 }).fetch();
          expect(await balances()).to.deep.equal([11, 22, 0]);
          throw boom;
        }),
      );
      expect(outcome).to.equal(boom);
    } finally {
      for (const name of ['beforeCreate', 'afterCreate']) delete callbacks[name];
      Object.assign(callbacks, saved);
    }
    expect(await balances()).to.deep.equal([1000, 500, 0]);
    expect(await transfer().find({})).to.deep.equal([]);
  });

  it('createEach, findOrCreate, stream, count and sum join', async function () {
    const d = newId();
    const e = newId();
    const outcome = await failure(
      own(async () => {
        await account().createEach([{ id: d, owner: 'Dave', balance: 40 }]);
        await (account() as unknown as { findOrCreate(criteria: Row, values: Row): PromiseLike<Row> }).findOrCreate({ id: e }, { id: e, owner: 'Erin', balance: 60 });
        expect(await account().count({})).to.equal(5);
        expect(await account().sum('balance', {})).to.equal(1600);
        const stream = (account() as unknown as { stream(criteria: Row): { eachRecord(fn: (row: Row) => Promise<void>): PromiseLike<void> } }).stream({ id: { in: [d, e] } });
        await stream.eachRecord(async (row) => {
          await account().updateOne({ id: row.id as string }).set({ balance: 0 });
        });
        expect(await account().sum('balance', {})).to.equal(1500);
        throw boom;
      }),
    );
    expect(outcome).to.equal(boom);
    expect(await account().count({})).to.equal(3);
    expect(await balances()).to.deep.equal([1000, 500, 0]);
  });

  it(".meta({transact: 'outside'}) and hooks.transact.outside(fn) run outside: committed though the transaction rolls back", async function () {
    const outcome = await failure(
      own(async () => {
        await debit(getApp(), ACCOUNTS.a, 1);
        await account().updateOne({ id: ACCOUNTS.b }).set({ balance: 2 }).meta({ transact: 'outside' });
        await getApp().hooks.transact.outside(() => debit(getApp(), C, 3));
        throw boom;
      }),
    );
    expect(outcome).to.equal(boom);
    expect(await balances()).to.deep.equal([1000, 2, 3]);
  });

  it('statements started and not awaited are waited for before the commit', async function () {
    await own(async () => {
      // Started (a Waterline query runs when awaited or exec'd), then left running on the client.
      void Promise.resolve(debit(getApp(), ACCOUNTS.a, 321));
      await new Promise((resolve) => setImmediate(resolve));
    });
    expect(await balances()).to.deep.equal([321, 500, 0]);
  });

  it('a timer set inside that fires after the end is refused (transaction_ended), nothing written', async function () {
    let fired: Promise<unknown> | undefined;
    await own(async () => {
      await debit(getApp(), ACCOUNTS.a, 900);
      fired = new Promise((resolve) => {
        setTimeout(() => resolve(Promise.all([failure(debit(getApp(), ACCOUNTS.b, 1)), failure(own(async () => debit(getApp(), C, 1))), failure(getApp().transact?.(async () => debit(getApp(), C, 2)) as Promise<unknown>)])), 50);
      });
    });
    const late = (await (fired as Promise<unknown[]>)).map((err) => transactErrorOf(err)?.code);
    expect(late).to.deep.equal(['transaction_ended', 'transaction_ended', 'transaction_ended']);
    await sleep(20);
    expect(await balances()).to.deep.equal([900, 500, 0]);
  });

  it('refuses a transaction started inside (nested_transaction); outside(fn) starts one on its own', async function () {
    const nested: unknown[] = [];
    await own(async () => {
      nested.push(await failure(getApp().transact?.(async () => debit(getApp(), ACCOUNTS.b, 1)) as Promise<unknown>));
      nested.push(await failure(own(async () => debit(getApp(), ACCOUNTS.b, 1))));
      await debit(getApp(), ACCOUNTS.a, 10);
      await getApp().hooks.transact.outside(() => runIn(getApp(), 'sails.transact', async () => debit(getApp(), C, 7)));
    });
    expect(nested.map((err) => transactErrorOf(err)?.code)).to.deep.equal(['nested_transaction', 'nested_transaction']);
    expect(await balances()).to.deep.equal([10, 500, 7]);
  });

  it('a model on another datastore is refused (unsupported_query), never run outside', async function () {
    const model = getApp().models.transfer as unknown as { datastore: string };
    const saved = model.datastore;
    model.datastore = 'elsewhere';
    let outcome: unknown;
    try {
      outcome = await failure(own(async () => transfer().create({ id: newId(), from: ACCOUNTS.a, to: ACCOUNTS.b, amount: 1 })));
    } finally {
      model.datastore = saved;
    }
    expect(transactErrorOf(outcome)?.code).to.equal('unsupported_query');
    expect(await transfer().find({})).to.deep.equal([]);
  });

  it("the hook's committed reads inside stay committed reads (the engine's own calls never join)", async function () {
    const seen = await own(async () => {
      await debit(getApp(), ACCOUNTS.a, 5);
      return (await getApp().hooks.transact.reads().findOne('account', ACCOUNTS.a))?.balance;
    });
    expect(seen).to.equal(1000);
    expect(await balances()).to.deep.equal([5, 500, 0]);
  });
});
