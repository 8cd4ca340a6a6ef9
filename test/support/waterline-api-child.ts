/**
 * The process the Waterline-API crash case kills: `run` seeds two accounts and makes one transfer
 * with `datastore.transaction()` + `.usingConnection(db)`, TRANSACT_CRASH_AT making it SIGKILL
 * itself at one protocol step; `recover` loads the app (startup recovery runs), repeats recovery
 * passes until nothing is left to settle, and prints the state.
 * Output lines: `SEED <json>`, `DONE`, `STATE <json>`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type LoadedApp, loadApp, lowerApp } from './app';
import type { AdapterName } from './targets';
import { ACCOUNTS, modelOf, type Row, TRANSFER_ID, waterlineTransfer } from './waterline-api';

const target = { adapter: process.env.TARGET_ADAPTER as AdapterName, location: process.env.TARGET_LOCATION as string };
/** Short leases; a stable instance id, so that the restart recovers the dead transaction at once. */
const transact = {
  leaseMs: 1000,
  clockSkewMs: 100,
  instanceId: 'waterline-api-child',
  protocol: process.env.TRANSACT_PROTOCOL === 'log' ? ('log' as const) : ('auto' as const),
  waterlineTransactions: 'engine' as const,
};

async function state(app: LoadedApp): Promise<Record<string, Row[]>> {
  const sorted = async (identity: string): Promise<Row[]> => (await modelOf(app, identity).find({})).sort((x, y) => String(x.id).localeCompare(String(y.id)));
  return { accounts: await sorted('account'), transfers: await sorted('transfer'), logs: await sorted('transactlog'), locks: await sorted('transactlock') };
}

async function main(): Promise<void> {
  if (process.argv[2] === 'run') {
    const app = await loadApp(target, { migrate: 'drop', transact });
    const account = modelOf(app, 'account');
    await account.create({ id: ACCOUNTS.a, owner: 'Alice', balance: 1000, meta: { tier: 'gold' } });
    await account.create({ id: ACCOUNTS.b, owner: 'Bob', balance: 500 });
    console.log(`SEED ${JSON.stringify((await state(app)).accounts)}`);
    await waterlineTransfer(app, ACCOUNTS.a, ACCOUNTS.b, 300, TRANSFER_ID);
    console.log('DONE');
    await lowerApp(app);
    return;
  }
  const app = await loadApp(target, { migrate: 'safe', transact });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const current = await state(app);
    const unsettled = current.locks.length > 0 || current.logs.some((log) => log.state === 'pending' || log.state === 'rolling-back');
    if (!unsettled || Date.now() > deadline) break;
    await sleep(200);
    await app.hooks.transact.recover();
  }
  console.log(`STATE ${JSON.stringify(await state(app))}`);
  await lowerApp(app);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
