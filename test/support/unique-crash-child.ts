/**
 * The owner the R9 crash suite (test/hook/redo/unique-crash.test.ts) kills or freezes: on log
 * protocol v3 it creates user u1 ('ada') by a plain create, then renames it to 'lovelace' in a
 * batch — an update that claims a new unique value (RecordStore.claimUnique) before its commit
 * point. TRANSACT_CRASH_AT ends it there (SIGKILL) or, with TRANSACT_CRASH_SIGNAL=SIGSTOP, freezes
 * it until the suite sends SIGCONT. Prints `SEEDED`, then `OUTCOME <json>` if it gets that far.
 */
import type { Engine } from '../../lib/engine';
import { isTransactError } from '../../lib/core/errors';
import { loadApp, lowerApp } from './app';
import type { AdapterName } from './targets';

const target = { adapter: process.env.TARGET_ADAPTER as AdapterName, location: process.env.TARGET_LOCATION as string };

async function main(): Promise<void> {
  // Short leases, so that the suite's recovery settles what this process leaves within the test.
  const app = await loadApp(target, { migrate: 'drop', transact: { protocol: 'redo', leaseMs: 1000, clockSkewMs: 100, instanceId: 'unique-owner' } });
  await app.models.user.create({ id: 'u1', username: 'ada', passwordHash: 'x', role: 'readonly' });
  console.log('SEEDED');
  const engine = app.hooks.transact.engine as Engine;
  const outcome = await engine.batch([{ op: 'update', model: 'user', id: 'u1', set: { username: 'lovelace' } }]).then(
    () => 'committed',
    (err: unknown) => (isTransactError(err) ? err.code : `other: ${err instanceof Error ? err.stack : String(err)}`),
  );
  console.log(`OUTCOME ${JSON.stringify(outcome)}`);
  await lowerApp(app);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
