/**
 * Drill and backup/restore timings and memory, per adapter (docs/operations.md "Drills and backups").
 *
 *   npm run bench:drill      DRILL_ACCOUNTS=2000 DRILL_TRANSFERS=3000 DRILL_ADAPTERS=disk,mongo,postgresql (defaults)
 *
 * disk always runs; mongo needs MONGO_URL, postgresql PG_URL (loopback only). Each adapter gets a
 * fresh database with N accounts and M transfers (3 documents written each, a Transfer created),
 * then: a drill to the middle of the transfers, a backup, a restore into an empty database. Prints
 * a markdown table with durations and the process's peak RSS while each ran.
 */
import { createWriteStream, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { rebuildAt, restoreBackup, writeBackup } from '../lib/drill';
import type { Engine } from '../lib/engine';
import { transactionalModels } from '../lib/http';
import { newId } from '../lib/core/ids';
import { type LoadedApp, loadApp, lowerApp } from '../test/support/app';
import { type AdapterName, freshTarget } from '../test/support/targets';
import { runWithWatchdog, unavailable } from './common';

const ACCOUNTS = Number(process.env.DRILL_ACCOUNTS || 2000);
const TRANSFERS = Number(process.env.DRILL_TRANSFERS || 3000);
const WORKERS = 8;

/**
 * Time, peak RSS of the process, and peak heap growth over the heap before (after a GC when run
 * with --expose-gc): the process holds three loaded apps (and sails-disk its whole data), so the
 * heap growth is what tells whether the work itself stays flat as the data grows.
 */
async function measure<T>(work: () => Promise<T>): Promise<{ value: T; ms: number; rssMb: number; heapMb: number }> {
  (globalThis as { gc?: () => void }).gc?.();
  const base = process.memoryUsage().heapUsed;
  if (process.env.DRILL_TRACE) console.error(`heap before: ${Math.round(base / 1e6)} MB`);
  let peakRss = process.memoryUsage().rss;
  let peakHeap = base;
  const sample = (): void => {
    const now = process.memoryUsage();
    peakRss = Math.max(peakRss, now.rss);
    peakHeap = Math.max(peakHeap, now.heapUsed);
  };
  const timer = setInterval(sample, 10);
  const start = performance.now();
  try {
    const value = await work();
    sample();
    return { value, ms: performance.now() - start, rssMb: Math.round(peakRss / 1e6), heapMb: Math.round((peakHeap - base) / 1e6) };
  } finally {
    clearInterval(timer);
  }
}

async function transfers(engine: Engine, ids: string[], count: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const n = next++;
      const from = ids[(n * 7) % ids.length];
      const to = ids[(n * 13 + 1) % ids.length];
      if (from === to) continue;
      await engine.batch([
        { op: 'increment', model: 'account', id: from, field: 'balance', by: -1, min: 0 },
        { op: 'increment', model: 'account', id: to, field: 'balance', by: 1 },
        { op: 'create', model: 'transfer', values: { from, to, amount: 1 } },
      ]);
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, worker));
}

async function run(adapter: AdapterName): Promise<string[]> {
  const reason = unavailable(adapter);
  if (reason !== undefined) return [`| ${adapter} | skipped: ${reason} |`];
  const app = await loadApp(await freshTarget(adapter), { migrate: 'drop', transact: { recoveryIntervalMs: 0, scheduler: false } });
  const others: LoadedApp[] = [];
  const file = join(tmpdir(), `bench-drill-${newId()}.ndjson`);
  try {
    const engine = app.hooks.transact.engine as Engine;
    const models = transactionalModels(app.models);
    const ids = Array.from({ length: ACCOUNTS }, () => newId());
    for (let i = 0; i < ids.length; i += 500) await engine.batch(ids.slice(i, i + 500).map((id) => ({ op: 'create', model: 'account', id, values: { owner: id, balance: 1_000 } })));
    await transfers(engine, ids, TRANSFERS / 2);
    const at = Math.max(Date.now(), engine.clock.now());
    await new Promise((resolve) => setTimeout(resolve, 20));
    await transfers(engine, ids, TRANSFERS / 2);
    const fresh = async (): Promise<LoadedApp> => {
      const other = await loadApp(await freshTarget(adapter), { migrate: 'drop', freshAdapter: true, transact: { recoveryIntervalMs: 0, scheduler: false } });
      others.push(other);
      return other;
    };
    const scratch = await fresh();
    const drill = await measure(() => rebuildAt(engine, { at, models, target: (identity) => scratch.models[identity] }));
    const backup = await measure(() => writeBackup(engine, createWriteStream(file), { models }));
    const restored = await fresh();
    const restore = await measure(() => restoreBackup(restored.hooks.transact.engine as Engine, file, { modelOf: (identity) => restored.models[identity] }));
    const docs = Object.values(drill.value.models).reduce((sum, m) => sum + m.copied, 0);
    return [
      `| ${adapter} | drill (copy ${docs} docs, undo ${drill.value.undone.transactions} tx) | ${(drill.ms / 1000).toFixed(1)} s | ${drill.rssMb} MB | +${drill.heapMb} MB |`,
      `| ${adapter} | backup (${backup.value.trailer.lines} lines) | ${(backup.ms / 1000).toFixed(1)} s | ${backup.rssMb} MB | +${backup.heapMb} MB |`,
      `| ${adapter} | restore (verify + import + ${restore.value.reapplied} re-applied) | ${(restore.ms / 1000).toFixed(1)} s | ${restore.rssMb} MB | +${restore.heapMb} MB |`,
    ];
  } finally {
    for (const other of others) await lowerApp(other);
    await lowerApp(app);
    rmSync(file, { force: true });
  }
}

async function main(): Promise<number> {
  const rows = ['| adapter | what | time | peak RSS | peak heap growth |', '|---|---|---|---|---|'];
  for (const adapter of (process.env.DRILL_ADAPTERS || 'disk,mongo,postgresql').split(',') as AdapterName[]) rows.push(...(await run(adapter)));
  console.log(`${ACCOUNTS} accounts, ${TRANSFERS} transfers (drill at the middle)\n`);
  console.log(rows.join('\n'));
  return 0;
}

runWithWatchdog(main, 30 * 60_000);
