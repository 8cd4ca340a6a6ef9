/**
 * The scratch datastore a drill or a restore test writes into, beside the configured one: made
 * (or, given with --into, found) empty, then prepared the way `npm run migrate` prepares one.
 */
import { ADAPTER_PACKAGES, freshAdapter, type ScratchDatastore, scratchDatastore, TransactError } from 'sails-hook-transact';
import { createDatabaseThrough, documentsIn, engineOf, loadPrepared, lowerApp, type ScriptApp } from './load-app';

export interface OpenScratch {
  scratch: ScratchDatastore;
  /** The app loaded on it, its schema prepared, nothing in it. */
  app: ScriptApp;
}

/**
 * `live` is the app on the configured datastore (its server makes the PostgreSQL database). An
 * existing database or directory is used only if none of the app's models holds a document
 * there, checked before its schema is touched, and its log is empty once prepared.
 */
export async function openScratch(live: ScriptApp, into: string | undefined, label: 'drill' | 'restore'): Promise<OpenScratch> {
  const scratch = await scratchDatastore(live.config.datastores.default, into, createDatabaseThrough(live), label);
  const where = `the scratch ${scratch.kind === 'disk' ? 'directory' : 'database'} ${scratch.location}`;
  const held = await documentsIn({ ...scratch.config, adapter: ADAPTER_PACKAGES[scratch.kind] });
  const models = Object.entries(held);
  if (models.length > 0) {
    throw new TransactError('target_not_empty', `${where} is not empty (${models.map(([model, n]) => `${model}: ${n}`).join(', ')}): it must be empty or not exist; give another --into, or drop it`, { path: models[0][0] });
  }
  const { app } = await loadPrepared({ datastores: { default: { ...scratch.config, adapter: freshAdapter(ADAPTER_PACKAGES[scratch.kind]) } }, transact: { instanceId: `${label}-scratch-${process.pid}` } });
  if ((await engineOf(app).findLogs({ where: {}, limit: 1 })).length > 0) {
    await lowerApp(app);
    throw new TransactError('target_not_empty', `${where} is not empty (its transaction log holds entries): give another --into, or drop it`, { path: 'transactlog' });
  }
  return { scratch, app };
}
