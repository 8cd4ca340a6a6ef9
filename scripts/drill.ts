/**
 * npm run drill -- --at <ISO time> [--into <database name | directory>]
 * Rebuilds every transactional model as it was at that time, from the current documents and the
 * transaction log, into a scratch datastore (a new database on the same PostgreSQL/MongoDB
 * server, a new directory for sails-disk), runs the fund's reconciliation on it, and prints a
 * JSON report. The live datastore is only read. The scratch datastore is kept for inspection:
 * drop it when done. Exit code: 0 reconciled, 3 reconciliation failed, 1 error, 2 bad arguments.
 * (README: Drills and backups.)
 */
import { join } from 'node:path';
import type { Pool } from 'pg';
import { rebuildAt, type SailsApp, scratchDatastore, transactionalModels } from 'sails-hook-transact';
import { reconcile } from '../api/lib/reconciliation';
import { engineOf, loadApp, lowerApp, messageOf, parseArgs, runScript, type ScriptApp } from './lib/load-app';

// dist/scripts → the repository (config/, api/; a relative --into is taken from there)
process.chdir(join(__dirname, '..', '..'));

/** PostgreSQL's "duplicate_database". */
function isDuplicateDatabase(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '42P04';
}

async function main(): Promise<number> {
  let at: number;
  let into: string | undefined;
  try {
    const args = parseArgs(process.argv.slice(2), ['at', 'into']);
    if (args.at === undefined) throw new Error('--at <ISO time> is required, e.g. --at 2026-11-26T09:00:00Z');
    if (!/^\d{4}-\d\d-\d\dT/.test(args.at) || Number.isNaN(Date.parse(args.at))) throw new Error(`--at ${args.at}: not an ISO time`);
    at = Date.parse(args.at);
    into = args.into;
  } catch (err) {
    console.error(`drill: ${messageOf(err)}`);
    return 2;
  }
  const live = await loadApp({ transact: { instanceId: `drill-${process.pid}` } });
  let scratchApp: ScriptApp | undefined;
  try {
    const scratch = await scratchDatastore(live.config.datastores.default, into, async (name) => {
      // Called on PostgreSQL only: sails-postgresql's manager is `{pool}`.
      const models: SailsApp['models'] = live.models;
      const { pool } = models.transactlog.getDatastore().manager as { pool: Pool };
      await pool.query(`CREATE DATABASE "${name}"`).catch((err: unknown) => {
        throw isDuplicateDatabase(err) ? new Error(`the scratch database "${name}" already exists: give another --into, or drop it`) : err;
      });
    });
    console.error(`drill: rebuilding ${new Date(at).toISOString()} into ${scratch.kind} ${scratch.location}`);
    // The scratch schema is created here (never the live one's): Waterline refuses that under NODE_ENV=production.
    const env = process.env.NODE_ENV;
    process.env.NODE_ENV = 'drill';
    try {
      scratchApp = await loadApp({ environment: 'drill', datastores: { default: scratch.config }, models: { migrate: 'alter' }, transact: { instanceId: `drill-scratch-${process.pid}` } });
    } finally {
      if (env === undefined) delete process.env.NODE_ENV;
      else process.env.NODE_ENV = env;
    }
    const target = scratchApp;
    const report = await rebuildAt(engineOf(live), {
      at,
      models: transactionalModels(live.models),
      target: (identity) => target.models[identity],
    });
    // The fund's part: its reconciliation, on the rebuilt state.
    const check = await reconcile(scratchApp);
    const reconciliation = { ok: check.ok, mismatches: check.mismatches.length, firstMismatches: check.mismatches.slice(0, 20) };
    console.log(JSON.stringify({ scratch: { kind: scratch.kind, location: scratch.location }, ...report, reconciliation }, null, 2));
    return check.ok ? 0 : 3;
  } finally {
    if (scratchApp !== undefined) await lowerApp(scratchApp);
    await lowerApp(live);
  }
}

runScript('drill', main);
