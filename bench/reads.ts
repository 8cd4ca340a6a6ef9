/**
 * The cost of a committed read against a plain Waterline read, on an idle datastore (bounded:
 * 10 accounts, N sequential reads of each kind, interleaved): `find` of the 10 accounts by id,
 * and `findOne` by id. Prints the median and p95 latency of each, per adapter (and PostgreSQL
 * path). Run: `npm run build && node dist/bench/reads.js [reads]` with MONGO_URL / PG_URL set.
 */
import { performance } from 'node:perf_hooks';
import type { Engine } from '../lib/engine';
import { type LoadedApp, loadApp, lowerApp } from '../test/support/app';
import { LOAD_ACCOUNTS, seedLoadAccounts } from '../test/support/load';
import { type AdapterName, freshTarget } from '../test/support/targets';
import { runWithWatchdog, unavailable } from './common';

function quantile(samples: number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function time(samples: number[], work: () => PromiseLike<unknown>): Promise<void> {
  const start = performance.now();
  await work();
  samples.push(performance.now() - start);
}

async function measure(label: string, app: LoadedApp, reads: number): Promise<void> {
  const engine = app.hooks.transact.engine as Engine;
  await seedLoadAccounts(app);
  const kinds = {
    'plain find (10 by id)': () => app.models.account.find({ id: LOAD_ACCOUNTS }),
    'committed find (10 by id)': () => engine.reads.find('account', { id: LOAD_ACCOUNTS }),
    'plain findOne': () => app.models.account.findOne({ id: LOAD_ACCOUNTS[3] }),
    'committed findOne': () => engine.reads.findOne('account', LOAD_ACCOUNTS[3]),
  };
  const samples = new Map(Object.keys(kinds).map((name) => [name, [] as number[]]));
  for (let i = 0; i < reads + 20; i++) {
    for (const [name, work] of Object.entries(kinds)) {
      const into = i < 20 ? [] : (samples.get(name) as number[]); // 20 warm-up rounds
      await time(into, work);
    }
  }
  for (const [name, values] of samples) console.log(`${label.padEnd(22)} ${name.padEnd(28)} median ${quantile(values, 0.5).toFixed(2)} ms   p95 ${quantile(values, 0.95).toFixed(2)} ms`);
}

async function main(): Promise<number> {
  const reads = Number(process.argv[2] ?? 300);
  for (const adapter of ['disk', 'mongo', 'postgresql'] as AdapterName[]) {
    const why = unavailable(adapter);
    if (why !== undefined) {
      console.log(`${adapter}: skipped (${why})`);
      continue;
    }
    for (const protocol of adapter === 'postgresql' ? (['auto', 'log'] as const) : (['auto'] as const)) {
      const app = await loadApp(await freshTarget(adapter), { migrate: 'drop', transact: { scheduler: false, protocol } });
      try {
        await measure(adapter === 'postgresql' ? `postgresql/${protocol === 'auto' ? 'native' : 'log'}` : adapter, app, reads);
      } finally {
        await lowerApp(app);
      }
    }
  }
  return 0;
}

runWithWatchdog(main, 8 * 60_000);
