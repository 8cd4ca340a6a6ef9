/**
 * The engine's semantics, on each adapter: commit, compensation exactness, write-ahead ordering,
 * validation before any write, bounds, and the log's states.
 */
import { expect } from 'chai';
import type { Engine } from '../../../lib/engine';
import type { Image } from '../../../lib/core/types';
import { type LoadedApp, loadApp, lowerApp, wipe } from '../../support/app';
import { rejection } from '../../support/errors';
import { forEachPath, protocolConfig } from '../../support/targets';

type Row = Record<string, unknown>;

forEachPath('engine', (target, _adapter, protocol) => {
  /** Cases about the log protocol's own mechanics (write-ahead, compensation writes). */
  const logOnly = protocol === 'log' ? it : it.skip;
  let app: LoadedApp;
  let engine: Engine;
  let seed: { alice: Row; bob: Row; carol: Row; dave: Row };

  /** Every document of the app's models, and every log and lock: the whole observable state. */
  async function snapshot(): Promise<{ accounts: Row[]; transfers: Row[]; logs: Row[]; locks: Row[] }> {
    const sort = (rows: Row[]): Row[] => rows.sort((a, b) => String(a.id).localeCompare(String(b.id)));
    return {
      accounts: sort(await app.models.account.find({})),
      transfers: sort(await app.models.transfer.find({})),
      logs: sort(await app.models.transactlog.find({})),
      locks: sort(await app.models.transactlock.find({})),
    };
  }

  before(async function () {
    app = await loadApp(target(), { migrate: 'drop', transact: protocolConfig(protocol) });
    engine = app.hooks.transact.engine as Engine;
  });

  after(async function () {
    if (app !== undefined) await lowerApp(app);
  });

  beforeEach(async function () {
    await wipe(app);
    const make = async (id: string, values: Row): Promise<Row> => {
      await app.models.account.create({ id, ...values });
      return (await app.models.account.findOne({ id })) as Row;
    };
    seed = {
      alice: await make('a00000000000000000000001', { owner: 'Alice', balance: 1000, meta: { tier: 'gold', tags: ['x'] } }),
      bob: await make('a00000000000000000000002', { owner: 'Bob', balance: 500, currency: 'CNY' }),
      carol: await make('a00000000000000000000003', { owner: 'Carol', balance: 0, frozen: true, meta: null }),
      dave: await make('a00000000000000000000004', { owner: 'Dave', balance: 7 }),
    };
  });

  describe('declarative batch', function () {
    it('commits every operation kind at once and logs each step with its before- and after-image', async function () {
      const committedBefore = engine.stats.committed;
      const result = await engine.batch([
        { op: 'increment', model: 'account', id: seed.alice.id, field: 'balance', by: -300, min: 0 },
        { op: 'increment', model: 'account', id: seed.bob.id, field: 'balance', by: 300 },
        { op: 'create', model: 'transfer', values: { from: seed.alice.id, to: seed.bob.id, amount: 300 } },
        { op: 'update', model: 'account', id: seed.carol.id, set: { frozen: false, meta: { note: 'unfrozen' } } },
        { op: 'destroy', model: 'account', id: seed.dave.id },
      ]);
      const state = await snapshot();
      const byId = new Map(state.accounts.map((row) => [row.id, row]));
      expect(byId.get(seed.alice.id)?.balance).to.equal(700);
      expect(byId.get(seed.bob.id)?.balance).to.equal(800);
      expect(byId.get(seed.carol.id)).to.include({ frozen: false }).and.to.have.deep.property('meta', { note: 'unfrozen' });
      expect(byId.has(seed.dave.id)).to.equal(false);
      expect(state.transfers).to.have.length(1);
      expect(state.transfers[0]).to.include({ id: result.steps[2].id, amount: 300 });
      expect(state.locks).to.deep.equal([]);
      expect(engine.stats.committed, 'counted for metrics').to.equal(committedBefore + 1);

      const log = await engine.getLog(result.id);
      expect(log?.state).to.equal('committed');
      expect(log?.steps.map((s) => s.kind)).to.deep.equal(['increment', 'increment', 'create', 'update', 'destroy']);
      expect(log?.steps[0].before).to.deep.equal(seed.alice);
      expect(log?.steps[4].before).to.deep.equal(seed.dave);
      expect(log?.steps[4].after).to.equal(null);
      // the logged after-images of an update and of a create are exactly what the database now holds
      expect(log?.steps[3].after).to.deep.equal(byId.get(seed.carol.id));
      expect(log?.steps[2].after).to.deep.equal(state.transfers[0]);
    });

    it('refuses a bound violation with nothing written, no log and no lock left', async function () {
      const before = await snapshot();
      const err = await rejection(engine.batch([
        { op: 'increment', model: 'account', id: seed.bob.id, field: 'balance', by: 100 },
        { op: 'increment', model: 'account', id: seed.alice.id, field: 'balance', by: -1001, min: 0 },
      ]));
      expect(err.code).to.equal('bound_violation');
      expect(err.path).to.equal('ops.1');
      expect(await snapshot()).to.deep.equal(before);
    });

    it('applies operations on one document in order, each seeing the previous one', async function () {
      await engine.batch([
        { op: 'increment', model: 'account', id: seed.alice.id, field: 'balance', by: -600, min: 0 },
        { op: 'increment', model: 'account', id: seed.alice.id, field: 'balance', by: -400, min: 0 },
      ]);
      expect((await app.models.account.findOne({ id: seed.alice.id }))?.balance).to.equal(0);
      const err = await rejection(engine.batch([
        { op: 'increment', model: 'account', id: seed.bob.id, field: 'balance', by: -300, min: 0 },
        { op: 'increment', model: 'account', id: seed.bob.id, field: 'balance', by: -300, min: 0 },
      ]));
      expect(err.code).to.equal('bound_violation');
      expect((await app.models.account.findOne({ id: seed.bob.id }))?.balance).to.equal(500);
    });

    it('fails with not_found / already_exists before writing anything', async function () {
      const before = await snapshot();
      const missing = await rejection(engine.batch([
        { op: 'increment', model: 'account', id: seed.bob.id, field: 'balance', by: 1 },
        { op: 'update', model: 'account', id: 'ffffffffffffffffffffffff', set: { owner: 'Nobody' } },
      ]));
      expect(missing).to.include({ code: 'not_found', path: 'ops.1.id' });
      const duplicate = await rejection(engine.batch([{ op: 'create', model: 'account', id: seed.bob.id, values: { owner: 'Twin' } }]));
      expect(duplicate).to.include({ code: 'already_exists', path: 'ops.0.id' });
      expect(await snapshot()).to.deep.equal(before);
    });

    logOnly('compensates exactly when a write fails after the log: every attribute back, created gone, destroyed back', async function () {
      const before = await snapshot();
      // The datastore refuses the last write, after four went through (a non-transient failure);
      // it works again for the compensation, which re-creates the destroyed account. Injected where
      // every adapter's document writes go: the store's fenced write.
      const { store } = engine;
      const original = store.writeDocuments.bind(store);
      let writes = 0;
      store.writeDocuments = async (list, fence) => {
        if (++writes === 5) throw Object.assign(new Error('disk full'), { code: 'E_DISK_FULL' });
        return original(list, fence);
      };
      let err: unknown;
      try {
        err = await engine
          .batch([
            { op: 'increment', model: 'account', id: seed.alice.id, field: 'balance', by: -1 },
            { op: 'create', model: 'transfer', values: { from: seed.alice.id, to: seed.bob.id, amount: 1 } },
            { op: 'update', model: 'account', id: seed.carol.id, set: { meta: { changed: true }, frozen: false, owner: 'C.' } },
            { op: 'destroy', model: 'account', id: seed.dave.id },
            { op: 'create', model: 'account', values: { owner: 'Eve' } },
          ])
          .then(() => null, (e: unknown) => e);
      } finally {
        store.writeDocuments = original;
      }
      expect((err as { code?: string } | null)?.code).to.equal('E_DISK_FULL');
      const after = await snapshot();
      expect(after.accounts).to.deep.equal(before.accounts);
      expect(after.transfers).to.deep.equal([]);
      expect(after.locks).to.deep.equal([]);
      expect(after.logs).to.have.length(1);
      expect(after.logs[0]).to.include({ state: 'rolled-back' });
      expect(after.logs[0].error).to.deep.include({ message: 'disk full' });
    });
  });

  describe('interactive transaction', function () {
    it('commits the writes made through tx when the callback returns, and returns its result', async function () {
      const result = await engine.interactive(async (tx) => {
        const alice = (await tx.read('account', seed.alice.id as string)) as Image;
        await tx.update('account', seed.alice.id as string, { balance: (alice.balance as number) - 250 });
        await tx.increment('account', seed.bob.id as string, 'balance', 250);
        const transfer = await tx.create('transfer', { from: seed.alice.id, to: seed.bob.id, amount: 250 });
        return transfer.id;
      });
      expect(await app.models.transfer.findOne({ id: result as string })).to.include({ amount: 250 });
      expect((await app.models.account.findOne({ id: seed.alice.id }))?.balance).to.equal(750);
      expect((await app.models.account.findOne({ id: seed.bob.id }))?.balance).to.equal(750);
      const { logs, locks } = await snapshot();
      expect(logs.map((l) => [l.state, l.mode])).to.deep.equal([['committed', 'interactive']]);
      expect(locks).to.deep.equal([]);
    });

    it('rolls back exactly when the callback throws, and rethrows its error', async function () {
      const before = await snapshot();
      const rolledBackBefore = engine.stats.rolledBack;
      const boom = new Error('business rule says no');
      const thrown = await engine.interactive(async (tx) => {
        await tx.increment('account', seed.alice.id as string, 'balance', -100, { min: 0 });
        await tx.update('account', seed.carol.id as string, { meta: { a: [1, 2] }, frozen: false });
        await tx.destroy('account', seed.dave.id as string);
        await tx.create('transfer', { from: seed.alice.id, to: seed.bob.id, amount: 100 });
        throw boom;
      }).then(() => null, (e: unknown) => e);
      expect(thrown).to.equal(boom);
      const after = await snapshot();
      expect(after.accounts).to.deep.equal(before.accounts);
      expect(after.transfers).to.deep.equal([]);
      expect(after.locks).to.deep.equal([]);
      if (protocol === 'log') {
        expect(after.logs[0]).to.include({ state: 'rolled-back' });
        expect(after.logs[0].error).to.deep.include({ message: 'business rule says no' });
      } else {
        expect(after.logs, 'a native transaction that rolled back leaves no trace').to.deep.equal([]);
      }
      expect(engine.stats.rolledBack, 'counted for metrics').to.equal(rolledBackBefore + 1);
    });

    logOnly('writes the step with its before-image to the log before the document changes (write-ahead)', async function () {
      // Intercepted where every adapter's document writes go: the store's fenced write.
      const { store } = engine;
      const original = store.writeDocuments.bind(store);
      const seenInLog: unknown[] = [];
      store.writeDocuments = async (writes, fence) => {
        // When the write runs, read the log first: the step must already be there.
        const logs = await app.models.transactlog.find({});
        const ids = writes.map((write) => write.action.id);
        seenInLog.push(logs.flatMap((l) => (l.steps as { id: string; before: unknown }[]).filter((s) => ids.includes(s.id)).map((s) => s.before)));
        return original(writes, fence);
      };
      try {
        await engine.interactive(async (tx) => {
          await tx.increment('account', seed.alice.id as string, 'balance', -5);
        });
      } finally {
        store.writeDocuments = original;
      }
      expect(seenInLog).to.deep.equal([[seed.alice]]);
    });

    it('refuses calls on tx after the callback ended', async function () {
      let saved: Parameters<Parameters<Engine['interactive']>[0]>[0] | undefined;
      await engine.interactive(async (tx) => {
        saved = tx;
      });
      const err = await rejection((saved as NonNullable<typeof saved>).increment('account', seed.alice.id as string, 'balance', 1));
      expect(err.code).to.equal('aborted');
      expect((await app.models.account.findOne({ id: seed.alice.id }))?.balance).to.equal(1000);
    });
  });

  describe('validation', function () {
    const cases: [string, unknown, string, string | undefined][] = [
      ['an empty batch', [], 'validation_failed', 'ops'],
      ['not an array', { op: 'create' }, 'validation_failed', 'ops'],
      ['an unknown op', [{ op: 'upsert', model: 'account', id: 'x' }], 'validation_failed', 'ops.0.op'],
      ['an unknown model', [{ op: 'update', model: 'nosuch', id: 'x', set: { a: 1 } }], 'unknown_model', 'ops.0.model'],
      ['the log model', [{ op: 'destroy', model: 'transactlog', id: 'x' }], 'unknown_model', 'ops.0.model'],
      ['an unknown attribute', [{ op: 'update', model: 'account', id: 'x', set: { balanse: 1 } }], 'unknown_attribute', 'ops.0.set.balanse'],
      ['a wrong type', [{ op: 'update', model: 'account', id: 'x', set: { owner: 5 } }], 'validation_failed', 'ops.0.set.owner'],
      ['NaN', [{ op: 'update', model: 'account', id: 'x', set: { balance: Number.NaN } }], 'validation_failed', 'ops.0.set.balance'],
      ['Infinity in json', [{ op: 'update', model: 'account', id: 'x', set: { meta: { a: Infinity } } }], 'validation_failed', 'ops.0.set.meta'],
      ['non-integer money', [{ op: 'increment', model: 'account', id: 'x', field: 'balance', by: 0.1 }], 'validation_failed', 'ops.0.by'],
      ['an unsafe integer', [{ op: 'increment', model: 'account', id: 'x', field: 'balance', by: 2 ** 53 }], 'validation_failed', 'ops.0.by'],
      ['a missing id', [{ op: 'destroy', model: 'account' }], 'validation_failed', 'ops.0.id'],
      ['an increment of a string field', [{ op: 'increment', model: 'account', id: 'x', field: 'owner', by: 1 }], 'validation_failed', 'ops.0.field'],
      ['min above max', [{ op: 'increment', model: 'account', id: 'x', field: 'balance', by: 1, min: 5, max: 1 }], 'validation_failed', 'ops.0.max'],
      ['setting the primary key', [{ op: 'update', model: 'account', id: 'x', set: { id: 'y' } }], 'validation_failed', 'ops.0.set.id'],
      ['fractional cents in a value', [{ op: 'create', model: 'transfer', values: { from: 'a', to: 'b', amount: 1.5 } }], 'validation_failed', 'ops.0.values.amount'],
      ['a value outside the model\'s isIn rule', [{ op: 'update', model: 'account', id: 'x', set: { currency: 'XXX' } }], 'validation_failed', 'ops.0.set.currency'],
      ['a missing required attribute', [{ op: 'create', model: 'transfer', values: { from: 'a', amount: 1 } }], 'validation_failed', 'ops.0.values.to'],
    ];
    for (const [name, input, code, path] of cases) {
      it(`refuses ${name} (${code}) and writes nothing`, async function () {
        const before = await snapshot();
        const err = await rejection(engine.batch(input));
        expect(err.code).to.equal(code);
        expect(err.path).to.equal(path);
        expect(err.message).to.be.a('string').and.not.equal('');
        expect(await snapshot()).to.deep.equal(before);
      });
    }

    it('refuses a batch over the configured maximum size', async function () {
      const ops = Array.from({ length: engine.options.maxOps + 1 }, () => ({ op: 'create', model: 'transfer', values: { from: 'a', to: 'b', amount: 1 } }));
      const err = await rejection(engine.batch(ops));
      expect(err).to.include({ code: 'validation_failed', path: 'ops' });
      expect(await app.models.transfer.count({})).to.equal(0);
    });

    it('refuses unknown options and a roll-forward policy for interactive transactions', async function () {
      expect((await rejection(engine.batch([{ op: 'destroy', model: 'account', id: 'x' }], { bogus: 1 } as never))).path).to.equal('options.bogus');
      expect((await rejection(engine.interactive(async () => 1, { onCrash: 'rollforward' }))).path).to.equal('options.onCrash');
    });
  });
});
