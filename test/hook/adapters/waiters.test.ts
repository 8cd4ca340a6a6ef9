/**
 * A waiter in another instance, behind a logged holder that runs longer than its lease (its
 * heartbeat keeps it alive): it backs off as behind any live holder — its datastore calls per
 * second stay bounded — and gets the document once the holder commits.
 */
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { Engine } from '../../../lib/engine';
import type { AtomicStore } from '../../../lib/store';
import { type LoadedApp, useApp } from '../../support/app';
import { IDS, seedAccounts } from '../../support/scenario';
import { forEachPath, protocolConfig } from '../../support/targets';

const LEASE_MS = 500;
/** How long the holder keeps the document: five of its leases. */
const HOLD_MS = 2_500;
/**
 * Most calls of one kind a waiter may make per second of waiting. The backoff (lockPollMs 10,
 * doubling to 160 ms, full jitter) makes about a dozen; a waiter that does not back off makes
 * hundreds to thousands.
 */
const MAX_CALLS_PER_SECOND = 40;

/** `inner`, counting the calls of each method. */
function counting(inner: AtomicStore): { store: AtomicStore; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.set(String(property), (calls.get(String(property)) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, calls };
}

forEachPath('waiters', (target, _adapter, protocol) => {
  const getApp = useApp(target, { migrate: 'drop', transact: { leaseMs: LEASE_MS, clockSkewMs: 0, lockPollMs: 10, recoveryIntervalMs: 0, instanceId: 'holder', ...protocolConfig(protocol) } }, seedAccounts);
  let app: LoadedApp;
  let engine: Engine;
  beforeEach(function () {
    app = getApp();
    engine = app.hooks.transact.engine as Engine;
  });
  // On the native path a waiter waits inside PostgreSQL, on the row lock: it makes no calls to count.
  const logOnly = protocol === 'log' ? it : it.skip;

  logOnly('a waiter behind a logged holder that runs past its lease backs off: bounded store calls per second, then it gets the document', async function () {
    this.timeout(60_000);
    let holding: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (holding = resolve));
    const holder = engine.interactive(async (tx) => {
      await tx.increment('account', IDS.alice, 'balance', -10);
      holding();
      // Logged and locked; its heartbeat keeps its lease while it runs for five leases.
      await sleep(HOLD_MS);
      await tx.increment('account', IDS.bob, 'balance', 10);
    });
    await held;
    const { store, calls } = counting(engine.store);
    const waiterEngine = new Engine(store, (identity) => app.models[identity], { ...engine.options, instanceId: 'waiter', lockTimeoutMs: 20_000 });
    await waiterEngine.start();
    calls.clear();
    const startedAt = Date.now();
    let waitedMs = 0;
    // Counted while it waits: the calls made until its write (behind the holder's lock) is done.
    let lockCalls = new Map<string, number>();
    await waiterEngine.interactive(async (tx) => {
      await tx.increment('account', IDS.alice, 'balance', -1);
      waitedMs = Date.now() - startedAt;
      lockCalls = new Map(calls);
    }, { lockTimeoutMs: 20_000 });
    await holder;
    expect(waitedMs, 'the waiter waited for the holder').to.be.at.least(HOLD_MS / 2);
    const seconds = waitedMs / 1000;
    const perSecond = Object.fromEntries(['insertLocks', 'findLocks', 'getLog'].map((method) => [method, Math.round((lockCalls.get(method) ?? 0) / seconds)]));
    for (const [method, rate] of Object.entries(perSecond)) expect(rate, `${method} calls per second of waiting (${JSON.stringify(perSecond)})`).to.be.at.most(MAX_CALLS_PER_SECOND);
    expect((await app.models.account.findOne({ id: IDS.alice }))?.balance).to.equal(989);
  });
});
