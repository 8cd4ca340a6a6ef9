/**
 * The scheduler: jobs on an interval with jitter, never overlapping with themselves, item
 * leases in the datastore so that one instance at a time works on an item, nothing left
 * running after lower, and a switch to turn it off.
 */
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Engine } from '../../../lib/engine';
import { type JobContext, Scheduler } from '../../../lib/scheduler';
import { type LoadedApp, loadApp, lowerApp, useApp } from '../../support/app';
import { runChild } from '../../support/child';
import { seedAccounts } from '../../support/scenario';
import { forEachAdapter, freshTarget } from '../../support/targets';

forEachAdapter('scheduler', (target) => {
  const getApp = useApp(target, { migrate: 'drop' }, seedAccounts);
  const scheduler = (owner: string): Scheduler => {
    const engine = getApp().hooks.transact.engine as Engine;
    return new Scheduler(engine.store, owner, 300, () => undefined, null);
  };

  it('runs a job on its interval, never two runs of it at once', async function () {
    const s = scheduler('instance-1');
    let running = 0;
    let overlap = 0;
    let runs = 0;
    s.register('slow', {
      intervalMs: 10,
      jitterMs: 5,
      run: async () => {
        running++;
        overlap = Math.max(overlap, running);
        await sleep(40);
        running--;
        runs++;
      },
    });
    s.start();
    await Promise.all([sleep(300), s.runNow('slow'), s.runNow('slow')]);
    await s.stop();
    const after = runs;
    await sleep(100);
    expect(overlap).to.equal(1);
    expect(runs).to.be.within(3, 10);
    expect(runs, 'no run after stop').to.equal(after);
    expect(s.status()[0]).to.include({ name: 'slow', running: false, nextRunAt: null, failures: 0 });
  });

  let jobs = 0;
  /** Runs `work` once as a job of `s`, and returns what it returned. */
  const inJob = async <T>(s: Scheduler, work: (context: JobContext) => Promise<T>): Promise<T> => {
    const name = `once-${jobs++}`;
    s.register(name, { intervalMs: 0, run: work });
    return (await s.runNow(name)) as T;
  };

  it('gives an item to one instance at a time, until released or its lease ends', async function () {
    const a = scheduler('instance-a');
    const b = scheduler('instance-b');
    expect(await inJob(a, (job) => job.claim('payment:p1', 200))).to.equal(true);
    expect(await inJob(b, (job) => job.claim('payment:p1', 200))).to.equal(false);
    expect(await inJob(b, (job) => job.claim('payment:p2', 200))).to.equal(true);
    await sleep(250);
    expect(await inJob(b, (job) => job.claim('payment:p1', 5_000)), 'taken over once the lease ended').to.equal(true);
    expect(await inJob(a, (job) => job.claim('payment:p1', 5_000))).to.equal(false);
    await inJob(a, (job) => job.release('payment:p1')); // not a's to release: nothing happens
    expect(await inJob(a, (job) => job.claim('payment:p1', 5_000))).to.equal(false);
    await inJob(b, (job) => job.release('payment:p1'));
    expect(await inJob(a, (job) => job.claim('payment:p1', 5_000))).to.equal(true);
  });

  it('keeps item leases apart from recovery: an expired one is not taken for a dead transaction', async function () {
    const a = scheduler('instance-a');
    expect(await inJob(a, (job) => job.claim('order:o1', 1))).to.equal(true);
    await sleep(20);
    const engine = getApp().hooks.transact.engine as Engine;
    const summary = await engine.recovery.runOnce();
    expect(summary).to.deep.include({ orphans: 0, locksReleased: 0 });
    expect(await getApp().models.transactlog.count({})).to.equal(0);
  });

  it('waits at lower for a job in flight before the datastores go: its last query still runs', async function () {
    const ended: { count?: unknown; error?: string } = {};
    const app = await loadApp(target(), {
      migrate: 'safe',
      freshAdapter: true,
      transact: {
        jobs: {
          slow: {
            intervalMs: 0,
            run: async ({ app: running }: JobContext) => {
              await sleep(300);
              // A query after lower began: it needs the ORM still up.
              try {
                ended.count = await (running as LoadedApp).models.account.count({});
              } catch (err) {
                ended.error = err instanceof Error ? err.message : String(err);
              }
            },
          },
        },
      },
    });
    const run = (app.hooks.transact.scheduler as Scheduler).runNow('slow');
    await sleep(50);
    await lowerApp(app);
    await run;
    expect(ended.error, 'the job ran its query to the end').to.equal(undefined);
    expect(ended.count).to.be.a('number');
  });
});

describe('scheduler: lowering the app leaves nothing running [disk]', function () {
  it('the process exits by itself after lower, with jobs every 20 ms', async function () {
    const target = await freshTarget('disk');
    await runChild(target, ['run', 'batch']); // creates the schema
    const child = await runChild(target, ['lift-and-lower']);
    expect(child.code, child.stderr).to.equal(0);
    expect(child.signal, 'not killed by the harness timeout').to.equal(null);
    expect(JSON.parse(child.lines.get('RUNS') as string)).to.deep.equal([['recovery', true], ['tick', true]]);
  });

  it('runs no job on a timer with `scheduler: false`', async function () {
    const target = await freshTarget('disk');
    await runChild(target, ['run', 'batch']);
    const child = await runChild(target, ['lift-and-lower'], undefined, { TRANSACT_SCHEDULER: 'off' });
    expect(child.code, child.stderr).to.equal(0);
    expect(JSON.parse(child.lines.get('RUNS') as string)).to.deep.equal([['recovery', false], ['tick', false]]);
  });
});
