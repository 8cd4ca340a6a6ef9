/**
 * Log protocol v3's records need a datastore that applies a conditional update atomically per
 * document (docs/protocol-v3.md "What the datastore must guarantee"). FerretDB, CI's MongoDB here,
 * does not (lib/store/mongo/records.ts recordsUnsafeOn): a test of concurrent transactions on v3
 * skips there, saying why, unless TRANSACT_RUN_KNOWN_GAPS=1. The simulation runs v3's rules under
 * every interleaving instead.
 */
import { adapterKind } from '../../lib/store';
import type { MongoDb } from '../../lib/store/mongo/store';
import { recordsUnsafeOn } from '../../lib/store/mongo/records';
import type { LoadedApp } from './app';

/** Why the app's datastore cannot hold v3's records safely (FerretDB), or null. */
async function recordsUnsafe(app: LoadedApp): Promise<string | null> {
  const datastore = app.models.transactlog.getDatastore();
  return adapterKind(datastore.config.adapter) === 'mongo' ? recordsUnsafeOn(datastore.manager as MongoDb) : null;
}

export async function skipWhereRecordsUnsafe(test: Mocha.Context, app: LoadedApp): Promise<void> {
  if (process.env.TRANSACT_RUN_KNOWN_GAPS === '1') return;
  const reason = await recordsUnsafe(app);
  if (reason === null) return;
  console.warn(`      skipped: ${reason}`);
  test.skip();
}

/** Whether the app's datastore is FerretDB (its other differences from MongoDB: docs/protocol-v3.md). */
export async function isFerretDb(app: LoadedApp): Promise<boolean> {
  return (await recordsUnsafe(app)) !== null;
}
