/**
 * Locks are owned by (transaction id, epoch): a reopened keyed transaction keeps its id, so a
 * release made at an earlier epoch — recovery settling a log it read before the reopen, a cleanup,
 * a retried delete whose first reply was lost — must not free the new attempt's locks.
 */
import { expect } from 'chai';
import type { Engine } from '../../../lib/engine';
import { keyedTransactionId } from '../../../lib/core/log-document';
import { type LoadedApp, useApp } from '../../support/app';
import { rejection } from '../../support/errors';
import { transientError } from '../../support/flaky';
import { IDS, seedAccounts, snapshot } from '../../support/scenario';
import { forEachAdapter } from '../../support/targets';

forEachAdapter('lock ownership by transaction and epoch', (target) => {
  const getApp = useApp(target, { migrate: 'drop', transact: { leaseMs: 2_000, clockSkewMs: 0, lockTimeoutMs: 2_000, instanceId: 'lock-epochs', protocol: 'log' } }, seedAccounts);
  let app: LoadedApp;
  let engine: Engine;
  beforeEach(function () {
    app = getApp();
    engine = app.hooks.transact.engine as Engine;
  });

  it("keeps a reopened keyed attempt's locks when a release at the old epoch arrives, and the attempt completes", async function () {
    const key = `pay-${Date.now()}`;
    const id = keyedTransactionId(key);
    // The first attempt fails without deciding anything (the datastore failed): a repeat runs it again.
    const failed = await rejection(engine.interactive(async (tx) => {
      await tx.increment('account', IDS.alice, 'balance', -10);
      throw transientError();
    }, { idempotencyKey: key }));
    expect(failed.code).to.equal('unavailable');
    const stale = await engine.store.getLog(id);
    expect(stale).to.include({ state: 'rolled-back' });
    const staleEpoch = (stale as NonNullable<typeof stale>).epoch;

    let resume: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (resume = resolve));
    let holding: () => void = () => undefined;
    const holds = new Promise<void>((resolve) => (holding = resolve));
    const repeat = engine.interactive(async (tx) => {
      await tx.increment('account', IDS.alice, 'balance', -10);
      holding();
      await gate;
      await tx.increment('account', IDS.alice, 'balance', -5);
      await tx.increment('account', IDS.bob, 'balance', 15);
      return 'paid';
    }, { idempotencyKey: key });
    await holds;
    // Recovery settling the log as it read it before the reopen: terminal, so it releases "its" locks.
    expect(await engine.recovery.settle(stale as NonNullable<typeof stale>, false)).to.equal('release-locks');
    // And the old attempt's own release, delivered again (its first reply lost).
    await engine.store.deleteLocks(id, staleEpoch);
    const [held] = await engine.store.findLocks([`account:${IDS.alice}`]);
    expect(held, "the reopened attempt still holds Alice's lock").to.include({ owner: id, epoch: staleEpoch + 1 });
    // So another transaction still waits for it (and times out here) instead of writing Alice under it.
    const intruder = await rejection(engine.batch([{ op: 'increment', model: 'account', id: IDS.alice, field: 'balance', by: 1 }], { lockTimeoutMs: 300 }));
    expect(intruder.code).to.equal('lock_timeout');
    resume();
    expect(await repeat).to.equal('paid');
    const { accounts, locks } = await snapshot(app);
    expect(accounts.filter((a) => a.id === IDS.alice || a.id === IDS.bob).map((a) => a.balance)).to.deep.equal([985, 515]);
    expect(locks).to.deep.equal([]);
    expect(await engine.store.getLog(id)).to.include({ state: 'committed' });
  });

  it('releases and renews only the locks of the owner at the given epoch or below', async function () {
    const owner = `tx-${Date.now()}`;
    const keys = { older: `account:${owner}-older`, newer: `account:${owner}-newer`, other: `account:${owner}-other` };
    const got = await engine.store.insertLocks([
      { id: keys.older, owner, leaseUntil: 1_000, epoch: 1 },
      { id: keys.newer, owner, leaseUntil: 1_000, epoch: 2 },
      { id: keys.other, owner: `${owner}-someone-else`, leaseUntil: 1_000, epoch: 1 },
    ]);
    expect(got.size).to.equal(3);
    const held = async (): Promise<Record<string, number>> =>
      Object.fromEntries((await engine.store.findLocks(Object.values(keys))).map((lock) => [lock.id, lock.leaseUntil]));

    await engine.store.deleteLocks(owner, 0);
    expect(Object.keys(await held()), 'nothing of the owner is at epoch 0 or below').to.have.length(3);
    await engine.store.renewLocks(owner, 1, 5_000);
    expect(await held()).to.deep.equal({ [keys.older]: 5_000, [keys.newer]: 1_000, [keys.other]: 1_000 });
    await engine.store.deleteLocks(owner, 1, [keys.older, keys.newer]);
    expect(Object.keys(await held()).sort(), 'a release at epoch 1 spares the epoch-2 lock').to.deep.equal([keys.newer, keys.other].sort());
    await engine.store.deleteLocks(owner, 1);
    expect(Object.keys(await held()).sort(), 'and again, delivered twice').to.deep.equal([keys.newer, keys.other].sort());
    await engine.store.deleteLocks(owner, 2);
    expect(Object.keys(await held())).to.deep.equal([keys.other]);
    await engine.store.deleteLocks(`${owner}-someone-else`, 1);
    expect(await held()).to.deep.equal({});
  });
});
