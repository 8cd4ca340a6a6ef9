/**
 * Recovery across instances and time: it never touches a live transaction (the owner's heartbeat
 * keeps its lease), it settles a dead instance's transaction once its lease is over — on its
 * own timer — and locks make concurrent transactions wait for each other or time out cleanly.
 */
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { Engine } from '../../../lib/engine';
import { isTransactError } from '../../../lib/core/errors';
import { type LoadedApp, useApp, wipe } from '../../support/app';
import { runChild } from '../../support/child';
import { IDS, type Row, seedAccounts, snapshot } from '../../support/scenario';
import { forEachAdapter } from '../../support/targets';

/** The log protocol's locks, leases and recovery, on every adapter (PostgreSQL too, with `protocol: 'log'`). */
forEachAdapter('recovery and locks', (target, adapter) => {
  // Its recovery timer runs throughout: it must never disturb the live transactions of these tests.
  const getApp = useApp(target, { migrate: 'drop', transact: { leaseMs: 300, clockSkewMs: 0, lockTimeoutMs: 2_000, instanceId: 'observer', recoveryIntervalMs: 100, protocol: 'log' } }, seedAccounts);
  let app: LoadedApp;
  let engine: Engine;
  beforeEach(function () {
    app = getApp();
    engine = app.hooks.transact.engine as Engine;
  });

  /** Another instance on the same datastore (same store object: sails-disk's mutex is per process). */
  function otherInstance(): Engine {
    return new Engine(engine.store, (identity) => app.models[identity], { ...engine.options, instanceId: 'other-instance' });
  }

  it('leaves a live transaction alone however long it runs: the heartbeat renews its lease', async function () {
    const other = otherInstance();
    let recoveries = 0;
    const result = engine.interactive(async (tx) => {
      await tx.increment('account', IDS.alice, 'balance', -10);
      // idle for over three leases while another instance keeps running recovery
      for (let i = 0; i < 10; i++) {
        await sleep(100);
        const summary = await other.recovery.runOnce();
        recoveries += summary.rolledBack + summary.rolledForward + summary.orphans;
      }
      await tx.increment('account', IDS.bob, 'balance', 10);
      return 'done';
    });
    expect(await result).to.equal('done');
    expect(recoveries).to.equal(0);
    const { logs, accounts } = await snapshot(app);
    expect(logs.map((log) => [log.state, log.recoveries])).to.deep.equal([['committed', 0]]);
    expect(accounts.find((a) => a.id === IDS.alice)?.balance).to.equal(990);
  });

  it('makes a second transaction on a locked document wait, then fail with lock_timeout and roll back', async function () {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const first = engine.interactive(async (tx) => {
      await tx.increment('account', IDS.alice, 'balance', -100);
      await held;
    });
    await sleep(50);
    const second = await engine
      .interactive(async (tx) => {
        await tx.increment('account', IDS.bob, 'balance', 1);
        await tx.increment('account', IDS.alice, 'balance', -1);
      }, { lockTimeoutMs: 300 })
      .then(() => null, (err: unknown) => err);
    expect(isTransactError(second, 'lock_timeout'), String(second)).to.equal(true);
    release();
    await first;
    const { accounts, logs, locks } = await snapshot(app);
    expect(accounts.find((a) => a.id === IDS.alice)?.balance).to.equal(900);
    expect(accounts.find((a) => a.id === IDS.bob)?.balance, 'the timed-out transaction was rolled back').to.equal(500);
    expect(logs.map((log) => log.state).sort()).to.deep.equal(['committed', 'rolled-back']);
    expect(locks).to.deep.equal([]);
  });

  it('runs opposite-order batches concurrently without deadlock, applying every one exactly once', async function () {
    // A deadlock would hold them all until their lock timeout: a long one, so that twenty transfers
    // queued on two documents on a loaded machine are not taken for one (2 s was, under load).
    const transfer = (from: string, to: string) =>
      engine.batch([
        { op: 'increment', model: 'account', id: from, field: 'balance', by: -5, min: 0 },
        { op: 'increment', model: 'account', id: to, field: 'balance', by: 5 },
      ], { lockTimeoutMs: 30_000 });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? transfer(IDS.alice, IDS.bob) : transfer(IDS.bob, IDS.alice))));
    expect(results.every((r) => r.state === 'committed')).to.equal(true);
    const { accounts, logs, locks } = await snapshot(app);
    expect(accounts.find((a) => a.id === IDS.alice)?.balance).to.equal(1000);
    expect(accounts.find((a) => a.id === IDS.bob)?.balance).to.equal(500);
    expect(logs.filter((log) => log.state === 'committed')).to.have.length(20);
    expect(locks).to.deep.equal([]);
  });

  // sails-disk is single-process: no second process may open it while this one runs (the crash suite covers its startup recovery).
  if (adapter !== 'disk') it("settles a killed instance's transaction on this instance's timer, once the lease is over", async function () {
    await wipe(app);
    {
      const run = await runChild(target(), ['run', 'batch'], 'batch:applied#3', { CHILD_MIGRATE: 'safe', TRANSACT_INSTANCE: 'dead-instance', TRANSACT_PROTOCOL: 'log' });
      expect(run.signal, run.stderr).to.equal('SIGKILL');
      const seed = JSON.parse(run.lines.get('SEED') as string) as Row[];
      const deadline = Date.now() + 15_000;
      let state = await snapshot(app);
      while ((state.logs.some((log) => log.state !== 'rolled-back') || state.locks.length > 0) && Date.now() < deadline) {
        await sleep(100);
        state = await snapshot(app);
      }
      expect(state.accounts).to.deep.equal(seed);
      expect(state.transfers).to.deep.equal([]);
      expect(state.locks).to.deep.equal([]);
      expect(state.logs.map((log) => [log.state, log.recoveries])).to.deep.equal([['rolled-back', 1]]);
      expect(String(state.logs[0].owner)).to.match(/^observer#/);
    }
  });

  it('frees the locks of a batch that died before logging, with a tombstone that fences it off', async function () {
    const lockedAt = Date.now();
    const key = `account:${IDS.alice}`;
    await engine.store.insertLocks([{ id: key, owner: 'ghost-tx', leaseUntil: lockedAt + 200, epoch: 0 }]);
    // a transaction that needs the document waits for the ghost's lease, then proceeds
    await engine.batch([{ op: 'increment', model: 'account', id: IDS.alice, field: 'balance', by: 1 }]);
    expect(Date.now() - lockedAt).to.be.at.least(200);
    const ghost = await engine.getLog('ghost-tx');
    expect(ghost).to.include({ state: 'rolled-back' });
    expect(ghost?.error).to.include({ code: 'orphan_locks' });
    // the ghost, were it alive, could no longer log under its id
    expect(await engine.store.insertLog({ ...(ghost as NonNullable<typeof ghost>), state: 'pending' })).to.equal(false);
  });
});
