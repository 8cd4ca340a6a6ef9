/**
 * The process the crash suite kills. `run` seeds a fresh database and runs one scenario, with
 * TRANSACT_CRASH_AT making it SIGKILL itself at one protocol step; `recover` loads the app
 * (startup recovery runs), repeats recovery passes until nothing is left to settle, and prints
 * the resulting state; `load <n>` is one of several instances running random transfers.
 * Output lines: `SEED <json>`, `DONE`, `STATE <json>`, `LOADED <json>`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Engine } from '../../lib/engine';
import { isTransactError } from '../../lib/core/errors';
import { type LoadedApp, loadApp, lowerApp } from './app';
import { fundLib, seedInvestor, seedLoans } from './fund';
import { LOAD_ACCOUNTS, lateIds, runTransfers, transferOperations } from './load';
import { runScenario, type ScenarioName, seedAccounts, snapshot } from './scenario';
import type { AdapterName } from './targets';

const target = { adapter: process.env.TARGET_ADAPTER as AdapterName, location: process.env.TARGET_LOCATION as string };
/**
 * Short leases so orphan locks expire within the test (CHILD_LEASE_MS where a suite's load needs
 * longer ones); a stable instance id so a restart recovers at once.
 */
const transact = {
  leaseMs: Number(process.env.CHILD_LEASE_MS || 1000),
  clockSkewMs: 100,
  instanceId: process.env.TRANSACT_INSTANCE || 'crash-child',
  // The suites run PostgreSQL on both paths: its native transactions (the default) and the log protocol.
  protocol: protocolOf(process.env.TRANSACT_PROTOCOL),
};

function protocolOf(name: string | undefined): 'auto' | 'log' | 'redo' {
  return name === 'log' || name === 'redo' ? name : 'auto';
}

// An instance whose wall clock is off (the clock-skew fault): every reading of it, the hook's included.
const skewMs = Number(process.env.TRANSACT_TEST_CLOCK_SKEW_MS || 0);
if (skewMs !== 0) {
  const realNow = Date.now.bind(Date);
  Date.now = () => realNow() + skewMs;
}

/** How a transaction of the fault suite ended, as one word. */
function outcomeOf(run: Promise<unknown>): Promise<string> {
  return run.then(
    () => 'committed',
    (err: unknown) => (isTransactError(err) ? err.code : `other: ${err instanceof Error ? err.stack : String(err)}`),
  );
}
/** 'safe' when the parent already created the schema and keeps it open. */
const migrate = process.env.CHILD_MIGRATE === 'safe' ? 'safe' : 'drop';

async function main(): Promise<void | 'stay'> {
  const mode = process.argv[2];
  if (mode === 'run') {
    const app = await loadApp(target, { migrate, transact });
    await seedAccounts(app);
    console.log(`SEED ${JSON.stringify((await snapshot(app)).accounts)}`);
    await runScenario(app.hooks.transact.engine as Engine, process.argv[3] as ScenarioName);
    console.log('DONE');
    await lowerApp(app);
    return;
  }
  if (mode === 'lift-and-lower') {
    // The scheduler runs a job every 20 ms; after lower, nothing may keep the process alive.
    const scheduler = process.env.TRANSACT_SCHEDULER !== 'off';
    const app = await loadApp(target, { migrate: 'safe', transact: { ...transact, scheduler, recoveryIntervalMs: 20, jobs: { tick: { intervalMs: 20, run: async () => 'tick' } } } });
    await sleep(200);
    // The app's own jobs (config/transact.js: dropped-orders, every minute) are not what this mode is about.
    const jobs = app.hooks.transact.scheduler?.status().filter((job) => job.name === 'recovery' || job.name === 'tick');
    console.log(`RUNS ${JSON.stringify(jobs?.map((job) => [job.name, job.runs > 0]))}`);
    await lowerApp(app);
    return 'stay';
  }
  if (mode === 'repeat') {
    // The same scenario again, after a crash and a recovery: with its idempotency key it must not run.
    const app = await loadApp(target, { migrate: 'safe', transact });
    const outcome = await runScenario(app.hooks.transact.engine as Engine, process.argv[3] as ScenarioName).then(
      () => 'committed',
      (err: unknown) => (err as { code?: string }).code ?? String(err),
    );
    console.log(`OUTCOME ${JSON.stringify(outcome)}`);
    console.log(`STATE ${JSON.stringify(await snapshot(app))}`);
    await lowerApp(app);
    return;
  }
  if (mode === 'gateway-callback') {
    // A gateway order whose callback is handled here: TRANSACT_CRASH_AT kills the process inside the settlement.
    const app = await loadApp(target, { migrate, transact });
    const lib = fundLib as unknown as {
      placeOrder(app: LoadedApp, input: object): Promise<{ order: { id: string; paymentId: string } }>;
      handleCallback(app: LoadedApp, body: object): Promise<unknown>;
    };
    const investor = await seedInvestor(app, 'Alice', 0);
    await seedLoans(app, 1, [{ target: 5000 }, { target: 5000 }]);
    const amount = 3000;
    const placed = await lib.placeOrder(app, { investor, amount, maxPerLoan: null, funding: 'gateway' });
    console.log(`ORDER ${JSON.stringify({ investor, orderId: placed.order.id, paymentId: placed.order.paymentId, amount })}`);
    await lib.handleCallback(app, { paymentId: placed.order.paymentId, status: 'succeeded', amount });
    console.log('SETTLED');
    await lowerApp(app);
    return;
  }
  if (mode === 'dropped-orders') {
    // One app instance (HTTP lifted: the job uses the app's sails global) running the dropped-orders job once, at START_AT.
    const app = await loadApp(target, { migrate, transact, http: true });
    const startAt = Number(process.env.START_AT || 0);
    if (startAt > Date.now()) await sleep(startAt - Date.now());
    const summary = await app.hooks.transact.scheduler?.runNow('dropped-orders');
    console.log(`SUMMARY ${JSON.stringify(summary)}`);
    await lowerApp(app);
    return;
  }
  if (mode === 'fault-batch') {
    // One debit and nine credits over the load accounts (label 'load', checked against the log);
    // the fault suite freezes or delays this process in the middle of its writes.
    const app = await loadApp(target, { migrate: 'safe', transact });
    const engine = app.hooks.transact.engine as Engine;
    const [from, ...to] = LOAD_ACCOUNTS;
    const each = Number(process.argv[3] || 7);
    const operations = [
      { op: 'increment', model: 'account', id: from, field: 'balance', by: -to.length * each, min: 0 },
      ...to.map((id) => ({ op: 'increment', model: 'account', id, field: 'balance', by: each })),
    ];
    console.log(`OUTCOME ${JSON.stringify(await outcomeOf(engine.batch(operations, { label: 'load' })))}`);
    await lowerApp(app);
    return;
  }
  if (mode === 'create-batch') {
    // One debit and N creates of transfers with the given ids (argv: N, key or '-'): the late-write
    // suite stalls this process's network while the batch is on its way to the datastore.
    const app = await loadApp(target, { migrate: 'safe', transact });
    const engine = app.hooks.transact.engine as Engine;
    const count = Number(process.argv[3]);
    const key = process.argv[4];
    const operations = [
      { op: 'increment', model: 'account', id: LOAD_ACCOUNTS[0], field: 'balance', by: -count, min: 0 },
      ...lateIds(count).map((id) => ({ op: 'create', model: 'transfer', id, values: { from: LOAD_ACCOUNTS[0], to: LOAD_ACCOUNTS[1], amount: 1 } })),
    ];
    console.log(`OUTCOME ${JSON.stringify(await outcomeOf(engine.batch(operations, { label: 'late', ...(key === '-' ? {} : { idempotencyKey: key }) })))}`);
    await lowerApp(app);
    return;
  }
  if (mode === 'keyed-transfer') {
    // A keyed transfer between the first two load accounts (argv: key, amount); the keyed-outcomes
    // suite freezes it at its commit. Prints what its caller was told: the outcome and the steps.
    const app = await loadApp(target, { migrate: 'safe', transact });
    const engine = app.hooks.transact.engine as Engine;
    const run = engine.batch(transferOperations(LOAD_ACCOUNTS[0], LOAD_ACCOUNTS[1], Number(process.argv[4])), { label: 'load', idempotencyKey: process.argv[3] });
    console.log(`OUTCOME ${JSON.stringify(await outcomeOf(run))}`);
    console.log(`STEPS ${JSON.stringify(await run.then((result) => result.steps, () => null))}`);
    await lowerApp(app);
    return;
  }
  if (mode === 'slow-transfer') {
    // An interactive transfer that takes its time between the debit and the credit.
    const app = await loadApp(target, { migrate: 'safe', transact });
    const engine = app.hooks.transact.engine as Engine;
    const pauseMs = Number(process.argv[3] || 2000);
    const run = engine.interactive(async (tx) => {
      await tx.increment('account', LOAD_ACCOUNTS[0], 'balance', -5, { min: 0 });
      await sleep(pauseMs);
      await tx.increment('account', LOAD_ACCOUNTS[1], 'balance', 5);
    }, { label: 'load' });
    console.log(`OUTCOME ${JSON.stringify(await outcomeOf(run))}`);
    await lowerApp(app);
    return;
  }
  if (mode === 'load') {
    // One of several instances sharing the database: random transfers, then recovery on its timer.
    const app = await loadApp(target, { migrate: 'safe', transact: { ...transact, recoveryIntervalMs: 200 } });
    const outcome = await runTransfers(app.hooks.transact.engine as Engine, Number(process.argv[3]), 4);
    console.log(`LOADED ${JSON.stringify(outcome)}`);
    await settle(app);
    console.log('DONE');
    await lowerApp(app);
    return;
  }
  const app = await loadApp(target, { migrate: 'safe', transact });
  await settle(app);
  console.log(`STATE ${JSON.stringify(await snapshot(app))}`);
  await lowerApp(app);
}

/** Recovery passes until no transaction is active and no lock is left (bounded). */
async function settle(app: LoadedApp): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const state = await snapshot(app);
    const unsettled = state.locks.length > 0 || state.logs.some((log) => log.state === 'pending' || log.state === 'rolling-back');
    if (!unsettled || Date.now() > deadline) break;
    await sleep(200);
    await app.hooks.transact.recover();
  }
}

main().then(
  // 'stay': end by itself, proving that nothing (timer, socket) is left running.
  (outcome) => (outcome === 'stay' ? undefined : process.exit(0)),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
