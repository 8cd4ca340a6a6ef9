/**
 * Log protocol v3's records need a datastore that applies a conditional update atomically per
 * document (docs/protocol-v3.md "What the datastore must guarantee"). FerretDB does not; the test
 * environment puts it behind scripts/mongo-atomic-gate.js, which does, and which says so in
 * buildInfo (`ferretdbGated__` in place of `ferretdbVersion`). On a FerretDB reached without the
 * gate (lib/store/index.ts recordStoreWarning) a test of concurrent transactions on v3 skips,
 * saying why, unless TRANSACT_RUN_KNOWN_GAPS=1.
 */
import { adapterKind, recordStoreWarning } from '../../lib/store';
import type { MongoDb } from '../../lib/store/mongo/store';
import type { LoadedApp } from './app';

function mongoOf(app: LoadedApp): MongoDb | null {
  const datastore = app.models.transactlog.getDatastore();
  return adapterKind(datastore.config.adapter) === 'mongo' ? (datastore.manager as MongoDb) : null;
}

export async function skipWhereRecordsUnsafe(test: Mocha.Context, app: LoadedApp): Promise<void> {
  if (process.env.TRANSACT_RUN_KNOWN_GAPS === '1') return;
  const reason = await recordStoreWarning(app.models.transactlog);
  if (reason === null) return;
  console.warn(`      skipped: ${reason}`);
  test.skip();
}

/** Whether the app's datastore is FerretDB, gated or not (its other differences from MongoDB: docs/protocol-v3.md). */
export async function isFerretDb(app: LoadedApp): Promise<boolean> {
  const db = mongoOf(app);
  if (db === null) return false;
  const info = (await db.command({ buildInfo: 1 })) as Record<string, unknown>;
  return typeof info.ferretdbVersion === 'string' || typeof info.ferretdbGated__ === 'string';
}
