/**
 * Round trips and latency of the transaction engine, per adapter and protocol.
 *
 *   npm run bench:roundtrips          (builds, then runs dist/bench/roundtrips.js)
 *   MONGO_URL=mongodb://127.0.0.1:27017/x PG_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:roundtrips
 *
 * disk always runs; mongo needs MONGO_URL and postgresql needs PG_URL (loopback hosts only),
 * else it is skipped with the reason printed. sails-disk and MongoDB run log protocol v2 and v3
 * (`protocol: 'redo'`), PostgreSQL its default (native) path and v3. Each gets a fresh database and the
 * demo app; round trips are counted at the driver (mongodb command monitoring; pg Client#query)
 * and, on sails-disk, at the store contract (test/support/roundtrips.ts). v3's bounds (issue 21:
 * a batch transfer ≤ 4, keyed ≤ 5, interactive ≤ 2 + one per document, a committed read of a free
 * document 1) are checked: the run exits 1 when one is exceeded. Prints markdown; writes no files.
 */
import { performance } from 'node:perf_hooks';
import type { Engine } from '../lib/engine';
import { LOCK_IDENTITY, LOG_IDENTITY } from '../lib/models/hook-models';
import { type LoadedApp, loadApp, lowerApp } from '../test/support/app';
import { type Counter, counterOf, diffKinds, pgCounter, snapshot, withMonitoring } from '../test/support/roundtrips';
import { isFerretDb } from '../test/support/records';
import { type AdapterName, freshTarget, type Target } from '../test/support/targets';
import { runWithWatchdog, unavailable } from './common';

const WARMUP = 5;
const MEASURED = 50;
const LATENCY_TX = 200;
const CONCURRENT_TX = 200;
const WORKERS = 8;
const START_BALANCE = 100_000;
const AMOUNT = 100;
/** Hard stop for the whole run: every loop is bounded, this bounds the waits too. */
const WATCHDOG_MS = 15 * 60_000;

// ---------------------------------------------------------------------------------------------
// Measurements

type Protocol = 'log' | 'redo' | 'auto';

interface Row {
  scenario: string;
  /** Documents written per transaction (k); the floor is k + 2. */
  k: number;
  roundTrips: number;
  meanMs: number;
  p95Ms: number;
  txPerSec: number;
  /** v3's bound for the scenario, where issue 21 sets one. */
  bound?: number;
  note?: string;
}

interface Sample {
  /** Round trips per transaction, averaged. */
  roundTrips: number;
  kinds: Map<string, number>;
  ms: Map<string, number>;
  latencies: number[];
  elapsedMs: number;
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

function p95(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)];
}

/** Runs `tx(i)` `warmup` times unmeasured, then `n` times sequentially, counting and timing each. */
async function measure(counter: Counter, warmup: number, n: number, tx: (i: number) => Promise<unknown>): Promise<Sample> {
  for (let i = 0; i < warmup; i++) await tx(i);
  const before = snapshot(counter);
  const latencies: number[] = [];
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await tx(warmup + i);
    latencies.push(performance.now() - t0);
  }
  const elapsedMs = performance.now() - started;
  return {
    roundTrips: (counter.total - before.total) / n,
    kinds: diffKinds(before.byKind, counter.byKind),
    ms: diffKinds(before.msByKind, counter.msByKind),
    latencies,
    elapsedMs,
  };
}

function toRow(scenario: string, k: number, sample: Sample, n: number, extra: { bound?: number; note?: string } = {}): Row {
  return { scenario, k, roundTrips: sample.roundTrips, meanMs: mean(sample.latencies), p95Ms: p95(sample.latencies), txPerSec: (n / sample.elapsedMs) * 1000, ...extra };
}

function accountId(index: number): string {
  return `a${index.toString(16).padStart(23, '0')}`;
}

function transferOps(from: string, to: string): Record<string, unknown>[] {
  return [
    { op: 'increment', model: 'account', id: from, field: 'balance', by: -AMOUNT, min: 0 },
    { op: 'increment', model: 'account', id: to, field: 'balance', by: AMOUNT },
  ];
}

function errorCode(err: unknown): string {
  if (typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string') return (err as { code: string }).code;
  return err instanceof Error ? err.name : typeof err;
}

async function sumBalances(app: LoadedApp, ids: readonly string[]): Promise<number> {
  const rows = await app.models.account.find({ id: { in: [...ids] } });
  if (rows.length !== ids.length) throw new Error(`expected ${ids.length} accounts, found ${rows.length}`);
  return rows.reduce((sum, row) => sum + Number(row.balance), 0);
}

/** Round trips of one Waterline call, as the engine makes them (no `fetch`). */
async function probeWaterline(app: LoadedApp, counter: Counter, scratch: string): Promise<{ call: string; roundTrips: number; kinds: Map<string, number> }[]> {
  const account = app.models.account;
  const log = app.models[LOG_IDENTITY];
  const lock = app.models[LOCK_IDENTITY];
  const calls: [string, () => PromiseLike<unknown>][] = [
    ['account.create (1 doc)', () => account.create({ id: scratch, owner: 'probe', balance: 0 })],
    ['account.find (id in [2])', () => account.find({ id: { in: [scratch, accountId(0)] } })],
    ['account.findOne', () => account.findOne({ id: scratch })],
    ['account.update().set()', () => account.update({ id: scratch }).set({ balance: 1 })],
    ['account.count', () => account.count({ id: scratch })],
    ['account.destroy', () => account.destroy({ id: scratch })],
    ['transactlock.createEach (2)', () => lock.createEach([{ id: `probe:${scratch}:1`, owner: 'probe', leaseUntil: 0 }, { id: `probe:${scratch}:2`, owner: 'probe', leaseUntil: 0 }])],
    ['transactlock.destroy (owner)', () => lock.destroy({ owner: 'probe' })],
    ['transactlog.findOne', () => log.findOne({ id: scratch })],
  ];
  const out: { call: string; roundTrips: number; kinds: Map<string, number> }[] = [];
  for (const [call, run] of calls) {
    const before = snapshot(counter);
    await run();
    out.push({ call, roundTrips: counter.total - before.total, kinds: diffKinds(before.byKind, counter.byKind) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reporting

function fmt(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '–';
}

function printTable(title: string, rows: readonly Row[]): void {
  console.log(`\n### ${title}\n`);
  console.log('| scenario | round trips/tx | v3 bound | floor (k+2) | mean ms | p95 ms | tx/s |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const row of rows) {
    const name = row.note === undefined ? row.scenario : `${row.scenario} — ${row.note}`;
    console.log(`| ${name} | ${fmt(row.roundTrips, 2)} | ${row.bound ?? ''} | ${row.k + 2} | ${fmt(row.meanMs, 2)} | ${fmt(row.p95Ms, 2)} | ${fmt(row.txPerSec, 0)} |`);
  }
}

/** `kind ×count/tx (mean ms per call)`, most frequent first. */
function printHistogram(title: string, kinds: ReadonlyMap<string, number>, ms: ReadonlyMap<string, number>, perTx: number): void {
  const parts = [...kinds.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([kind, n]) => `${kind} ×${fmt(n / perTx, 2)} (${fmt((ms.get(kind) ?? NaN) / n, 1)} ms)`);
  console.log(`- ${title}: ${parts.join(', ')}`);
}

// ---------------------------------------------------------------------------------------------
// Per adapter and protocol

/** The bound applies to v3 only: v2 rows show what it improves on. */
const bounded = (protocol: Protocol, bound: number): { bound?: number } => (protocol === 'redo' ? { bound } : {});

async function benchAdapter(adapter: AdapterName, protocol: Protocol): Promise<boolean> {
  const title = `${adapter}, ${protocol === 'redo' ? 'log protocol v3' : protocol === 'log' ? 'log protocol v2' : 'default (native)'}`;
  const reason = unavailable(adapter);
  if (reason !== undefined) {
    console.log(`\n### ${title}\n\nskipped: ${reason}`);
    return true;
  }
  let target: Target;
  try {
    target = withMonitoring(await freshTarget(adapter));
  } catch (err) {
    console.log(`\n### ${title}\n\nskipped: server unavailable: ${err instanceof Error ? err.message : String(err)}`);
    return true;
  }
  if (adapter === 'postgresql') pgCounter(); // before load: counts setup too
  const app = await loadApp(target, { migrate: 'drop', transact: { protocol } });
  try {
    const engine: Engine | undefined = app.hooks.transact.engine;
    if (engine === undefined) throw new Error('transact hook has no engine');
    const tally = counterOf(app, adapter);

    // Seed: 10 accounts for transfers, 20 more for the 20-document batch.
    const pairIds = Array.from({ length: 10 }, (_, i) => accountId(i));
    const wideIds = Array.from({ length: 20 }, (_, i) => accountId(10 + i));
    for (const id of [...pairIds, ...wideIds]) {
      await app.models.account.create({ id, owner: `owner-${id.slice(-4)}`, balance: START_BALANCE });
    }
    const pair = (i: number): [string, string] => [pairIds[i % 10], pairIds[(i + 1) % 10]];
    const run = `${Date.now().toString(36)}`;

    const rows: Row[] = [];
    const histograms: { title: string; kinds: Map<string, number>; ms: Map<string, number>; n: number }[] = [];
    const record = async (scenario: string, k: number, sample: Sample, n: number, extra: { bound?: number; note?: string } = {}): Promise<void> => {
      rows.push(toRow(scenario, k, sample, n, extra));
      const logs = await app.models[LOG_IDENTITY].count({}); // outside the measurement
      histograms.push({ title: `${scenario} [${logs} log documents after]`, kinds: sample.kinds, ms: sample.ms, n });
    };

    // (a) declarative 2-account transfer; with an idempotency key; with a transfer record.
    await record('(a) batch: 2 increments', 2, await measure(tally, WARMUP, MEASURED, (i) => engine.batch(transferOps(...pair(i)))), MEASURED, bounded(protocol, 4));
    await record(
      '(a) batch: 2 increments, keyed',
      2,
      await measure(tally, WARMUP, MEASURED, (i) => engine.batch(transferOps(...pair(i)), { idempotencyKey: `bench-${run}-${i}` })),
      MEASURED,
      bounded(protocol, 5),
    );
    await record(
      '(a) batch: 2 increments + create transfer',
      3,
      await measure(tally, WARMUP, MEASURED, (i) => {
        const [from, to] = pair(i);
        return engine.batch([...transferOps(from, to), { op: 'create', model: 'transfer', values: { from, to, amount: AMOUNT } }]);
      }),
      MEASURED,
    );
    // (b) 20 increments over 20 distinct accounts.
    await record(
      '(b) batch: 20 increments',
      20,
      await measure(tally, WARMUP, MEASURED, (i) =>
        engine.batch(wideIds.map((id) => ({ op: 'increment', model: 'account', id, field: 'balance', by: i % 2 === 0 ? 1 : -1 })))),
      MEASURED,
    );
    // (c) interactive 2-account transfer.
    await record(
      '(c) interactive: 2 increments',
      2,
      await measure(tally, WARMUP, MEASURED, (i) =>
        engine.interactive(async (tx) => {
          const [from, to] = pair(i);
          await tx.increment('account', from, 'balance', -AMOUNT, { min: 0 });
          await tx.increment('account', to, 'balance', AMOUNT);
        })),
      MEASURED,
      bounded(protocol, 2 + 2),
    );
    // (e) a committed read of one document nothing holds.
    await record('(e) committed read: findOne, free', 0, await measure(tally, WARMUP, MEASURED, (i) => engine.reads.findOne('account', pair(i)[0])), MEASURED, bounded(protocol, 1));

    // (d) latency, sequential.
    const expected = await sumBalances(app, pairIds);
    await record(`(d) batch transfer, sequential c=1 (${LATENCY_TX} tx)`, 2, await measure(tally, 0, LATENCY_TX, (i) => engine.batch(transferOps(...pair(i)))), LATENCY_TX);

    // (d) throughput, WORKERS concurrent workers sharing CONCURRENT_TX transfers between random
    // distinct pairs. Not on FerretDB with v3: its conditional updates are not atomic (docs/protocol.md).
    let balanceOk = true;
    if (protocol === 'redo' && adapter === 'mongo' && (await isFerretDb(app))) {
      console.log(`\n(${title}: concurrent transfers skipped: FerretDB's conditional updates are not atomic, and v3 needs them to be)`);
    } else {
      const errors = new Map<string, number>();
      const latencies: number[] = [];
      let next = 0;
      const before = snapshot(tally);
      const started = performance.now();
      const worker = async (): Promise<void> => {
        while (next < CONCURRENT_TX) {
          next++;
          const from = Math.floor(Math.random() * 10);
          const to = (from + 1 + Math.floor(Math.random() * 9)) % 10;
          const t0 = performance.now();
          try {
            await engine.batch(transferOps(pairIds[from], pairIds[to]));
            latencies.push(performance.now() - t0);
          } catch (err) {
            const code = errorCode(err);
            errors.set(code, (errors.get(code) ?? 0) + 1);
          }
        }
      };
      await Promise.all(Array.from({ length: WORKERS }, worker));
      const elapsedMs = performance.now() - started;
      const committed = latencies.length;
      const actual = await sumBalances(app, pairIds);
      balanceOk = actual === expected;
      const errorText = errors.size === 0 ? 'none' : [...errors.entries()].map(([code, n]) => `${code} ×${n}`).join(', ');
      const concurrent: Sample = {
        roundTrips: committed === 0 ? NaN : (tally.total - before.total) / committed,
        kinds: diffKinds(before.byKind, tally.byKind),
        ms: diffKinds(before.msByKind, tally.msByKind),
        latencies,
        elapsedMs,
      };
      await record(`(d) batch transfer, ${WORKERS} workers (${CONCURRENT_TX} tx)`, 2, concurrent, committed, { note: `${committed} committed, errors: ${errorText}` });
      console.log(`\nbalance check (${title}, ${WORKERS} workers): sum ${actual} vs ${expected} before → ${balanceOk ? 'OK' : 'FAIL'}`);
    }

    printTable(title, rows);
    // A count of 0 is a counter that missed the calls, never a free transaction.
    const over = rows.filter((row) => row.bound !== undefined && !(row.roundTrips > 0 && row.roundTrips <= row.bound));
    if (protocol === 'redo') console.log(`\nv3's bounds: ${over.length === 0 ? 'all held' : `EXCEEDED (or not counted) by ${over.map((row) => `${row.scenario} (${fmt(row.roundTrips, 2)}, bound ${row.bound})`).join(', ')}`}`);
    console.log(`\nwhat was sent, per transaction (${adapter === 'mongo' ? 'command + collection' : adapter === 'disk' ? 'store call + model' : 'statement + table'}; mean ms per call, send to reply):`);
    for (const h of histograms) printHistogram(h.title, h.kinds, h.ms, h.n);
    if (adapter !== 'disk') {
      console.log('\nWaterline calls on their own:\n');
      console.log('| call | round trips | sent |');
      console.log('|---|---:|---|');
      for (const probe of await probeWaterline(app, tally, accountId(0xfff))) {
        const sent = [...probe.kinds.entries()].map(([kind, n]) => `${kind} ×${n}`).join(', ');
        console.log(`| ${probe.call} | ${probe.roundTrips} | ${sent} |`);
      }
    }
    return balanceOk && over.length === 0;
  } finally {
    await lowerApp(app).catch((err: unknown) => console.log(`(lowering the ${title} app failed: ${err instanceof Error ? err.message : String(err)})`));
  }
}

async function main(): Promise<number> {
  console.log(`# sails-hook-transact round trips (${MEASURED} tx after ${WARMUP} warm-up; floor = k documents + 2)`);
  let ok = true;
  const runs: [AdapterName, Protocol][] = [['disk', 'log'], ['disk', 'redo'], ['mongo', 'log'], ['mongo', 'redo'], ['postgresql', 'auto'], ['postgresql', 'redo']];
  for (const [adapter, protocol] of runs) {
    try {
      ok = (await benchAdapter(adapter, protocol)) && ok;
    } catch (err) {
      ok = false;
      console.log(`\n### ${adapter} (${protocol})\n\nfailed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }
  return ok ? 0 : 1;
}

runWithWatchdog(main, WATCHDOG_MS);
