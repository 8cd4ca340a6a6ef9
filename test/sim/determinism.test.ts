/**
 * The simulation's runtime is deterministic: a seed run twice gives the same trace, byte for
 * byte (its hash), and the runtime owns what lib/ reads — node:timers/promises' setTimeout and
 * crypto.randomBytes as lib/ calls them, and the AsyncLocalStorage context across awaits.
 */
import './install';
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { newId } from '../../lib/core/ids';
import { EPOCH_MS, SimProcess, SimRuntime } from './runtime';
import { runSimulation } from './simulation';

describe('simulation runtime', function () {
  it('replays a seed exactly: the same trace twice, on both store flavours', async function () {
    for (const seed of [7, 8]) {
      const first = await runSimulation({ seed });
      const second = await runSimulation({ seed });
      expect(first.trace.entries.length).to.be.greaterThan(100);
      expect(second.traceHash).to.equal(first.traceHash);
      expect(second.violations.map((v) => v.message)).to.deep.equal(first.violations.map((v) => v.message));
    }
  });

  it('replays a seed of log protocol v3 exactly, on both its record stores (MongoRecords over the simulated driver, step by step; SimulatedRecords)', async function () {
    for (const seed of [7, 8]) {
      const first = await runSimulation({ seed, flavour: 'redo' });
      const second = await runSimulation({ seed, flavour: 'redo' });
      expect(first.flavour).to.equal(seed % 2 === 0 ? 'redo-mongo' : 'redo-generic');
      expect(first.trace.entries.length).to.be.greaterThan(100);
      expect(second.traceHash).to.equal(first.traceHash);
      expect(second.violations.map((v) => v.message)).to.deep.equal(first.violations.map((v) => v.message));
    }
  });

  it('gives another trace for another seed', async function () {
    expect((await runSimulation({ seed: 9 })).traceHash).to.not.equal((await runSimulation({ seed: 11 })).traceHash);
  });

  it('owns time and randomness as lib/ reads them, and attributes timers to the process across awaits', async function () {
    const runtime = new SimRuntime(42);
    const process = new SimProcess('p', 0);
    process.clockOffsetMs = 5_000;
    const seen: { ids: string[]; bytes: string; times: number[]; contexts: (string | null)[] } = { ids: [], bytes: '', times: [], contexts: [] };
    runtime.schedule(0, () => {
      runtime.within({ process, op: 7 }, () => {
        void (async () => {
          seen.ids.push(newId());
          seen.bytes = randomBytes(4).toString('hex');
          seen.times.push(Date.now());
          await sleep(250);
          seen.times.push(Date.now());
          await new Promise((resolve) => setTimeout(resolve, 1_000));
          seen.times.push(Date.now());
          seen.contexts.push(runtime.context.process?.label ?? null, String(runtime.context.op));
        })();
      });
    });
    const startedReal = performance.now();
    await runtime.run(() => seen.contexts.length > 0, EPOCH_MS + 10_000);
    expect(performance.now() - startedReal).to.be.lessThan(1_000); // virtual seconds, not real ones
    expect(seen.times).to.deep.equal([EPOCH_MS + 5_000, EPOCH_MS + 5_250, EPOCH_MS + 6_250]);
    expect(seen.contexts).to.deep.equal(['p#0', '7']);
    // The same seed draws the same ids and bytes.
    const again = new SimRuntime(42);
    let id = '';
    let bytes = '';
    again.schedule(0, () => {
      again.within({ process, op: null }, () => {
        id = newId();
        bytes = randomBytes(4).toString('hex');
      });
    });
    await again.run(() => id !== '', EPOCH_MS + 1_000);
    expect([id, bytes]).to.deep.equal([seen.ids[0], seen.bytes]);
  });

  it('drops a crashed process\'s timers and holds a paused one\'s until it resumes', async function () {
    const runtime = new SimRuntime(1);
    const crashed = new SimProcess('c', 0);
    const paused = new SimProcess('p', 0);
    const fired: string[] = [];
    runtime.schedule(0, () => {
      runtime.within({ process: crashed, op: null }, () => setTimeout(() => fired.push('crashed'), 100));
      runtime.within({ process: paused, op: null }, () => setTimeout(() => fired.push(`paused at ${Date.now() - EPOCH_MS}`), 100));
      crashed.alive = false;
      paused.paused = true;
    });
    runtime.schedule(500, () => runtime.resume(paused), { process: null, op: null });
    await runtime.run(() => fired.length > 0, EPOCH_MS + 2_000);
    expect(fired).to.deep.equal(['paused at 500']);
  });
});
