/**
 * The process the crash suite kills. `run` seeds a fresh database and runs one scenario, with
 * TRANSACT_CRASH_AT making it SIGKILL itself at one protocol step; `recover` loads the app
 * (startup recovery runs), repeats recovery passes until nothing is left to settle, and prints
 * the resulting state. Output lines: `SEED <json>`, `DONE`, `STATE <json>`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Engine } from '../../lib/engine';
import { loadApp, lowerApp } from './app';
import { runScenario, type ScenarioName, seedAccounts, snapshot } from './scenario';
import type { AdapterName } from './targets';

const target = { adapter: process.env.TARGET_ADAPTER as AdapterName, location: process.env.TARGET_LOCATION as string };
/** Short leases so orphan locks expire within the test; a stable instance id so a restart recovers at once. */
const transact = { leaseMs: 1000, clockSkewMs: 100, instanceId: process.env.TRANSACT_INSTANCE || 'crash-child' };
/** 'safe' when the parent already created the schema and keeps it open. */
const migrate = process.env.CHILD_MIGRATE === 'safe' ? 'safe' : 'drop';

async function main(): Promise<void> {
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
  const app = await loadApp(target, { migrate: 'safe', transact });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const state = await snapshot(app);
    const unsettled = state.locks.length > 0 || state.logs.some((log) => log.state === 'pending' || log.state === 'rolling-back');
    if (!unsettled || Date.now() > deadline) break;
    await sleep(200);
    await app.hooks.transact.recover();
  }
  console.log(`STATE ${JSON.stringify(await snapshot(app))}`);
  await lowerApp(app);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
