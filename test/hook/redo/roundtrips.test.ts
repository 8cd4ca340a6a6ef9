/**
 * Log protocol v3's round trips (issue 21, property 1), counted where they leave the process:
 * MongoDB at the driver, sails-disk at the store contract (test/support/roundtrips.ts). Each
 * transaction is counted on its own; the scheduler is off (recoveryIntervalMs 0), so nothing
 * else sends meanwhile. `npm run bench:roundtrips` prints the same counts beside v2's.
 * ROUNDTRIPS_PROTOCOL=log runs these on log protocol v2, where they fail (7 for a transfer).
 */
import { expect } from 'chai';
import type { Engine } from '../../../lib/engine';
import { rawDestroy } from '../../../lib/models/destroy-guard';
import { type LoadedApp, loadApp, lowerApp } from '../../support/app';
import { type Counter, counted, counterOf, withMonitoring } from '../../support/roundtrips';
import { forEachRedoAdapter } from '../../support/targets';

const PROTOCOL = (process.env.ROUNDTRIPS_PROTOCOL ?? 'redo') as 'redo' | 'log';
const RUNS = 5;

forEachRedoAdapter('log protocol v3: round trips', (target, adapter) => {
  let app: LoadedApp;
  let engine: Engine;
  let counter: Counter;
  const ids = ['r1', 'r2', 'r3', 'r4'];

  before(async function () {
      app = await loadApp(withMonitoring(target()), { migrate: 'drop', transact: { protocol: PROTOCOL } });
    engine = app.hooks.transact.engine as Engine;
    counter = counterOf(app, adapter);
    for (const identity of ['account', 'transactlog', 'transactlock', 'transactrecord']) if (app.models[identity] !== undefined) await rawDestroy(app.models[identity])({});
    await app.models.account.createEach(ids.map((id) => ({ id, owner: id, balance: 10_000 })));
  });

  after(async function () {
    if (app !== undefined) await lowerApp(app);
  });

  const transfer = (i: number): Record<string, unknown>[] => [
    { op: 'increment', model: 'account', id: ids[i % 4], field: 'balance', by: -10, min: 0 },
    { op: 'increment', model: 'account', id: ids[(i + 1) % 4], field: 'balance', by: 10 },
  ];

  /** The round trips of each of RUNS transactions (after one unmeasured), and what the first sent. */
  async function eachOf(work: (i: number) => Promise<unknown>): Promise<{ trips: number[]; sent: string }> {
    await work(0);
    const trips: number[] = [];
    let sent = '';
    for (let i = 1; i <= RUNS; i++) {
      const one = await counted(counter, () => work(i));
      trips.push(one.roundTrips);
      if (i === 1) sent = [...one.kinds].map(([kind, n]) => `${kind} ×${n}`).join(', ');
    }
    console.log(`      ${adapter}/${PROTOCOL}: ${trips.join(', ')} round trips (${sent})`);
    expect(Math.min(...trips), 'counted: a transaction sends something').to.be.greaterThan(0);
    return { trips, sent };
  }

  it('a 2-account batch transfer: at most 4 round trips', async function () {
    const { trips, sent } = await eachOf((i) => engine.batch(transfer(i)));
    expect(Math.max(...trips), sent).to.be.at.most(4);
  });

  it('the same transfer recording a Transfer (a create in a second collection): at most 6 on MongoDB (its stub\'s insert, its collection\'s apply), 4 elsewhere', async function () {
    const { trips, sent } = await eachOf((i) => engine.batch([...transfer(i), { op: 'create', model: 'transfer', values: { from: ids[i % 4], to: ids[(i + 1) % 4], amount: 10 } }]));
    expect(Math.max(...trips), sent).to.be.at.most(adapter === 'mongo' ? 6 : 4);
  });

  it('the same transfer with an idempotency key: at most 5', async function () {
    const run = Date.now().toString(36);
    const { trips, sent } = await eachOf((i) => engine.batch(transfer(i), { idempotencyKey: `rt-${run}-${i}` }));
    expect(Math.max(...trips), sent).to.be.at.most(5);
  });

  it('an interactive transaction of 2 documents: at most 2 + 2', async function () {
    const { trips, sent } = await eachOf((i) =>
      engine.interactive(async (tx) => {
        await tx.increment('account', ids[i % 4], 'balance', -10, { min: 0 });
        await tx.increment('account', ids[(i + 1) % 4], 'balance', 10);
      }));
    expect(Math.max(...trips), sent).to.be.at.most(4);
  });

  it('a committed read of one document nothing holds: 1', async function () {
    const { trips, sent } = await eachOf((i) => engine.reads.findOne('account', ids[i % 4]));
    expect(Math.max(...trips), sent).to.equal(1);
  });
});
