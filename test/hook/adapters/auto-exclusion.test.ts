/**
 * `protocol: 'auto'` runs two protocols on one datastore: a batch that rolls forward takes the
 * log protocol (lock records, writes outside any transaction), the rest PostgreSQL's native path
 * (row locks inside one transaction). They must exclude each other on every document, whichever
 * holds it first. On MongoDB both are the log protocol: the same must hold there (on sails-disk
 * 'auto' is log protocol v3: nothing to mix).
 */
import { expect } from 'chai';
import { Client } from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { Engine } from '../../../lib/engine';
import type { AtomicStore } from '../../../lib/store';
import { type LoadedApp, useApp } from '../../support/app';
import { Gate } from '../../support/gated';
import { IDS, seedAccounts } from '../../support/scenario';
import { runningProtocol } from '../../../lib/store';
import { forEachAdapter } from '../../support/targets';

/** `inner`, telling when its first call of `method` is made (before it reaches the datastore). */
function announcing(inner: AtomicStore, method: keyof AtomicStore): { store: AtomicStore; called: Promise<void> } {
  let called: () => void = () => undefined;
  const reached = new Promise<void>((resolve) => (called = resolve));
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function' || property !== method) return value;
      return (...args: unknown[]) => {
        called();
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, called: reached };
}

forEachAdapter('auto protocol: roll-forward batches and native transactions', (target, adapter) => {
  // Where 'auto' is log protocol v3 (sails-disk) a roll-forward batch runs on v3 like any other: one protocol.
  if (runningProtocol('auto', adapter) === 'redo') return;
  const getApp = useApp(target, { migrate: 'drop', transact: { leaseMs: 5_000, clockSkewMs: 0, recoveryIntervalMs: 0, instanceId: 'auto', protocol: 'auto', lockTimeoutMs: 20_000 } }, seedAccounts);
  let app: LoadedApp;
  let engine: Engine;
  beforeEach(function () {
    app = getApp();
    engine = app.hooks.transact.engine as Engine;
  });
  const balance = async (): Promise<unknown> => (await app.models.account.findOne({ id: IDS.alice }))?.balance;
  const increment = (by: number): object[] => [{ op: 'increment', model: 'account', id: IDS.alice, field: 'balance', by }];

  /** An instance without the native path: what a roll-forward batch runs on under `auto`, here through `store`. */
  async function logProtocolInstance(store: AtomicStore): Promise<Engine> {
    const other = new Engine(store, (identity) => app.models[identity], { ...engine.options, instanceId: 'roll-forward' });
    await other.start();
    return other;
  }

  it('a roll-forward batch holding a document makes a native batch wait: the native one applies on top of it', async function () {
    this.timeout(60_000);
    // The roll-forward batch +50 locks, reads 1000 and logs; its document write is held at a gate.
    const gated = Gate.wrap(engine.store);
    gated.gate.closeAfter('writeDocuments', 0);
    const rollForward = (await logProtocolInstance(gated)).batch(increment(50), { onCrash: 'rollforward' });
    await gated.gate.held();
    // The default batch −30 (native on PostgreSQL) meanwhile: it must not commit under the held lock.
    let nativeDone = false;
    const native = engine.batch(increment(-30)).then((result) => {
      nativeDone = true;
      return result;
    });
    await sleep(500);
    const whileHeld = { done: nativeDone, balance: await balance() };
    gated.gate.open();
    await Promise.all([rollForward, native]);
    expect(whileHeld, 'while the roll-forward batch held the document').to.deep.equal({ done: false, balance: 1000 });
    expect(await balance(), 'both applied, one after the other').to.equal(1020);
    expect(await app.models.transactlock.count({})).to.equal(0);
  });

  if (adapter === 'postgresql') {
    it('a native transaction holding a document makes a roll-forward batch wait: the batch reads what the native one committed', async function () {
      this.timeout(60_000);
      const { store, called } = announcing(engine.store, 'writeDocuments');
      const rollForwardEngine = await logProtocolInstance(store);
      const client = new Client({ connectionString: target().location });
      await client.connect();
      try {
        let rollForward: Promise<unknown> | undefined;
        await engine.interactive(async (tx) => {
          await tx.read('account', IDS.alice);
          // Now the roll-forward batch +50 starts, and goes as far as it can: to its document write
          // (behind this transaction's row lock) or to its lock record (behind this transaction's one).
          rollForward = rollForwardEngine.batch(increment(50), { onCrash: 'rollforward' });
          const blocked = (async () => {
            for (;;) {
              const { rows } = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
              if (rows[0].n > 0) return;
              await sleep(10);
            }
          })();
          await Promise.race([called, blocked]);
          await tx.increment('account', IDS.alice, 'balance', -30);
        });
        await rollForward;
      } finally {
        await client.end();
      }
      expect(await balance(), 'both applied, one after the other').to.equal(1020);
      expect(await app.models.transactlock.count({})).to.equal(0);
    });
  }
});
