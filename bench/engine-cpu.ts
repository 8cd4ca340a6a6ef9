/**
 * The engine's own CPU per transfer, where the datastore costs nothing: the real Engine (log
 * protocol v2, and v3 over SimulatedRecords) on the simulation's in-memory store, every call
 * applied at once (test/sim/database.ts directTransport). Against it, Waterline's own cost per
 * call on the demo app over sails-disk (a findOne and an update of one account): what every
 * round trip the engine makes through Waterline adds on top.
 *
 *   npm run bench:cpu        (builds, then runs dist/bench/engine-cpu.js)
 *   BENCH_CPU_TRANSFERS=5000 npm run bench:cpu
 *
 * Sequential transfers (c = 1), so CPU time is the engine's alone. Prints markdown; writes no files.
 */
import { cpuUsage } from 'node:process';
import { Engine } from '../lib/engine';
import { LOG_IDENTITY } from '../lib/models/hook-models';
import { type LoadedApp, loadApp, lowerApp } from '../test/support/app';
import { ENGINE_OPTIONS, MODELS } from '../test/sim/cluster';
import { directTransport, SimDatabase } from '../test/sim/database';
import { SimulatedRecords } from '../test/sim/simulated-records';
import { SIMULATED_STORE_LAYOUT, SimulatedStore } from '../test/sim/simulated-store';
import { SimModel } from '../test/sim/waterline-models';
import { freshTarget } from '../test/support/targets';
import { runWithWatchdog } from './common';

const TRANSFERS = Number(process.env.BENCH_CPU_TRANSFERS ?? 3000);
const WARMUP = 200;
const ACCOUNTS = 10;

/** CPU microseconds (user + system) that `work` takes, per iteration. */
async function cpuPer(iterations: number, work: (i: number) => Promise<void>): Promise<number> {
  const start = cpuUsage();
  for (let i = 0; i < iterations; i++) await work(i);
  const used = cpuUsage(start);
  return (used.user + used.system) / iterations;
}

async function engineCpu(protocol: 'v2' | 'v3'): Promise<number> {
  const db = new SimDatabase();
  const models = new Map(MODELS.map((definition) => [definition.identity, new SimModel(definition, db, directTransport, SIMULATED_STORE_LAYOUT)]));
  const modelOf = (identity: string): SimModel | undefined => models.get(identity);
  const store = new SimulatedStore(db, (identity) => models.get(identity) as SimModel, directTransport, () => Date.now());
  const records = protocol === 'v3' ? new SimulatedRecords(db, directTransport) : undefined;
  const engine = new Engine(store, modelOf, { ...ENGINE_OPTIONS, leaseMs: 60_000, lockTimeoutMs: 10_000, instanceId: `cpu-${protocol}` }, () => undefined, undefined, () => [...models.keys()], records);
  await engine.start();
  for (let i = 0; i < ACCOUNTS; i++) await (models.get('account') as SimModel).create({ id: `acct-${i}`, balance: 1_000_000 });
  const transfer = async (i: number): Promise<void> => {
    const from = `acct-${i % ACCOUNTS}`;
    const to = `acct-${(i + 1 + (i % 7)) % ACCOUNTS}`;
    await engine.batch([
      { op: 'increment', model: 'account', id: from, field: 'balance', by: -1, min: 0 },
      { op: 'increment', model: 'account', id: to, field: 'balance', by: 1 },
      { op: 'create', model: 'transfer', values: { from, to, amount: 1 } },
    ]);
  };
  await cpuPer(WARMUP, transfer);
  // The simulated tables are scanned by some of their queries: emptied of what the transfers add
  // (their Transfer rows and logs) every chunk, untimed, so that the datastore stays as cheap as nothing.
  const chunk = 100;
  let total = 0;
  for (let done = 0; done < TRANSFERS; done += chunk) {
    db.table((models.get('transfer') as SimModel).tableName).clear();
    db.table(LOG_IDENTITY).clear();
    total += (await cpuPer(chunk, (i) => transfer(WARMUP + done + i))) * chunk;
  }
  return total / Math.ceil(TRANSFERS / chunk) / chunk;
}

async function waterlineCpu(): Promise<{ findOne: number; update: number }> {
  const app: LoadedApp = await loadApp(await freshTarget('disk'), { migrate: 'drop', transact: { scheduler: false } });
  try {
    const Account = app.models.account as unknown as { create(v: object): PromiseLike<unknown>; findOne(c: object): PromiseLike<unknown>; updateOne(c: object): { set(v: object): PromiseLike<unknown> } };
    await Account.create({ id: 'cpu-1', owner: 'cpu', currency: 'EUR', balance: 0 });
    const calls = TRANSFERS;
    await cpuPer(WARMUP, async () => void (await Account.findOne({ id: 'cpu-1' })));
    const findOne = await cpuPer(calls, async () => void (await Account.findOne({ id: 'cpu-1' })));
    const update = await cpuPer(calls, async (i) => void (await Account.updateOne({ id: 'cpu-1' }).set({ balance: i })));
    return { findOne, update };
  } finally {
    await lowerApp(app);
  }
}

async function main(): Promise<number> {
  console.log(`# Engine CPU per 2-account transfer (simulated store, nothing on the wire), ${TRANSFERS} sequential transfers after ${WARMUP} warm-up\n`);
  const v2 = await engineCpu('v2');
  const v3 = await engineCpu('v3');
  const waterline = await waterlineCpu();
  console.log('| measured | CPU µs |');
  console.log('|---|---:|');
  console.log(`| engine, log protocol v2, per transfer | ${v2.toFixed(0)} |`);
  console.log(`| engine, log protocol v3, per transfer | ${v3.toFixed(0)} |`);
  console.log(`| Waterline on sails-disk: one \`findOne\` by id | ${waterline.findOne.toFixed(0)} |`);
  console.log(`| Waterline on sails-disk: one \`updateOne\` by id | ${waterline.update.toFixed(0)} |`);
  return 0;
}

runWithWatchdog(main, 10 * 60_000);
