/**
 * Recovery on a slow datastore (every call slower than a third of the lease, as on a loaded CI
 * machine): the recoverer keeps the transaction it claimed until it is done — its heartbeat keeps
 * the lease (renewals are never queued behind one still on its way, and each is dated when it is
 * sent), and only another owner's takeover, never its own estimate of the time, makes it stop.
 * Before, it gave its own claim up after a few writes, the next pass claimed again and undid from
 * the last step again, so the first step (undone last) was never reached while the datastore
 * stayed slow: the CI flake of `recovery and locks` (Alice 700 after 15 s).
 */
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { Engine } from '../../../lib/engine';
import type { AtomicStore } from '../../../lib/store';
import { type LoadedApp, useApp } from '../../support/app';
import { Gate } from '../../support/gated';
import { IDS, seedAccounts } from '../../support/scenario';
import { forEachAdapter } from '../../support/targets';

const LEASE_MS = 300;
/** Added to every call of the recoverer's: two thirds of its lease, twice its heartbeat's period. */
const DELAY_MS = 200;

/** `inner`, with every call taking `ms` longer (a slow link or an overloaded server). */
function slowed(inner: AtomicStore, ms: number): AtomicStore {
  return new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function' || property === 'adopt') return value;
      return async (...args: unknown[]) => {
        await sleep(ms);
        return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
      };
    },
  });
}

forEachAdapter('recovery on a slow datastore', (target) => {
  const getApp = useApp(target, { migrate: 'drop', transact: { leaseMs: LEASE_MS, clockSkewMs: 0, recoveryIntervalMs: 0, instanceId: 'observer', protocol: 'log' } }, seedAccounts);
  let app: LoadedApp;
  let engine: Engine;
  beforeEach(function () {
    app = getApp();
    engine = app.hooks.transact.engine as Engine;
  });

  it('a recoverer slower than a third of its lease settles a four-step transaction in one claim', async function () {
    this.timeout(60_000);
    // The owner: four writes (Alice first), three land, then its traffic stalls for good.
    const ownerStore = Gate.wrap(engine.store);
    const owner = new Engine(ownerStore, (identity) => app.models[identity], { ...engine.options, instanceId: 'stalled-owner' });
    await owner.start();
    ownerStore.gate.closeAfter('writeDocuments', 3);
    void owner
      .batch([IDS.alice, IDS.bob, IDS.carol, IDS.dave].map((id, i) => ({ op: 'increment', model: 'account', id, field: 'balance', by: i === 0 ? -300 : 10 })), { label: 'slow recovery' })
      .catch(() => undefined);
    await ownerStore.gate.held();
    await sleep(LEASE_MS + 200);
    const [log] = await app.models.transactlog.find({ where: { label: 'slow recovery' } });
    expect(log?.state, 'the stalled batch').to.equal('pending');

    const recoverer = new Engine(slowed(engine.store, DELAY_MS), (identity) => app.models[identity], { ...engine.options, instanceId: 'slow-recoverer' });
    await recoverer.start();
    const summary = await recoverer.recovery.runOnce();
    const settled = await engine.getLog(String(log.id));
    expect({ rolledBack: summary.rolledBack, state: settled?.state, recoveries: settled?.recoveries }, 'one pass, one claim').to.deep.equal({ rolledBack: 1, state: 'rolled-back', recoveries: 1 });
    expect((await app.models.account.findOne({ id: IDS.alice }))?.balance).to.equal(1000);
    expect(await app.models.transactlock.count({})).to.equal(0);
    ownerStore.gate.open();
  });
});
