/**
 * Round trips and latency of the transaction engine, per adapter.
 *
 *   npm run bench          (builds, then runs dist/bench/roundtrips.js)
 *   MONGO_URL=mongodb://127.0.0.1:27017/x PG_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench
 *
 * disk always runs; mongo needs MONGO_URL and postgresql needs PG_URL (loopback hosts only),
 * else it is skipped with the reason printed. Each adapter gets a fresh database and the demo
 * app; round trips are counted at the driver (mongodb command monitoring; pg Client#query).
 * Prints markdown tables; writes no files.
 */
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client as PgClient } from 'pg';
import type { Engine } from '../lib/engine';
import { LOCK_IDENTITY, LOG_IDENTITY } from '../lib/models';
import { type LoadedApp, loadApp, lowerApp } from '../test/support/app';
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
// Round-trip counting

/** Counts what one adapter sends to its server; `null` where there is no server. */
interface Counter {
  readonly total: number;
  /** Histogram of what was sent, e.g. `insert transactlock` or `UPDATE account`. */
  readonly byKind: ReadonlyMap<string, number>;
  /** Summed client-side duration (send to reply) per kind, in ms. */
  readonly msByKind: ReadonlyMap<string, number>;
}

class Tally implements Counter {
  total = 0;
  byKind = new Map<string, number>();
  msByKind = new Map<string, number>();
  record(kind: string): void {
    this.total++;
    this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + 1);
  }
  time(kind: string, ms: number): void {
    this.msByKind.set(kind, (this.msByKind.get(kind) ?? 0) + ms);
  }
}

interface Snapshot {
  total: number;
  byKind: Map<string, number>;
  msByKind: Map<string, number>;
}

function snapshot(counter: Counter | null): Snapshot | null {
  return counter === null ? null : { total: counter.total, byKind: new Map(counter.byKind), msByKind: new Map(counter.msByKind) };
}

function diffKinds(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): Map<string, number> {
  const diff = new Map<string, number>();
  for (const [kind, n] of after) {
    const d = n - (before.get(kind) ?? 0);
    if (d !== 0) diff.set(kind, d);
  }
  return diff;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

interface MongoClientLike {
  monitorCommands: boolean;
  on(event: 'commandStarted' | 'commandSucceeded' | 'commandFailed', listener: (event: unknown) => void): unknown;
}

function isMongoClient(value: unknown): value is MongoClientLike {
  return isRecord(value) && typeof value.on === 'function' && 'monitorCommands' in value;
}

/**
 * Command monitoring on sails-mongo's MongoClient. In driver 6.3 the `monitorCommands` setter
 * exists but only reaches connections opened after it is set (each pool freezes its options at
 * connect), so the option also goes in the URL, and this checks that events really arrive.
 */
function mongoCounter(app: LoadedApp): Tally {
  const manager: unknown = app.models.account.getDatastore().manager;
  const client = isRecord(manager) ? manager.client : undefined;
  if (!isMongoClient(client)) throw new Error('datastore manager has no MongoClient in .client');
  if (!client.monitorCommands) client.monitorCommands = true;
  const tally = new Tally();
  const kindOf = new Map<unknown, string>(); // requestId -> kind, until the reply
  client.on('commandStarted', (event: unknown) => {
    if (!isRecord(event) || typeof event.commandName !== 'string') return tally.record('?');
    const target = isRecord(event.command) ? event.command[event.commandName] : undefined;
    const kind = typeof target === 'string' ? `${event.commandName} ${target}` : event.commandName;
    kindOf.set(event.requestId, kind);
    tally.record(kind);
  });
  const ended = (event: unknown): void => {
    if (!isRecord(event)) return;
    const kind = kindOf.get(event.requestId);
    kindOf.delete(event.requestId);
    if (kind !== undefined && typeof event.duration === 'number') tally.time(kind, event.duration);
  };
  client.on('commandSucceeded', ended);
  client.on('commandFailed', ended);
  return tally;
}

function sqlText(arg: unknown): string {
  if (typeof arg === 'string') return arg;
  if (isRecord(arg) && typeof arg.text === 'string') return arg.text;
  return '?';
}

/** `UPDATE account`, `INSERT transactlock`, `BEGIN`…: the statement verb and its first table. */
function sqlKind(sql: string): string {
  const verb = (/^\s*(\w+)/.exec(sql)?.[1] ?? '?').toUpperCase();
  const table = /\b(?:from|into|update|table|on)\s+((?:"(?:[^"]|"")+"|\w+)(?:\.(?:"(?:[^"]|"")+"|\w+))?)/i.exec(sql)?.[1];
  if (table === undefined) return verb;
  const last = table.split('.').pop() ?? table;
  return `${verb} ${last.replace(/^"|"$/g, '')}`;
}

let pgTally: Tally | undefined;

/**
 * Every statement pg sends goes through Client#query (sails-postgresql on `pool.connect()`
 * clients, the store through `pool.query()`, which checks out a client and calls it once).
 * Patched once per process, on the pg module sails-postgresql itself loads.
 */
function pgCounter(): Tally {
  const ours = require.resolve('pg');
  const theirs = require.resolve('pg', { paths: [dirname(require.resolve('machinepack-postgresql'))] });
  if (ours !== theirs) throw new Error(`sails-postgresql loads another pg (${theirs}) than this bench (${ours}): counts would miss its queries`);
  if (pgTally !== undefined) return pgTally;
  const tally = new Tally();
  const proto = PgClient.prototype as unknown as { query: (this: unknown, ...args: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function query(this: unknown, ...args: unknown[]): unknown {
    const kind = sqlKind(sqlText(args[0]));
    tally.record(kind);
    const t0 = performance.now();
    const done = (): void => tally.time(kind, performance.now() - t0);
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === 'function') {
      // sails-postgresql's style: query(sql, bindings, cb)
      args[last] = function (this: unknown, ...results: unknown[]): unknown {
        done();
        return Reflect.apply(callback, this, results);
      };
      return original.apply(this, args);
    }
    const result = original.apply(this, args);
    if (result instanceof Promise) result.then(done, done);
    return result;
  };
  pgTally = tally;
  return tally;
}

// ---------------------------------------------------------------------------------------------
// Measurements

interface Row {
  scenario: string;
  /** Documents written per transaction (k); the floor is k + 2. */
  k: number;
  roundTrips: number | null;
  meanMs: number;
  p95Ms: number;
  txPerSec: number;
  note?: string;
}

interface Sample {
  /** Round trips per transaction, averaged; null without a server. */
  roundTrips: number | null;
  kinds: Map<string, number> | null;
  ms: Map<string, number> | null;
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
async function measure(counter: Counter | null, warmup: number, n: number, tx: (i: number) => Promise<unknown>): Promise<Sample> {
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
  const after = snapshot(counter);
  return {
    roundTrips: before === null || after === null ? null : (after.total - before.total) / n,
    kinds: before === null || after === null ? null : diffKinds(before.byKind, after.byKind),
    ms: before === null || after === null ? null : diffKinds(before.msByKind, after.msByKind),
    latencies,
    elapsedMs,
  };
}

function toRow(scenario: string, k: number, sample: Sample, n: number, note?: string): Row {
  return {
    scenario,
    k,
    roundTrips: sample.roundTrips,
    meanMs: mean(sample.latencies),
    p95Ms: p95(sample.latencies),
    txPerSec: (n / sample.elapsedMs) * 1000,
    note,
  };
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
  if (isRecord(err) && typeof err.code === 'string') return err.code;
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
    const after = snapshot(counter);
    if (before === null || after === null) continue;
    out.push({ call, roundTrips: after.total - before.total, kinds: diffKinds(before.byKind, after.byKind) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reporting

function fmt(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '–';
}

function printTable(adapter: AdapterName, rows: readonly Row[]): void {
  console.log(`\n### ${adapter}\n`);
  console.log('| scenario | round trips/tx | floor (k+2) | ratio | mean ms | p95 ms | tx/s |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const row of rows) {
    const floor = row.k + 2;
    const trips = row.roundTrips === null ? 'n/a (embedded)' : fmt(row.roundTrips, 2);
    const ratio = row.roundTrips === null ? 'n/a' : `${fmt(row.roundTrips / floor, 2)}×`;
    const name = row.note === undefined ? row.scenario : `${row.scenario} — ${row.note}`;
    console.log(`| ${name} | ${trips} | ${floor} | ${ratio} | ${fmt(row.meanMs, 2)} | ${fmt(row.p95Ms, 2)} | ${fmt(row.txPerSec, 0)} |`);
  }
}

/** `kind ×count/tx (mean ms per call)`, most frequent first. */
function printHistogram(title: string, kinds: ReadonlyMap<string, number> | null, ms: ReadonlyMap<string, number> | null, perTx: number): void {
  if (kinds === null) return;
  const parts = [...kinds.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([kind, n]) => `${kind} ×${fmt(n / perTx, 2)} (${fmt((ms?.get(kind) ?? NaN) / n, 1)} ms)`);
  console.log(`- ${title}: ${parts.join(', ')}`);
}

// ---------------------------------------------------------------------------------------------
// Per adapter

/** The mongo URL with command monitoring on from the first connection (see mongoCounter). */
function withMonitoring(target: Target): Target {
  if (target.adapter !== 'mongo') return target;
  const url = new URL(target.location);
  url.searchParams.set('monitorCommands', 'true');
  return { ...target, location: url.toString() };
}

async function benchAdapter(adapter: AdapterName): Promise<boolean> {
  const reason = unavailable(adapter);
  if (reason !== undefined) {
    console.log(`\n### ${adapter}\n\nskipped: ${reason}`);
    return true;
  }
  let target: Target;
  try {
    target = withMonitoring(await freshTarget(adapter));
  } catch (err) {
    console.log(`\n### ${adapter}\n\nskipped: server unavailable: ${err instanceof Error ? err.message : String(err)}`);
    return true;
  }
  const counter: Tally | null = adapter === 'postgresql' ? pgCounter() : null; // before load: counts setup too
  const app = await loadApp(target, { migrate: 'drop' });
  try {
    const engine: Engine | undefined = app.hooks.transact.engine;
    if (engine === undefined) throw new Error('transact hook has no engine');
    const tally: Counter | null = adapter === 'mongo' ? mongoCounter(app) : counter;

    // Seed: 10 accounts for transfers, 20 more for the 20-document batch.
    const pairIds = Array.from({ length: 10 }, (_, i) => accountId(i));
    const wideIds = Array.from({ length: 20 }, (_, i) => accountId(10 + i));
    for (const id of [...pairIds, ...wideIds]) {
      await app.models.account.create({ id, owner: `owner-${id.slice(-4)}`, balance: START_BALANCE });
    }
    const pair = (i: number): [string, string] => [pairIds[i % 10], pairIds[(i + 1) % 10]];

    const rows: Row[] = [];
    const histograms: { title: string; kinds: Map<string, number> | null; ms: Map<string, number> | null; n: number }[] = [];
    const record = async (scenario: string, k: number, sample: Sample, n: number, note?: string): Promise<void> => {
      rows.push(toRow(scenario, k, sample, n, note));
      const logs = await app.models[LOG_IDENTITY].count({}); // outside the measurement
      histograms.push({ title: `${scenario} [${logs} log documents after]`, kinds: sample.kinds, ms: sample.ms, n });
    };

    // (a) declarative 2-account transfer, and with a transfer record.
    await record('(a) batch: 2 increments', 2, await measure(tally, WARMUP, MEASURED, (i) => engine.batch(transferOps(...pair(i)))), MEASURED);
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
    );

    // (d) latency, sequential.
    const expected = await sumBalances(app, pairIds);
    await record(`(d) batch transfer, sequential c=1 (${LATENCY_TX} tx)`, 2, await measure(tally, 0, LATENCY_TX, (i) => engine.batch(transferOps(...pair(i)))), LATENCY_TX);

    // (d) throughput, WORKERS concurrent workers sharing CONCURRENT_TX transfers between random distinct pairs.
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
    const after = snapshot(tally);
    const committed = latencies.length;
    const actual = await sumBalances(app, pairIds);
    const balanceOk = actual === expected;
    const errorText = errors.size === 0 ? 'none' : [...errors.entries()].map(([code, n]) => `${code} ×${n}`).join(', ');
    const concurrent: Sample = {
      roundTrips: before === null || after === null || committed === 0 ? null : (after.total - before.total) / committed,
      kinds: before === null || after === null ? null : diffKinds(before.byKind, after.byKind),
      ms: before === null || after === null ? null : diffKinds(before.msByKind, after.msByKind),
      latencies,
      elapsedMs,
    };
    await record(`(d) batch transfer, ${WORKERS} workers (${CONCURRENT_TX} tx)`, 2, concurrent, committed, `${committed} committed, errors: ${errorText}`);

    printTable(adapter, rows);
    console.log(`\nbalance check (${WORKERS} workers): sum ${actual} vs ${expected} before → ${balanceOk ? 'OK' : 'FAIL'}`);
    if (tally !== null) {
      console.log(`\nwhat was sent, per transaction (${adapter === 'mongo' ? 'command + collection' : 'statement + table'}; mean ms per call, send to reply):`);
      for (const h of histograms) printHistogram(h.title, h.kinds, h.ms, h.n);
      console.log('\nWaterline calls on their own:\n');
      console.log('| call | round trips | sent |');
      console.log('|---|---:|---|');
      for (const probe of await probeWaterline(app, tally, accountId(0xfff))) {
        const sent = [...probe.kinds.entries()].map(([kind, n]) => `${kind} ×${n}`).join(', ');
        console.log(`| ${probe.call} | ${probe.roundTrips} | ${sent} |`);
      }
    }
    return balanceOk;
  } finally {
    await lowerApp(app).catch((err: unknown) => console.log(`(lowering the ${adapter} app failed: ${err instanceof Error ? err.message : String(err)})`));
  }
}

async function main(): Promise<number> {
  console.log(`# sails-hook-transact round trips (${MEASURED} tx after ${WARMUP} warm-up; floor = k documents + 2)`);
  let ok = true;
  for (const adapter of ['disk', 'mongo', 'postgresql'] as const) {
    try {
      ok = (await benchAdapter(adapter)) && ok;
    } catch (err) {
      ok = false;
      console.log(`\n### ${adapter}\n\nfailed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }
  return ok ? 0 : 1;
}

runWithWatchdog(main, WATCHDOG_MS);
