/**
 * The finance rules, per adapter: idempotency keys (at most once, replayed result or error),
 * undeletable history, per-document history and state at a time, reversal by a linked
 * compensating transaction, and retries of transient adapter errors.
 */
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { Engine } from '../../../lib/engine';
import { isTransactError } from '../../../lib/core/errors';
import type { Operation } from '../../../lib/core/types';
import { type LoadedApp, useApp } from '../../support/app';
import { rejection } from '../../support/errors';
import { FlakyStore } from '../../support/flaky';
import { IDS, seedAccounts, snapshot } from '../../support/scenario';
import { forEachPath, protocolConfig } from '../../support/targets';

const transfer = (from: string, to: string, amount: number): Operation[] => [
  { op: 'increment', model: 'account', id: from, field: 'balance', by: -amount, min: 0 },
  { op: 'increment', model: 'account', id: to, field: 'balance', by: amount },
  { op: 'create', model: 'transfer', values: { from, to, amount } },
];

forEachPath('finance rules', (target, _adapter, protocol) => {
  const getApp = useApp(target, { migrate: 'drop', transact: { leaseMs: 1000, clockSkewMs: 0, retry: { retries: 3, minTimeoutMs: 1, maxTimeoutMs: 5, factor: 2 }, ...protocolConfig(protocol) } }, seedAccounts);
  let app: LoadedApp;
  let engine: Engine;
  const balance = async (id: string): Promise<unknown> => (await app.models.account.findOne({ id }))?.balance;
  beforeEach(function () {
    app = getApp();
    engine = app.hooks.transact.engine as Engine;
  });

  describe('idempotency keys', function () {
    it('runs a keyed batch once however often it is repeated, returning the first result', async function () {
      const first = await engine.batch(transfer(IDS.alice, IDS.bob, 100), { idempotencyKey: 'pay-1' });
      const again = await engine.batch(transfer(IDS.alice, IDS.bob, 100), { idempotencyKey: 'pay-1' });
      expect(again).to.deep.equal(first);
      expect(await balance(IDS.alice)).to.equal(900);
      expect(await app.models.transfer.count({})).to.equal(1);
      const other = await engine.batch(transfer(IDS.alice, IDS.bob, 100), { idempotencyKey: 'pay-2' });
      expect(other.id).to.not.equal(first.id);
      expect(await balance(IDS.alice)).to.equal(800);
    });

    it('runs a keyed batch once when ten copies arrive at the same time', async function () {
      const results = await Promise.all(Array.from({ length: 10 }, () => engine.batch(transfer(IDS.alice, IDS.bob, 100), { idempotencyKey: 'callback-7' })));
      expect(new Set(results.map((r) => r.id)).size).to.equal(1);
      expect(await balance(IDS.alice)).to.equal(900);
      expect(await balance(IDS.bob)).to.equal(600);
      expect(await app.models.transfer.count({})).to.equal(1);
      expect((await snapshot(app)).logs).to.have.length(1);
    });

    it('runs a keyed interactive transaction once, concurrent or sequential, replaying its result', async function () {
      let runs = 0;
      const work = async (tx: Parameters<Parameters<Engine['interactive']>[0]>[0]): Promise<{ credited: number }> => {
        runs++;
        await tx.increment('account', IDS.bob, 'balance', 50);
        return { credited: 50 };
      };
      const results = await Promise.all(Array.from({ length: 5 }, () => engine.interactive(work, { idempotencyKey: 'credit-1' })));
      results.push(await engine.interactive(work, { idempotencyKey: 'credit-1' }));
      expect(runs).to.equal(1);
      expect(results).to.deep.equal(Array.from({ length: 6 }, () => ({ credited: 50 })));
      expect(await balance(IDS.bob)).to.equal(550);
    });

    it("replays the first attempt's error, without running again", async function () {
      const first = await rejection(engine.batch(transfer(IDS.dave, IDS.bob, 100), { idempotencyKey: 'too-much' }));
      expect(first.code).to.equal('bound_violation');
      await app.models.account.update({ id: IDS.dave }).set({ balance: 1000 }); // it would succeed now…
      const again = await rejection(engine.batch(transfer(IDS.dave, IDS.bob, 100), { idempotencyKey: 'too-much' }));
      expect(again.code).to.equal('bound_violation'); // …but it is never run again
      expect(again.path, 'the replayed error points at the same operation').to.equal(first.path);
      expect(await balance(IDS.dave)).to.equal(1000);
      expect(await app.models.transfer.count({})).to.equal(0);
    });

    it('runs a keyed request again when its first run decided nothing (a lock wait ran out), keeping the failed attempt in the log', async function () {
      let release: () => void = () => undefined;
      let holding: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (holding = resolve));
      // Another transaction holds Bob's account while the keyed transfer waits 100 ms for it, then gives up.
      const holder = engine.interactive(async (tx) => {
        await tx.read('account', IDS.bob);
        holding();
        await new Promise<void>((resolve) => (release = resolve));
      });
      await held;
      const first = await rejection(engine.batch(transfer(IDS.alice, IDS.bob, 100), { idempotencyKey: 'retry-me', lockTimeoutMs: 100 }));
      expect(first.code).to.equal('lock_timeout');
      release();
      await holder;
      const again = await engine.batch(transfer(IDS.alice, IDS.bob, 100), { idempotencyKey: 'retry-me' });
      expect(again.state).to.equal('committed');
      const third = await engine.batch(transfer(IDS.alice, IDS.bob, 100), { idempotencyKey: 'retry-me' });
      expect(third.id).to.equal(again.id);
      expect(await balance(IDS.alice)).to.equal(900);
      expect(await app.models.transfer.count({})).to.equal(1);
      const attempts = (await snapshot(app)).logs.filter((log) => String(log.id).startsWith(again.id));
      // On the log protocol the failed attempt is kept as <id>.<epoch>; a native one left nothing.
      expect(attempts.map((log) => [log.state, (log.error as { code?: string } | null)?.code ?? null])).to.have.deep.members([
        ['committed', null],
        ...(protocol === 'log' ? [['rolled-back', 'lock_timeout']] : []),
      ]);
    });

    it('refuses a key reused for different operations', async function () {
      await engine.batch(transfer(IDS.alice, IDS.bob, 100), { idempotencyKey: 'pay-3' });
      const err = await rejection(engine.batch(transfer(IDS.alice, IDS.bob, 999), { idempotencyKey: 'pay-3' }));
      expect(err.code).to.equal('idempotency_conflict');
      expect(await balance(IDS.alice)).to.equal(900);
    });
  });

  describe('history is never deleted', function () {
    it('refuses destroy of the log and of financial models through the model API', async function () {
      await engine.batch(transfer(IDS.alice, IDS.bob, 100));
      for (const identity of ['transactlog', 'transfer']) {
        const model = app.models[identity];
        expect((await rejection(Promise.resolve(model.destroy({})))).code).to.equal('destroy_forbidden');
        expect((await rejection(Promise.resolve(model.destroy({}).meta({ fetch: true })))).code).to.equal('destroy_forbidden');
        const viaCallback = await new Promise((resolve) => (model.destroy as (c: object, cb: (err: unknown) => void) => void)({}, resolve));
        expect(isTransactError(viaCallback, 'destroy_forbidden')).to.equal(true);
        expect(await model.count({})).to.equal(1);
      }
    });

    it('refuses destroy of a financial document through the engine, writing nothing', async function () {
      const { steps } = await engine.batch(transfer(IDS.alice, IDS.bob, 100));
      const before = await snapshot(app);
      const err = await rejection(engine.batch([{ op: 'destroy', model: 'transfer', id: steps[2].id }]));
      expect(err).to.include({ code: 'destroy_forbidden', path: 'ops.0.op' });
      const failed = await rejection(engine.interactive(async (tx) => tx.destroy('transfer', steps[2].id)));
      expect(failed.code).to.equal('destroy_forbidden');
      const after = await snapshot(app);
      expect(after.transfers).to.deep.equal(before.transfers);
      expect(after.accounts).to.deep.equal(before.accounts);
    });

    it('returns every committed version of a document in order, and its state at any time', async function () {
      const seeded = await app.models.account.findOne({ id: IDS.alice });
      const t0 = Date.now();
      await sleep(5);
      const one = await engine.batch([{ op: 'increment', model: 'account', id: IDS.alice, field: 'balance', by: -100 }]);
      await sleep(5);
      const t1 = Date.now();
      await sleep(5);
      const rolledBack = await engine
        .interactive(async (tx) => {
          await tx.update('account', IDS.alice, { owner: 'Mallory' });
          throw new Error('rolled back: not history');
        })
        .then(() => null, (err: unknown) => err);
      expect((rolledBack as Error).message).to.equal('rolled back: not history');
      const two = await engine.batch([{ op: 'update', model: 'account', id: IDS.alice, set: { owner: 'Alicia', meta: { v: 2 } } }]);
      const versions = await engine.history('account', IDS.alice);
      expect(versions.map((v) => v.transaction)).to.deep.equal([one.id, two.id]);
      expect(versions[0].before).to.deep.equal(seeded);
      expect(versions[0].after).to.deep.include({ balance: 900, owner: 'Alice' });
      expect(versions[1].before).to.deep.equal(versions[0].after);
      expect(versions[1].after).to.deep.equal(await app.models.account.findOne({ id: IDS.alice }));
      expect(await engine.stateAt('account', IDS.alice, t0)).to.deep.equal(seeded);
      expect(await engine.stateAt('account', IDS.alice, t1)).to.deep.equal(versions[0].after);
      expect(await engine.stateAt('account', IDS.alice, new Date())).to.deep.equal(versions[1].after);
    });
  });

  describe('reversal', function () {
    it('undoes a committed transfer with a new transaction, linked both ways', async function () {
      const original = await engine.batch(transfer(IDS.alice, IDS.bob, 300), { label: 'transfer' });
      const reversal = await engine.reverse(original.id, { reason: 'sent to the wrong account' });
      expect(await balance(IDS.alice)).to.equal(1000);
      expect(await balance(IDS.bob)).to.equal(500);
      expect(await app.models.transfer.findOne({ id: original.steps[2].id })).to.include({ status: 'reversed' });
      const back = await engine.getLog(reversal.id);
      expect(back).to.include({ state: 'committed', reverses: original.id, reason: 'sent to the wrong account' });
      expect(await engine.getLog(original.id)).to.include({ state: 'committed', reversedBy: reversal.id });
      const versions = await engine.history('account', IDS.alice);
      expect(versions.map((v) => v.transaction)).to.deep.equal([original.id, reversal.id]);
    });

    it('refuses to reverse twice', async function () {
      const original = await engine.batch(transfer(IDS.alice, IDS.bob, 300));
      const first = await engine.reverse(original.id, { reason: 'once' });
      const err = await rejection(engine.reverse(original.id, { reason: 'twice' }));
      expect(err.code).to.equal('already_reversed');
      expect(err.details).to.deep.include({ reversal: first.id });
      expect(await balance(IDS.alice)).to.equal(1000);
    });

    it('takes over the mark of a reversal that died before logging, or was rolled back', async function () {
      const original = await engine.batch(transfer(IDS.alice, IDS.bob, 300));
      // a reversal that claimed the original, then died before writing its log
      await engine.store.updateLog(original.id, { states: ['committed'], reversedBy: null }, { reversedBy: 'deadbeefdeadbeefdeadbeef' });
      const reversal = await engine.reverse(original.id, { reason: 'retry after a crash' });
      expect(await engine.getLog('deadbeefdeadbeefdeadbeef')).to.include({ state: 'rolled-back' });
      expect(await engine.getLog(original.id)).to.include({ reversedBy: reversal.id });
      expect(await balance(IDS.alice)).to.equal(1000);
    });

    it('refuses with a conflict naming the documents changed since, and changes nothing', async function () {
      const original = await engine.batch([{ op: 'update', model: 'account', id: IDS.carol, set: { frozen: false } }, ...transfer(IDS.alice, IDS.bob, 10)]);
      await engine.batch([{ op: 'update', model: 'account', id: IDS.carol, set: { owner: 'Caroline' } }]);
      const before = await snapshot(app);
      const err = await rejection(engine.reverse(original.id, { reason: 'too late' }));
      expect(err.code).to.equal('conflict');
      expect(err.details).to.deep.equal({ documents: [`account:${IDS.carol}`] });
      const after = await snapshot(app);
      expect(after.accounts).to.deep.equal(before.accounts);
      expect(await engine.getLog(original.id)).to.include({ reversedBy: null });
    });

    it('reverses increments by decrementing, even after later changes, within their bounds', async function () {
      const original = await engine.batch([{ op: 'increment', model: 'account', id: IDS.bob, field: 'balance', by: 400, min: 0 }]);
      await engine.batch([{ op: 'increment', model: 'account', id: IDS.bob, field: 'balance', by: 50 }]);
      await engine.reverse(original.id, { reason: 'duplicate deposit' });
      expect(await balance(IDS.bob)).to.equal(550);

      const spent = await engine.batch([{ op: 'increment', model: 'account', id: IDS.alice, field: 'balance', by: 500, min: 0 }]);
      await engine.batch([{ op: 'increment', model: 'account', id: IDS.alice, field: 'balance', by: -1400, min: 0 }]);
      const err = await rejection(engine.reverse(spent.id, { reason: 'money already spent' }));
      expect(err.code).to.equal('bound_violation');
      expect(await balance(IDS.alice)).to.equal(100);
      expect(await engine.getLog(spent.id)).to.include({ reversedBy: null });
    });

    it("bounds a credit's reversal by the model's declared floor (Account.balance min: 0) when the credit had none, writing nothing", async function () {
      // The credit step of a transfer carries no `min`: only the model's rule stops its undoing.
      const toDave = await engine.batch(transfer(IDS.alice, IDS.dave, 300));
      await engine.batch(transfer(IDS.dave, IDS.bob, 300));
      // A refused reversal keeps its own rolled-back log: the documents are what must not change.
      const documents = async (): Promise<unknown> => {
        const { accounts, transfers } = await snapshot(app);
        return { accounts, transfers };
      };
      const before = await documents();
      const err = await rejection(engine.reverse(toDave.id, { reason: 'paid to the wrong account' }));
      expect(err.code).to.equal('bound_violation');
      expect(err.details).to.include({ model: 'account', id: IDS.dave, field: 'balance' });
      expect(await documents()).to.deep.equal(before);
      expect(await engine.getLog(toDave.id)).to.include({ reversedBy: null });
      // The same rule bounds any increment without a bound of its own.
      const direct = await rejection(engine.batch([{ op: 'increment', model: 'account', id: IDS.dave, field: 'balance', by: -8 }]));
      expect(direct.code).to.equal('bound_violation');
      expect(await balance(IDS.dave)).to.equal(7);
    });

    it('refuses what cannot be reversed: unknown, rolled back, or without a reason', async function () {
      expect((await rejection(engine.reverse('ffffffffffffffffffffffff', { reason: 'x' }))).code).to.equal('not_found');
      await rejection(engine.batch(transfer(IDS.dave, IDS.bob, 100), { idempotencyKey: 'fails' }));
      const failed = (await snapshot(app)).logs[0];
      expect((await rejection(engine.reverse(String(failed.id), { reason: 'x' }))).code).to.equal('not_committed');
      const ok = await engine.batch(transfer(IDS.alice, IDS.bob, 1));
      expect((await rejection(engine.reverse(ok.id, { reason: '  ' }))).code).to.equal('validation_failed');
      expect((await rejection(engine.reverse(ok.id, {} as never))).path).to.equal('reversal.reason');
    });
  });

  describe('transient errors', function () {
    /** An engine over a store whose next `failures` calls fail (once its clock is set: that call is not one of them). */
    const flakyEngine = async (failures: number, options?: Parameters<typeof FlakyStore.wrap>[2]) => {
      const store = FlakyStore.wrap(engine.store, 0, options);
      const flaky = new Engine(store, (identity) => app.models[identity], engine.options);
      await flaky.start();
      store.flaky.remaining = failures;
      store.flaky.calls = 0;
      store.flaky.callsByMethod.clear();
      return { store, flaky };
    };

    it('retries transient store errors and commits once', async function () {
      const { store, flaky } = await flakyEngine(3);
      await flaky.batch(transfer(IDS.alice, IDS.bob, 100));
      expect(store.flaky.remaining).to.equal(0);
      expect(flaky.retries.retried).to.be.at.least(3);
      expect(await balance(IDS.alice)).to.equal(900);
      expect((await snapshot(app)).logs.map((l) => l.state)).to.deep.equal(['committed']);
    });

    it('commits once when a reply was lost after the write went through', async function () {
      const { store, flaky } = await flakyEngine(2, { lostReply: true });
      await flaky.batch(transfer(IDS.alice, IDS.bob, 100));
      expect(store.flaky.remaining).to.equal(0);
      expect(await balance(IDS.alice)).to.equal(900);
      expect(await app.models.transfer.count({})).to.equal(1);
      expect((await snapshot(app)).logs.map((l) => l.state)).to.deep.equal(['committed']);
    });

    it('gives up after the configured attempts, writing nothing', async function () {
      const { store, flaky } = await flakyEngine(100);
      const err = await flaky.batch(transfer(IDS.alice, IDS.bob, 100)).then(() => null, (e: unknown) => e as { code?: string; cause?: { code?: string } });
      // A transient store error that outlived its retries reaches the caller as `unavailable`, with the cause.
      expect(err?.code).to.equal('unavailable');
      expect(err?.cause?.code).to.equal('ECONNRESET');
      // the lock acquisition was tried 1 + retries times, then the error surfaced
      expect(store.flaky.callsByMethod.get('insertLocks')).to.equal(engine.options.retry.retries + 1);
      expect(await balance(IDS.alice)).to.equal(1000);
    });

    it('fails fast on an error that is not transient', async function () {
      const { store, flaky } = await flakyEngine(1, { error: () => Object.assign(new Error('bad query'), { code: 'E_BAD' }) });
      const err = await flaky.batch(transfer(IDS.alice, IDS.bob, 100)).then(() => null, (e: unknown) => e as { code?: string });
      expect(err?.code).to.equal('E_BAD');
      expect(store.flaky.calls).to.equal(2); // the failed call, then releasing its locks: no retry
      expect(flaky.retries.retried).to.equal(0);
    });

    it('retries a transient failure of a document write', async function () {
      const connectionLost = (): Error => Object.assign(new Error('Connection terminated unexpectedly'), { code: '57P01' });
      const { store, flaky } = await flakyEngine(2, { methods: ['writeDocuments'], error: connectionLost });
      await flaky.batch([{ op: 'increment', model: 'account', id: IDS.alice, field: 'balance', by: -1 }]);
      expect(store.flaky.remaining).to.equal(0);
      expect(store.flaky.callsByMethod.get('writeDocuments')).to.equal(3);
      expect(await balance(IDS.alice)).to.equal(999);
    });
  });
});
