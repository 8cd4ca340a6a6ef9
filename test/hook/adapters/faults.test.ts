/**
 * Faults that are not clean deaths: an owner that stalls (SIGSTOP, a delayed network, a stalled
 * store) past its lease and then goes on, two recoverers racing, a restart that overlaps its old
 * self, clocks that disagree, un-awaited `tx` calls, a commit whose reply is lost, a log recovery
 * cannot settle. Every case makes the fault happen for real, then checks that the money adds up
 * and that every account equals what its committed history says (checkLedger).
 *
 * Cross-process cases run on sails-mongo and sails-postgresql; sails-disk lives in one process,
 * where the same faults are stalls of one engine's calls (a Gate) while the process goes on.
 */
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { Engine } from '../../../lib/engine';
import { isTransactError } from '../../../lib/core/errors';
import type { AtomicStore } from '../../../lib/store';
import { type LoadedApp, loadApp, lowerApp } from '../../support/app';
import { startChild, waitStopped } from '../../support/child';
import { rejection } from '../../support/errors';
import { Gate } from '../../support/gated';
import { newLog } from '../../../lib/core/log-document';
import { checkLedger, expectConsistent, LOAD_ACCOUNTS, recoverAll, seedLoadAccounts, START_BALANCE } from '../../support/load';
import { forEachPath, protocolConfig, required, type Target } from '../../support/targets';
import { addToxic, createProxy, deleteProxy, proxiedUrl, removeToxic, toxiproxyUrl } from '../../support/toxiproxy';

const LEASE_MS = 1000;
const [FROM, TO] = LOAD_ACCOUNTS;
const GHOST = 'a0000000000000000000ghost';

/** A transfer of the load shape (checked by checkLedger): one debit, one credit. */
function transfer(from: string, to: string, amount: number): object[] {
  return [
    { op: 'increment', model: 'account', id: from, field: 'balance', by: -amount, min: 0 },
    { op: 'increment', model: 'account', id: to, field: 'balance', by: amount },
  ];
}


/** A second engine on the app's datastore through `store` (wrapping the app engine's), with its own identity: a second instance in this process. */
async function secondEngine(app: LoadedApp, instanceId: string, store: AtomicStore): Promise<Engine> {
  const engine = app.hooks.transact.engine as Engine;
  const other = new Engine(store, (identity) => app.models[identity], { ...engine.options, instanceId });
  await other.start();
  return other;
}

forEachPath('faults', (target, adapter, protocol) => {
  let app: LoadedApp;
  let engine: Engine;
  const config = { leaseMs: LEASE_MS, clockSkewMs: 0, recoveryIntervalMs: 0, instanceId: 'observer', ...protocolConfig(protocol) };
  /** The log protocol's own mechanics (fences, leases, lock queues, recovery): on the native path PostgreSQL's transaction does this. */
  const logOnly = protocol === 'log' ? it : it.skip;
  const childEnv = { TRANSACT_PROTOCOL: protocol };

  before(async function () {
    app = await loadApp(target(), { migrate: 'drop', transact: config });
    engine = app.hooks.transact.engine as Engine;
  });
  after(async function () {
    if (app !== undefined) await lowerApp(app);
  });
  beforeEach(async function () {
    await seedLoadAccounts(app);
  });

  describe('in one process', function () {
    logOnly('a stalled owner and a stalled recoverer are both fenced out: the second recoverer and a new transaction win', async function () {
      this.timeout(120_000);
      // The owner: three of its ten document writes land, then its traffic stalls (heartbeats too).
      const ownerStore = Gate.wrap(engine.store);
      const ownerGate = ownerStore.gate;
      const owner = await secondEngine(app, 'owner', ownerStore);
      ownerGate.closeAfter('writeDocuments', 3);
      const [from, ...to] = LOAD_ACCOUNTS;
      const stalled = owner.batch([{ op: 'increment', model: 'account', id: from, field: 'balance', by: -63, min: 0 }, ...to.map((id) => ({ op: 'increment', model: 'account', id, field: 'balance', by: 7 }))], { label: 'load' });
      const ownerOutcome = stalled.then(() => 'committed', (err: unknown) => (isTransactError(err) ? err.code : String(err)));
      await ownerGate.held();
      await sleep(LEASE_MS + 200);

      // The first recoverer claims it, undoes one write, then stalls the same way.
      const [pending] = await app.models.transactlog.find({ state: 'pending' });
      expect(pending, 'the stalled batch').to.not.equal(undefined);
      const recovererStore = Gate.wrap(engine.store);
      const recovererGate = recovererStore.gate;
      const recoverer = await secondEngine(app, 'slow-recoverer', recovererStore);
      recovererGate.closeAfter('writeDocuments', 1);
      const log = await engine.getLog(String(pending.id));
      const slowRecovery = recoverer.recovery.settle(log as NonNullable<typeof log>, false);
      await recovererGate.held();
      await sleep(LEASE_MS + 200);

      // The second recoverer (this app's) takes over, finishes the rollback; a new transfer commits on the same accounts.
      await recoverAll(app);
      await engine.batch(transfer(FROM, TO, 500), { label: 'load' });
      expect((await engine.getLog(String(pending.id)))?.recoveries).to.equal(2);

      // Both stalled instances go on: every write they still had in flight is refused.
      recovererGate.open();
      expect(await slowRecovery).to.equal('lost');
      ownerGate.open();
      expect(await ownerOutcome).to.equal('lease_lost');
      await expectConsistent(app);
      expect((await app.models.account.findOne({ id: TO }))?.balance).to.equal(START_BALANCE + 500);
    });

    logOnly('a batch whose log insert landed unanswered keeps its locks: recovery rolls the log back under them (sim seed 1439)', async function () {
      this.timeout(60_000);
      // The owner's insertLog lands but its reply never comes back, and the datastore stays down
      // for the owner (getLog, which would tell retryingStore the insert was its own, fails too).
      const reset = (): Error => Object.assign(new Error('connect ECONNRESET'), { code: 'ECONNRESET' });
      const inner = engine.store;
      const ownerStore = new Proxy(inner, {
        get(target, property, receiver) {
          const value = Reflect.get(target, property, receiver) as unknown;
          if (property === 'insertLog') return async (...args: unknown[]) => { await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args); throw reset(); };
          if (property === 'getLog') return () => Promise.reject(reset());
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      const owner = await secondEngine(app, 'unanswered', ownerStore);
      const failed = await rejection(owner.batch(transfer(FROM, TO, 100), { label: 'load' }));
      expect(isTransactError(failed, 'unavailable'), String(failed)).to.equal(true);
      const [logged] = await app.models.transactlog.find({ state: 'pending', owner: { startsWith: 'unanswered' } });
      expect(logged, 'the log the owner could not confirm').to.not.equal(undefined);
      const held = await inner.findLocks([`account:${FROM}`, `account:${TO}`]);
      expect(held.map((lock) => lock.owner), 'the locks stay with the unconfirmed log').to.deep.equal([logged.id, logged.id]);
      await sleep(LEASE_MS + 200);
      await recoverAll(app);
      expect((await engine.getLog(String(logged.id)))?.state, 'recovery settles the log').to.equal('rolled-back');
      await expectConsistent(app);
    });

    logOnly('waiters on one document in this process line up: served in arrival order, without polling the datastore', async function () {
      this.timeout(60_000);
      let release: () => void = () => undefined;
      let holding: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (holding = resolve));
      const holder = engine.interactive(async (tx) => {
        await tx.read('account', TO);
        holding();
        await new Promise<void>((resolve) => (release = resolve));
      });
      await held;
      // Count what reaches the datastore's lock primitives while the five wait.
      const { store } = engine;
      const calls = { insertLocks: 0, findLocks: 0 };
      const insertLocks = store.insertLocks.bind(store);
      const findLocks = store.findLocks.bind(store);
      store.insertLocks = (locks) => (calls.insertLocks++, insertLocks(locks));
      store.findLocks = (ids) => (calls.findLocks++, findLocks(ids));
      const order: number[] = [];
      const waiters: Promise<void>[] = [];
      try {
        for (let i = 0; i < 5; i++) {
          waiters.push(engine.batch(transfer(FROM, TO, 1), { label: 'load', lockTimeoutMs: 30_000 }).then(() => void order.push(i)));
          await sleep(30);
        }
        await sleep(1500);
        const whileHeld = { ...calls };
        release();
        await holder;
        await Promise.all(waiters);
        expect(order).to.deep.equal([0, 1, 2, 3, 4]);
        // One insert attempt each on arrival, and nothing more while the holder (in this process) held it.
        expect(whileHeld.insertLocks).to.equal(5);
        expect(whileHeld.findLocks).to.equal(0);
      } finally {
        store.insertLocks = insertLocks;
        store.findLocks = findLocks;
      }
      expect((await app.models.account.findOne({ id: TO }))?.balance).to.equal(START_BALANCE + 5);
      await expectConsistent(app);
    });

    it('waits for tx calls the callback did not await before committing', async function () {
      await engine.interactive(async (tx) => {
        void tx.increment('account', FROM, 'balance', -5, { min: 0 });
        void tx.increment('account', TO, 'balance', 5);
      }, { label: 'load' });
      expect((await app.models.account.findOne({ id: FROM }))?.balance).to.equal(START_BALANCE - 5);
      expect((await app.models.account.findOne({ id: TO }))?.balance).to.equal(START_BALANCE + 5);
      await expectConsistent(app);
    });

    it('fails the transaction when a call it did not await failed: never the credit without the debit', async function () {
      const err = await rejection(
        engine.interactive(async (tx) => {
          void tx.increment('account', FROM, 'balance', -(START_BALANCE + 1), { min: 0 });
          void tx.increment('account', TO, 'balance', START_BALANCE + 1);
        }, { label: 'load' }),
      );
      expect(err.code).to.equal('bound_violation');
      await expectConsistent(app);
      expect((await app.models.account.findOne({ id: TO }))?.balance).to.equal(START_BALANCE);
    });

    logOnly('a commit whose reply is lost: outcome_unknown with the id, outcome() tells it committed, applied once', async function () {
      let broken = false;
      const lossy = await secondEngine(
        app,
        'lossy',
        new Proxy(engine.store, {
          get(inner, property, receiver) {
            const value = Reflect.get(inner, property, receiver) as unknown;
            if (property === 'updateLog') {
              return async (id: string, guard: unknown, patch: { state?: string }) => {
                if (broken) throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
                const landed = await inner.updateLog(id, guard as never, patch as never);
                // The commit reaches the datastore; its reply, and everything after it, is lost.
                if (patch.state === 'committed') broken = true;
                if (broken) throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
                return landed;
              };
            }
            if (property === 'getLog') return async (id: string) => (broken ? Promise.reject(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })) : inner.getLog(id));
            return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(inner) : value;
          },
        }),
      );
      const err = await rejection(lossy.batch(transfer(FROM, TO, 300), { label: 'load' }));
      expect(err.code).to.equal('outcome_unknown');
      const txId = String(err.details?.transaction);
      broken = false;
      expect((await engine.outcome(txId)).state).to.equal('committed');
      await recoverAll(app); // its locks, left behind, expire and are released
      await expectConsistent(app);
      expect((await app.models.account.findOne({ id: TO }))?.balance).to.equal(START_BALANCE + 300);
    });

    logOnly('a log naming a model the app no longer has is marked for attention; the pass goes on and the app lifts', async function () {
      this.timeout(60_000);
      const now = engine.clock.now();
      const ghost = { seq: 0, kind: 'update' as const, model: 'nosuchmodel', id: 'x1', before: { id: 'x1', n: 1 }, after: { id: 'x1', n: 2 } };
      await engine.store.insertLog(newLog({ id: GHOST, state: 'pending', mode: 'batch', onCrash: 'rollback', owner: 'gone#1', leaseUntil: now - 10_000, startedAt: Date.now() - 20_000, steps: [ghost], documents: ['nosuchmodel:x1'] }));
      // And a real stalled transaction behind it, which the same pass must still settle.
      const ownerStore = Gate.wrap(engine.store);
      const owner = await secondEngine(app, 'owner', ownerStore);
      ownerStore.gate.closeAfter('writeDocuments', 1);
      const stalled = owner.batch(transfer(FROM, TO, 100), { label: 'load' }).catch((e: unknown) => e);
      await ownerStore.gate.held();
      await sleep(LEASE_MS + 200);
      const summary = await app.hooks.transact.recover();
      expect(summary).to.include({ rolledBack: 1, failed: 1 });
      const marked = await engine.getLog(GHOST);
      expect(marked?.attention?.message).to.match(/nosuchmodel/);
      expect(engine.stats.attention).to.be.at.least(1);
      ownerStore.gate.open();
      await stalled;
      // The hook still lifts over this log (startup recovery marks it again and goes on).
      await lowerApp(app);
      app = await loadApp(target(), { migrate: 'safe', transact: config });
      engine = app.hooks.transact.engine as Engine;
      const ledger = await checkLedger(app);
      expect(ledger.mismatched).to.deep.equal([]);
      expect(ledger.sum).to.equal(LOAD_ACCOUNTS.length * START_BALANCE);
    });

    logOnly('job claims never crowd real orphan locks out of the recovery sweep', async function () {
      const expired = engine.clock.now() - 60_000;
      await engine.store.insertLocks(Array.from({ length: 150 }, (_, i) => ({ id: `~job:item-${i}`, owner: 'some-job#x', leaseUntil: expired, epoch: 0 })));
      await engine.store.insertLocks([{ id: `account:${FROM}`, owner: 'a0000000000000000000dead', leaseUntil: expired + 1, epoch: 0 }]);
      const summary = await app.hooks.transact.recover();
      expect(summary.orphans).to.equal(1);
      expect(await engine.store.findLocks([`account:${FROM}`])).to.deep.equal([]);
      expect(await engine.store.findLocks(['~job:item-0'])).to.have.length(1); // the job's own business
      await engine.store.deleteLocks('some-job#x', 0);
    });

    it("a reversal respects the model's own rules (Investor.cash min 0), not only the original step's bounds", async function () {
      const investor = 'a000000000000000000inv01';
      await engine.batch([{ op: 'create', model: 'investor', id: investor, values: { name: 'Ida', cash: 0 } }]);
      const deposit = await engine.batch([{ op: 'increment', model: 'investor', id: investor, field: 'cash', by: 100 }]);
      await engine.batch([{ op: 'increment', model: 'investor', id: investor, field: 'cash', by: -100, min: 0 }]);
      const logsBefore = await app.models.transactlog.count({});
      const err = await rejection(engine.reverse(deposit.id, { reason: 'test' }));
      expect(err.code).to.equal('bound_violation');
      expect((await app.models.investor.findOne({ id: investor }))?.cash).to.equal(0);
      expect((await engine.getLog(deposit.id))?.reversedBy).to.equal(null);
      expect(await app.models.transactlog.count({})).to.be.at.most(logsBefore + 1);
    });
  });

  if (adapter === 'disk') return;

  if (protocol === 'native') {
    it('a native owner frozen (SIGSTOP) inside its transaction holds its rows only until PostgreSQL ends its session; nothing of it lands', async function () {
      this.timeout(120_000);
      const owner = startChild(target(), ['fault-batch'], 'batch:applied', { ...childEnv, TRANSACT_CRASH_SIGNAL: 'SIGSTOP', CHILD_MIGRATE: 'safe', TRANSACT_INSTANCE: 'frozen-native' }, 90_000);
      await waitStopped(owner.process.pid as number);
      // Waits on the frozen owner's row locks, until the server ends its session (leaseMs idle).
      await engine.batch(transfer(FROM, TO, 500), { label: 'load', lockTimeoutMs: 20_000 });
      owner.process.kill('SIGCONT');
      const result = await owner.done;
      expect(result.lines.get('OUTCOME'), result.stderr).to.equal('"unavailable"');
      await expectConsistent(app);
      expect((await app.models.account.findOne({ id: TO }))?.balance).to.equal(START_BALANCE + 500);
      expect((await app.models.transactlog.find({ label: 'load' })).length, 'only the transfer that committed is in the log').to.equal(1);
    });
    return;
  }

  describe('across processes', function () {
    /** A child that runs the 10-write batch and freezes itself (SIGSTOP) before its third write is sent. */
    async function frozenOwner(childTarget: Target, instance: string): Promise<ReturnType<typeof startChild>> {
      const child = startChild(childTarget, ['fault-batch'], 'batch:writing#3', { ...childEnv, TRANSACT_CRASH_SIGNAL: 'SIGSTOP', CHILD_MIGRATE: 'safe', TRANSACT_INSTANCE: instance }, 90_000);
      await waitStopped(child.process.pid as number);
      return child;
    }

    it('an owner paused (SIGSTOP) past its lease between its lease check and a write: that write is refused', async function () {
      this.timeout(120_000);
      const owner = await frozenOwner(target(), 'paused-owner');
      await sleep(LEASE_MS + 300);
      await recoverAll(app);
      await engine.batch(transfer(FROM, TO, 500), { label: 'load' });
      owner.process.kill('SIGCONT');
      const result = await owner.done;
      expect(result.code, result.stderr).to.equal(0);
      expect(JSON.parse(result.lines.get('OUTCOME') as string)).to.equal('lease_lost');
      await expectConsistent(app);
      expect((await app.models.account.findOne({ id: TO }))?.balance).to.equal(START_BALANCE + 500);
    });

    it('a rolling restart: a new process with the same instanceId takes over while the old one still runs, which is fenced out', async function () {
      this.timeout(120_000);
      const old = await frozenOwner(target(), 'node-1');
      // The new incarnation rolls the old one's transaction back at start (same instanceId), then runs its own.
      const fresh = startChild(target(), ['fault-batch', '11'], undefined, { ...childEnv, CHILD_MIGRATE: 'safe', TRANSACT_INSTANCE: 'node-1' }, 90_000);
      const freshResult = await fresh.done;
      expect(freshResult.code, freshResult.stderr).to.equal(0);
      expect(JSON.parse(freshResult.lines.get('OUTCOME') as string)).to.equal('committed');
      old.process.kill('SIGCONT');
      const oldResult = await old.done;
      expect(JSON.parse(oldResult.lines.get('OUTCOME') as string)).to.equal('lease_lost');
      await recoverAll(app);
      await expectConsistent(app);
      expect((await app.models.account.findOne({ id: TO }))?.balance).to.equal(START_BALANCE + 11);
    });

    it('a network stall (Toxiproxy, 4 s of latency) while the owner writes: its delayed writes arrive after a takeover and change nothing', async function () {
      this.timeout(180_000);
      if (toxiproxyUrl() === undefined) {
        if (required(adapter)) throw new Error('TOXIPROXY_URL is not set (scripts/test-env.sh starts Toxiproxy)');
        this.skip();
      }
      const upstream = new URL(target().location).host;
      const proxy = await createProxy(`faults-${adapter}-${Date.now()}`, upstream);
      try {
        const owner = await frozenOwner({ adapter: target().adapter, location: proxiedUrl(target().location, proxy) }, 'delayed-owner');
        // From now on everything the owner sends arrives 4 s late.
        const toxic = await addToxic(proxy, { type: 'latency', stream: 'upstream', attributes: { latency: 4000, jitter: 0 } });
        owner.process.kill('SIGCONT');
        await sleep(LEASE_MS + 300);
        await recoverAll(app);
        await engine.batch(transfer(FROM, TO, 500), { label: 'load' });
        // The link heals: what the owner sent meanwhile arrives now, after the takeover and the new commit.
        await sleep(1000);
        await removeToxic(proxy, toxic);
        const result = await owner.done;
        expect(result.lines.get('OUTCOME'), `code ${result.code} signal ${result.signal} ${result.stdout} ${result.stderr}`).to.equal('"lease_lost"');
        await recoverAll(app);
        await expectConsistent(app);
        expect((await app.models.account.findOne({ id: TO }))?.balance).to.equal(START_BALANCE + 500);
      } finally {
        await deleteProxy(proxy);
      }
    });

    it('an instance whose clock is 5 s behind keeps its live transaction: leases are judged on the database clock', async function () {
      this.timeout(60_000);
      const slow = startChild(target(), ['slow-transfer', '2500'], undefined, { ...childEnv, CHILD_MIGRATE: 'safe', TRANSACT_INSTANCE: 'behind', TRANSACT_TEST_CLOCK_SKEW_MS: String(-5 * LEASE_MS) });
      let recovered = 0;
      let finished = false;
      void slow.done.then(() => (finished = true));
      while (!finished) {
        const summary = await app.hooks.transact.recover();
        recovered += summary.rolledBack + summary.rolledForward;
        await sleep(150);
      }
      const result = await slow.done;
      expect(JSON.parse(result.lines.get('OUTCOME') as string), result.stderr).to.equal('committed');
      expect(recovered, 'live transactions taken over').to.equal(0);
      await expectConsistent(app);
    });
  });
});

