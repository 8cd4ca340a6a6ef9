/**
 * Throughput, latency and money-correctness of 2-account transfers, per adapter and per way of
 * writing them, at concurrency 1, 16 and 64.
 *
 *   npm run bench          (builds, then runs dist/bench/transfers.js)
 *   PG_URL=postgres://postgres@127.0.0.1:5432/postgres MONGO_URL=mongodb://127.0.0.1:27017/x npm run bench
 *
 * One transfer: debit one of 10 accounts (never below 0), credit another, record a Transfer.
 * Pairs (distinct) and amounts (1..100 cents) come from a seeded PRNG, the same sequence for
 * every way at a given concurrency; balances start at 1,000,000 cents, re-seeded (10 new
 * accounts) for every cell.
 *
 * Ways:
 *   hook        `sails.transact([...ops])`, the hook's declarative batch      (every adapter)
 *   wl-tx       Waterline's `datastore.transaction()` with SELECT … FOR UPDATE and model calls
 *               `.usingConnection(db)`                                        (postgresql)
 *   native      hand-written SQL over its own pg Pool: BEGIN, SELECT … FOR UPDATE in id order,
 *               2 UPDATEs, INSERT, COMMIT                                     (postgresql)
 *   plain       plain Waterline, no transaction: find both, check in JS, updateOne ×2, create
 *               (not safe under concurrency: shown for its money check)       (every adapter)
 *
 * disk always runs; mongo needs MONGO_URL and postgresql needs PG_URL (loopback hosts only),
 * else it is skipped with the reason printed. Each adapter gets a fresh database (freshTarget).
 *
 * Environment:
 *   BENCH_TRANSFERS        transfers per cell (default 1000 at c=1, 2000 at c≥16)
 *   BENCH_TRANSFERS_MONGO  transfers per cell on mongo (default 200: FerretDB is slow)
 *   BENCH_CELL_SECONDS     a cell stops starting transfers after this long (default 120)
 *   BENCH_SEED             PRNG seed (default 42)
 * Each way first runs 20 unmeasured sequential transfers (warm-up) on accounts of their own.
 *   BENCH_ADAPTERS, BENCH_WAYS, BENCH_CONCURRENCY   comma lists restricting the run
 *                          (e.g. postgresql / hook / 16: what a CPU profile wants)
 * Prints markdown tables; writes no files. Exit code 1 when a transactional way got the money wrong.
 */
import { performance } from 'node:perf_hooks';
import { Pool, type PoolClient } from 'pg';
import { newId } from '../lib/core/ids';
import { type LoadedApp, loadApp, lowerApp } from '../test/support/app';
import { type AdapterName, freshTarget, type Target } from '../test/support/targets';
import type { TransactConfig } from '../lib/config';
import { prng, runWithWatchdog, unavailable } from './common';

const ACCOUNTS = 10;
const START_BALANCE = 1_000_000;
const MAX_AMOUNT = 100;
const CONCURRENCIES = [1, 16, 64] as const;
/** Unmeasured sequential transfers per way before its cells. */
const WARMUP = 20;
/** Hard stop for the whole run: every loop is bounded, this bounds the waits too. */
const WATCHDOG_MS = 20 * 60_000;

function envInt(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return value;
}

function envList(name: string): string[] | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  return raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

const SEED = envInt('BENCH_SEED') ?? 42;
const CELL_DEADLINE_MS = (envInt('BENCH_CELL_SECONDS') ?? 120) * 1000;

function transfersPerCell(adapter: AdapterName, concurrency: number): number {
  if (adapter === 'mongo') return envInt('BENCH_TRANSFERS_MONGO') ?? envInt('BENCH_TRANSFERS') ?? 200;
  return envInt('BENCH_TRANSFERS') ?? (concurrency === 1 ? 1000 : 2000);
}

// ---------------------------------------------------------------------------------------------
// Typed slices of what Waterline / sails-hook-orm give at runtime (they ship no types)

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

type Row = Record<string, unknown>;

/** A Waterline deferred, with the modifiers this bench uses. */
interface Query<T> extends PromiseLike<T> {
  set(values: Row): Query<T>;
  usingConnection(connection: unknown): Query<T>;
}

interface BenchModel {
  tableName: string;
  attributes: Record<string, { columnName?: string; autoCreatedAt?: boolean; autoUpdatedAt?: boolean }>;
  find(criteria: Row): Query<Row[]>;
  count(criteria: Row): Query<number>;
  create(values: Row): Query<Row | undefined>;
  createEach(values: Row[]): Query<Row[] | undefined>;
  updateOne(criteria: Row): Query<Row | undefined>;
}

/** sails-hook-orm's registered datastore instance (`Model.getDatastore()`). */
interface BenchDatastore {
  manager: unknown;
  transaction<T>(during: (db: unknown) => Promise<T>): PromiseLike<T>;
  sendNativeQuery(sql: string, values: unknown[]): Query<{ rows: Row[] }>;
}

function benchModel(app: LoadedApp, identity: string): BenchModel {
  const model: unknown = app.models[identity];
  if (!isRecord(model) || typeof model.updateOne !== 'function' || typeof model.find !== 'function' || typeof model.tableName !== 'string') {
    throw new Error(`app.models.${identity} is not a Waterline model with updateOne/find`);
  }
  return model as unknown as BenchModel;
}

function benchDatastore(app: LoadedApp): BenchDatastore {
  const datastore: unknown = app.models.account.getDatastore();
  if (!isRecord(datastore) || typeof datastore.transaction !== 'function' || typeof datastore.sendNativeQuery !== 'function') {
    throw new Error('account.getDatastore() has no .transaction() / .sendNativeQuery()');
  }
  return datastore as unknown as BenchDatastore;
}

/** The size of sails-postgresql's pg Pool (the native way gets a pool of the same size). */
function adapterPoolMax(datastore: BenchDatastore): number {
  const pool = isRecord(datastore.manager) ? datastore.manager.pool : undefined;
  const options = isRecord(pool) ? pool.options : undefined;
  return isRecord(options) && typeof options.max === 'number' ? options.max : 10;
}

// ---------------------------------------------------------------------------------------------
// Workload

interface Move {
  /** Indexes into the cell's accounts. */
  from: number;
  to: number;
  amount: number;
}

function plan(n: number, seed: number): Move[] {
  const random = prng(seed);
  return Array.from({ length: n }, () => {
    const from = Math.floor(random() * ACCOUNTS);
    const to = (from + 1 + Math.floor(random() * (ACCOUNTS - 1))) % ACCOUNTS;
    return { from, to, amount: 1 + Math.floor(random() * MAX_AMOUNT) };
  });
}

/** One transfer as a way runs it; `memo` tags the Transfer record with its cell. */
interface TransferArgs {
  from: string;
  to: string;
  amount: number;
  memo: string;
}

/** Thrown by the ways that check the balance themselves (the hook's is `bound_violation`). */
class InsufficientFunds extends Error {
  readonly code = 'insufficient_funds';
}

function errorCode(err: unknown): string {
  if (isRecord(err) && (typeof err.code === 'string' || typeof err.code === 'number')) return String(err.code);
  if (isRecord(err) && isRecord(err.raw)) return errorCode(err.raw);
  return err instanceof Error ? err.name : typeof err;
}

// ---------------------------------------------------------------------------------------------
// The ways

type WayKey = 'hook' | 'hook-v2' | 'hook-v3' | 'wl-tx' | 'native' | 'plain';

interface Way {
  key: WayKey;
  title: string;
  adapters: readonly AdapterName[];
  /** True for the ways that promise correct money (a wrong check fails the run). */
  transactional: boolean;
  /** The hook's `protocol` for this way's app (each protocol gets an app, and a database, of its own). */
  protocol: TransactConfig['protocol'];
}

const WAYS: readonly Way[] = [
  { key: 'hook', title: '(a) hook: `sails.transact` batch, default protocol', adapters: ['disk', 'mongo', 'postgresql'], transactional: true, protocol: 'auto' },
  { key: 'hook-v2', title: '(a2) hook batch, log protocol v2 (`protocol: \'log\'`)', adapters: ['disk', 'mongo', 'postgresql'], transactional: true, protocol: 'log' },
  { key: 'hook-v3', title: '(a3) hook batch, log protocol v3 (`protocol: \'redo\'`)', adapters: ['disk', 'mongo', 'postgresql'], transactional: true, protocol: 'redo' },
  { key: 'wl-tx', title: '(b) Waterline `.transaction()` + FOR UPDATE', adapters: ['postgresql'], transactional: true, protocol: 'auto' },
  { key: 'native', title: '(c) native SQL over a pg Pool', adapters: ['postgresql'], transactional: true, protocol: 'auto' },
  { key: 'plain', title: '(d) plain Waterline, no transaction', adapters: ['disk', 'mongo', 'postgresql'], transactional: false, protocol: 'auto' },
];

type Runner = (t: TransferArgs) => Promise<void>;

function hookRunner(app: LoadedApp): Runner {
  const transact = app.transact;
  if (transact === undefined) throw new Error('sails.transact is not set: the transact hook did not initialize');
  return async ({ from, to, amount, memo }) => {
    await transact(
      [
        { op: 'increment', model: 'account', id: from, field: 'balance', by: -amount, min: 0 },
        { op: 'increment', model: 'account', id: to, field: 'balance', by: amount },
        { op: 'create', model: 'transfer', values: { from, to, amount, memo } },
      ],
      { label: 'bench transfer' },
    );
  };
}

/** Table and column names as sails-postgresql created them, from the model definitions. */
interface SqlNames {
  account: string;
  transfer: string;
  col: (model: BenchModel, attribute: string) => string;
}

function quote(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}

function sqlNames(account: BenchModel, transfer: BenchModel): SqlNames {
  return {
    account: quote(account.tableName),
    transfer: quote(transfer.tableName),
    col: (model, attribute) => {
      const def = model.attributes[attribute];
      if (def === undefined) throw new Error(`${model.tableName} has no attribute ${attribute}`);
      return quote(def.columnName ?? attribute);
    },
  };
}

function balanceOf(rows: readonly Row[], id: string, idColumn: string, balanceColumn: string): number {
  const row = rows.find((r) => r[idColumn] === id);
  if (row === undefined) throw new Error(`account ${id} not found`);
  const balance = Number(row[balanceColumn]);
  if (!Number.isFinite(balance)) throw new Error(`account ${id} has no numeric balance`);
  return balance;
}

/** `SELECT … FOR UPDATE` both rows, in id order (ORDER BY runs below the row locks). */
function lockSql(names: SqlNames, account: BenchModel): string {
  const id = names.col(account, 'id');
  return `SELECT ${id} AS "id", ${names.col(account, 'balance')} AS "balance" FROM ${names.account} WHERE ${id} = ANY($1::text[]) ORDER BY ${id} FOR UPDATE`;
}

function waterlineTxRunner(app: LoadedApp): Runner {
  const account = benchModel(app, 'account');
  const transfer = benchModel(app, 'transfer');
  const datastore = benchDatastore(app);
  const sql = lockSql(sqlNames(account, transfer), account);
  return async ({ from, to, amount, memo }) => {
    await datastore.transaction(async (db) => {
      const { rows } = await datastore.sendNativeQuery(sql, [[from, to]]).usingConnection(db);
      const fromBalance = balanceOf(rows, from, 'id', 'balance');
      const toBalance = balanceOf(rows, to, 'id', 'balance');
      if (fromBalance - amount < 0) throw new InsufficientFunds(`${from} has ${fromBalance}`);
      await account.updateOne({ id: from }).set({ balance: fromBalance - amount }).usingConnection(db);
      await account.updateOne({ id: to }).set({ balance: toBalance + amount }).usingConnection(db);
      await transfer.create({ id: newId(), from, to, amount, memo }).usingConnection(db);
    });
  };
}

function nativeRunner(app: LoadedApp, pool: Pool): Runner {
  const account = benchModel(app, 'account');
  const transfer = benchModel(app, 'transfer');
  const names = sqlNames(account, transfer);
  const col = names.col;
  const lock = lockSql(names, account);
  // Waterline's autoUpdatedAt / autoCreatedAt columns, kept as the model calls keep them.
  const stamped = (model: BenchModel, flag: 'autoCreatedAt' | 'autoUpdatedAt'): string[] =>
    Object.entries(model.attributes).filter(([, def]) => def[flag] === true).map(([name]) => col(model, name));
  const accountUpdated = stamped(account, 'autoUpdatedAt');
  const debit = `UPDATE ${names.account} SET ${[`${col(account, 'balance')} = ${col(account, 'balance')} - $2`, ...accountUpdated.map((c) => `${c} = $3`)].join(', ')} WHERE ${col(account, 'id')} = $1`;
  const credit = debit.replace(' - $2', ' + $2');
  const transferStamps = [...stamped(transfer, 'autoCreatedAt'), ...stamped(transfer, 'autoUpdatedAt')];
  const insertColumns = [...['id', 'from', 'to', 'amount', 'memo', 'status'].map((a) => col(transfer, a)), ...transferStamps];
  const insert = `INSERT INTO ${names.transfer} (${insertColumns.join(', ')}) VALUES (${insertColumns.map((_, i) => `$${i + 1}`).join(', ')})`;
  return async ({ from, to, amount, memo }) => {
    const client: PoolClient = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      try {
        const { rows } = await client.query<Row>(lock, [[from, to]]);
        const fromBalance = balanceOf(rows, from, 'id', 'balance');
        if (fromBalance - amount < 0) throw new InsufficientFunds(`${from} has ${fromBalance}`);
        const now = Date.now();
        await client.query(debit, accountUpdated.length > 0 ? [from, amount, now] : [from, amount]);
        await client.query(credit, accountUpdated.length > 0 ? [to, amount, now] : [to, amount]);
        await client.query(insert, [newId(), from, to, amount, memo, 'done', ...transferStamps.map(() => now)]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch((rollbackErr: unknown) => {
          broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
        });
        throw err;
      }
    } finally {
      client.release(broken);
    }
  };
}

function plainRunner(app: LoadedApp): Runner {
  const account = benchModel(app, 'account');
  const transfer = benchModel(app, 'transfer');
  return async ({ from, to, amount, memo }) => {
    const rows = await account.find({ id: { in: [from, to] } });
    const fromBalance = balanceOf(rows, from, 'id', 'balance');
    const toBalance = balanceOf(rows, to, 'id', 'balance');
    if (fromBalance - amount < 0) throw new InsufficientFunds(`${from} has ${fromBalance}`);
    await account.updateOne({ id: from }).set({ balance: fromBalance - amount });
    await account.updateOne({ id: to }).set({ balance: toBalance + amount });
    await transfer.create({ id: newId(), from, to, amount, memo });
  };
}

// ---------------------------------------------------------------------------------------------
// One cell: a way at a concurrency

interface CellResult {
  way: WayKey;
  concurrency: number;
  planned: number;
  attempted: number;
  committed: number;
  elapsedMs: number;
  txPerSec: number;
  p50: number;
  p99: number;
  errors: Map<string, number>;
  /** Sum of balances after minus before (0 when no money appeared or vanished). */
  sumDelta: number;
  /** Accounts whose balance is not start + committed credits − committed debits, with the difference. */
  offAccounts: number;
  offAbsCents: number;
  transferRows: number;
  moneyOk: boolean;
  stoppedAtDeadline: boolean;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))];
}

async function balances(account: BenchModel, ids: readonly string[]): Promise<Map<string, number>> {
  const rows = await account.find({ id: { in: [...ids] } });
  if (rows.length !== ids.length) throw new Error(`expected ${ids.length} accounts, found ${rows.length}`);
  return new Map(rows.map((row) => [String(row.id), Number(row.balance)]));
}

async function runCell(app: LoadedApp, way: WayKey, run: Runner, concurrency: number, n: number, runTag: string): Promise<CellResult> {
  const account = benchModel(app, 'account');
  const transfer = benchModel(app, 'transfer');
  // Fresh data: 10 new accounts (sorted, so index order is id order), the cell's own memo tag.
  const ids = Array.from({ length: ACCOUNTS }, () => newId()).sort();
  await account.createEach(ids.map((id, i) => ({ id, owner: `bench ${way} c=${concurrency} #${i}`, balance: START_BALANCE })));
  const memo = `bench:${runTag}:${way}:c${concurrency}`;
  const before = await balances(account, ids);
  const sumBefore = [...before.values()].reduce((a, b) => a + b, 0);

  const moves = plan(n, SEED * 1000 + concurrency); // the same moves for every way at this concurrency
  const expected = new Map(before);
  const errors = new Map<string, number>();
  const latencies: number[] = [];
  let next = 0;
  let stoppedAtDeadline = false;
  const started = performance.now();
  const deadline = started + CELL_DEADLINE_MS;
  const worker = async (): Promise<void> => {
    while (next < moves.length) {
      if (performance.now() > deadline) {
        stoppedAtDeadline = true;
        return;
      }
      const move = moves[next++];
      const from = ids[move.from];
      const to = ids[move.to];
      const t0 = performance.now();
      try {
        await run({ from, to, amount: move.amount, memo });
        latencies.push(performance.now() - t0);
        expected.set(from, (expected.get(from) ?? NaN) - move.amount);
        expected.set(to, (expected.get(to) ?? NaN) + move.amount);
      } catch (err) {
        const code = errorCode(err);
        errors.set(code, (errors.get(code) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedMs = performance.now() - started;

  const after = await balances(account, ids);
  const sumAfter = [...after.values()].reduce((a, b) => a + b, 0);
  let offAccounts = 0;
  let offAbsCents = 0;
  for (const id of ids) {
    const diff = (after.get(id) ?? NaN) - (expected.get(id) ?? NaN);
    if (diff !== 0) {
      offAccounts++;
      offAbsCents += Math.abs(diff);
    }
  }
  const transferRows = await transfer.count({ memo });
  const committed = latencies.length;
  latencies.sort((a, b) => a - b);
  return {
    way,
    concurrency,
    planned: n,
    attempted: Math.min(next, moves.length),
    committed,
    elapsedMs,
    txPerSec: (committed / elapsedMs) * 1000,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    errors,
    sumDelta: sumAfter - sumBefore,
    offAccounts,
    offAbsCents,
    transferRows,
    moneyOk: sumAfter === sumBefore && offAccounts === 0 && transferRows === committed,
    stoppedAtDeadline,
  };
}

// ---------------------------------------------------------------------------------------------
// Reporting

function fmt(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '–';
}

function cents(value: number): string {
  return `${Math.abs(value).toLocaleString('en-US')}¢`;
}

function moneyText(cell: CellResult): string {
  if (cell.moneyOk) return 'OK';
  const parts: string[] = [];
  if (cell.sumDelta < 0) parts.push(`${cents(cell.sumDelta)} lost`);
  else if (cell.sumDelta > 0) parts.push(`${cents(cell.sumDelta)} created`);
  else parts.push('sum OK');
  if (cell.offAccounts > 0) parts.push(`${cell.offAccounts}/${ACCOUNTS} accts ≠ committed (Σ|Δ| ${cents(cell.offAbsCents)})`);
  if (cell.transferRows !== cell.committed) parts.push(`${cell.transferRows} transfer rows for ${cell.committed} committed`);
  return `**${parts.join('; ')}**`;
}

function errorsText(cell: CellResult): string {
  const parts = [...cell.errors.entries()].sort((a, b) => b[1] - a[1]).map(([code, n]) => `${code} ×${n}`);
  if (cell.stoppedAtDeadline) parts.push(`deadline: ${cell.attempted}/${cell.planned} attempted`);
  return parts.length === 0 ? '–' : parts.join(', ');
}

function printAdapter(results: readonly CellResult[], ways: readonly Way[], concurrencies: readonly number[]): void {
  const cellOf = (way: WayKey, c: number): CellResult | undefined => results.find((r) => r.way === way && r.concurrency === c);
  const header = ['way', ...concurrencies.flatMap((c) => [`c=${c} tx/s`, `c=${c} p50/p99 ms`, `c=${c} money`])];
  console.log(`\n| ${header.join(' | ')} |`);
  console.log(`|---|${concurrencies.map(() => '---:|---:|---|').join('')}`);
  for (const way of ways) {
    const cells = concurrencies.flatMap((c) => {
      const cell = cellOf(way.key, c);
      if (cell === undefined) return ['–', '–', '–'];
      return [fmt(cell.txPerSec, 0), `${fmt(cell.p50, 1)} / ${fmt(cell.p99, 1)}`, moneyText(cell)];
    });
    console.log(`| ${way.title} | ${cells.join(' | ')} |`);
  }
  console.log('\ncommitted / planned, and errors by code:\n');
  console.log(`| way | ${concurrencies.map((c) => `c=${c}`).join(' | ')} |`);
  console.log(`|---|${concurrencies.map(() => '---|').join('')}`);
  for (const way of ways) {
    const cells = concurrencies.map((c) => {
      const cell = cellOf(way.key, c);
      return cell === undefined ? '–' : `${cell.committed}/${cell.planned} in ${fmt(cell.elapsedMs / 1000, 1)} s; errors: ${errorsText(cell)}`;
    });
    console.log(`| ${way.title} | ${cells.join(' | ')} |`);
  }
  const hook = (c: number): CellResult | undefined => cellOf('hook', c);
  const ratios: string[] = [];
  for (const [other, label] of [['wl-tx', 'hook / Waterline .transaction()'], ['native', 'hook / native SQL']] as const) {
    if (!concurrencies.some((c) => cellOf(other, c) !== undefined && hook(c) !== undefined)) continue;
    const values = concurrencies.map((c) => {
      const h = hook(c);
      const o = cellOf(other, c);
      return h === undefined || o === undefined ? '–' : `${fmt(h.txPerSec / o.txPerSec, 2)}×`;
    });
    ratios.push(`| ${label} | ${values.join(' | ')} |`);
  }
  if (ratios.length > 0) {
    console.log(`\nthroughput ratios (tx/s):\n\n| ratio | ${concurrencies.map((c) => `c=${c}`).join(' | ')} |`);
    console.log(`|---|${concurrencies.map(() => '---:|').join('')}`);
    for (const line of ratios) console.log(line);
  }
}

// ---------------------------------------------------------------------------------------------
// Per adapter

/** The real columns of the two tables, printed once so the native SQL can be checked against them. */
async function describeTables(pool: Pool, names: readonly string[]): Promise<string> {
  const { rows } = await pool.query<{ table_name: string; column_name: string; data_type: string }>(
    'SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_name = ANY($1::text[]) ORDER BY table_name, ordinal_position',
    [[...names]],
  );
  const byTable = new Map<string, string[]>();
  for (const row of rows) byTable.set(row.table_name, [...(byTable.get(row.table_name) ?? []), `${row.column_name} ${row.data_type}`]);
  return [...byTable.entries()].map(([table, columns]) => `${table}(${columns.join(', ')})`).join('; ');
}

async function benchAdapter(adapter: AdapterName, ways: readonly Way[], concurrencies: readonly number[], runTag: string): Promise<boolean> {
  console.log(`\n### ${adapter}\n`);
  const reason = unavailable(adapter);
  if (reason !== undefined) {
    console.log(`skipped: ${reason}`);
    return true;
  }
  const adapterWays = ways.filter((w) => w.adapters.includes(adapter));
  if (adapterWays.length === 0) {
    console.log('skipped: no selected way runs on this adapter');
    return true;
  }
  const results: CellResult[] = [];
  // One app, on a database of its own, per protocol the selected ways ask for.
  for (const protocol of [...new Set(adapterWays.map((w) => w.protocol))]) {
    let target: Target;
    try {
      target = await freshTarget(adapter);
    } catch (err) {
      console.log(`skipped: server unavailable: ${err instanceof Error ? err.message : String(err)}`);
      return true;
    }
    await benchApp(target, adapterWays.filter((w) => w.protocol === protocol), protocol, runTag, results);
  }
  printAdapter(results, adapterWays, concurrencies);
  const wrong = results.filter((r) => !r.moneyOk && WAYS.find((w) => w.key === r.way)?.transactional === true);
  if (wrong.length > 0) console.log(`\nMONEY WRONG on a transactional way: ${wrong.map((r) => `${r.way} c=${r.concurrency}`).join(', ')}`);
  return wrong.length === 0;

  async function benchApp(target: Target, appWays: readonly Way[], protocol: TransactConfig['protocol'], tag: string, into: CellResult[]): Promise<void> {
    const app = await loadApp(target, { migrate: 'drop', transact: { scheduler: false, protocol } });
    let pool: Pool | undefined;
    try {
      const runners = new Map<WayKey, Runner>();
      for (const way of appWays) {
        switch (way.key) {
          case 'hook':
          case 'hook-v2':
          case 'hook-v3':
            runners.set(way.key, hookRunner(app));
            break;
          case 'wl-tx':
            runners.set('wl-tx', waterlineTxRunner(app));
            break;
          case 'native': {
            const max = adapterPoolMax(benchDatastore(app));
            pool = new Pool({ connectionString: target.location, max });
            const account = benchModel(app, 'account');
            const transfer = benchModel(app, 'transfer');
            console.log(`native pool: max ${max} connections (as sails-postgresql's); tables: ${await describeTables(pool, [account.tableName, transfer.tableName])}\n`);
            runners.set('native', nativeRunner(app, pool));
            break;
          }
          case 'plain':
            runners.set('plain', plainRunner(app));
            break;
        }
      }
      for (const way of appWays) {
        const run = runners.get(way.key);
        if (run === undefined) continue;
        // Warm-up (JIT, pools, caches): a few sequential transfers on their own accounts, not reported.
        const warm = await runCell(app, way.key, run, 1, WARMUP, `${tag}-warmup`);
        if (warm.errors.size > 0 || !warm.moneyOk) console.log(`- ${way.key} warm-up: errors: ${errorsText(warm)}, money: ${moneyText(warm)}`);
        for (const c of concurrencies) {
          const n = transfersPerCell(adapter, c);
          const cell = await runCell(app, way.key, run, c, n, tag);
          into.push(cell);
          console.log(
            `- ${way.key} c=${c}: ${cell.committed}/${n} committed, ${fmt(cell.txPerSec, 0)} tx/s, p50 ${fmt(cell.p50)} ms, p99 ${fmt(cell.p99)} ms, ` +
              `errors: ${errorsText(cell)}, money: ${moneyText(cell)}`,
          );
        }
      }
    } finally {
      if (pool !== undefined) await pool.end().catch(() => undefined);
      await lowerApp(app).catch((err: unknown) => console.log(`(lowering the ${adapter} app failed: ${err instanceof Error ? err.message : String(err)})`));
    }
  }
}

async function main(): Promise<number> {
  const adapters = envList('BENCH_ADAPTERS') ?? ['disk', 'mongo', 'postgresql'];
  const wayKeys = envList('BENCH_WAYS');
  const ways = WAYS.filter((w) => wayKeys === undefined || wayKeys.includes(w.key));
  const concurrencies = (envList('BENCH_CONCURRENCY') ?? CONCURRENCIES.map(String)).map(Number);
  if (concurrencies.some((c) => !Number.isSafeInteger(c) || c < 1)) throw new Error('BENCH_CONCURRENCY must list positive integers');
  const runTag = newId();
  console.log(
    `# sails-hook-transact: 2-account transfers among ${ACCOUNTS} accounts ` +
      `(start ${START_BALANCE.toLocaleString('en-US')}¢ each, amounts 1..${MAX_AMOUNT}¢, seed ${SEED}, ` +
      `N per cell: ${envInt('BENCH_TRANSFERS') ?? '1000 at c=1, 2000 at c≥16'} (mongo ${envInt('BENCH_TRANSFERS_MONGO') ?? envInt('BENCH_TRANSFERS') ?? 200}), ` +
      `cell deadline ${CELL_DEADLINE_MS / 1000} s)`,
  );
  console.log('\ntx/s counts committed transfers; p50/p99 are over committed ones. money: OK when the sum of balances is unchanged, every ' +
    'balance equals start + committed credits − committed debits, and there is one Transfer row per committed transfer.');
  let ok = true;
  for (const adapter of ['disk', 'mongo', 'postgresql'] as const) {
    if (!adapters.includes(adapter)) continue;
    try {
      ok = (await benchAdapter(adapter, ways, concurrencies, runTag)) && ok;
    } catch (err) {
      ok = false;
      console.log(`\nfailed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }
  return ok ? 0 : 1;
}

runWithWatchdog(main, WATCHDOG_MS);
