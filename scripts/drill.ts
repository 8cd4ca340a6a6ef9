/**
 * DATASTORE=… npm run drill -- --at <ISO time> [--into <database name | directory>] [--allow-empty]
 * Rebuilds every transactional model as it was at that time, from the current documents and the
 * transaction log, into a scratch datastore (a new database on the same PostgreSQL/MongoDB
 * server, a new directory for sails-disk; or --into one that exists and is empty), runs the fund's
 * reconciliation on it, and prints a JSON report. The live datastore is only read. The scratch
 * datastore is kept for inspection: drop it when done. A datastore with no document and no log
 * is no pass (unless --allow-empty). Exit code: 0 reconciled, 3 reconciliation failed, 1 error or
 * refusal (one line), 2 bad arguments or no DATASTORE. (docs/operations.md: Drills and backups.)
 */
import { join } from 'node:path';
import { protectScratch, rebuildAt, transactionalModels } from 'sails-hook-transact';
import { reconcile } from '../api/lib/reconciliation';
import { engineOf, isEmptySource, loadApp, lowerApp, messageOf, parseArgs, Refusal, requireConfiguredDatastore, runScript, type ScriptApp } from './lib/load-app';
import { openScratch } from './lib/scratch';

// dist/scripts → the repository (config/, api/; a relative --into is taken from there)
process.chdir(join(__dirname, '..', '..'));

async function main(): Promise<number> {
  let at: number;
  let into: string | undefined;
  let allowEmpty: boolean;
  try {
    requireConfiguredDatastore(process.env);
    const args = parseArgs(process.argv.slice(2), ['at', 'into'], ['allow-empty']);
    if (args.at === undefined) throw new Error('--at <ISO time> is required, e.g. --at 2026-11-26T09:00:00Z');
    if (!/^\d{4}-\d\d-\d\dT/.test(args.at) || Number.isNaN(Date.parse(args.at))) throw new Error(`--at ${args.at}: not an ISO time`);
    at = Date.parse(args.at);
    into = args.into;
    allowEmpty = args['allow-empty'] === 'true';
  } catch (err) {
    console.error(`drill: ${messageOf(err)}`);
    return 2;
  }
  const live = await loadApp({ transact: { instanceId: `drill-${process.pid}` } });
  let scratchApp: ScriptApp | undefined;
  try {
    if (!allowEmpty && (await isEmptySource(live))) {
      throw new Refusal('the configured datastore holds no documents and no transaction log: nothing to drill, which is no pass (check DATASTORE and its URL; --allow-empty to drill it anyway)');
    }
    const opened = await openScratch(live, into, 'drill');
    const { scratch } = opened;
    scratchApp = opened.app;
    console.error(`drill: rebuilding ${new Date(at).toISOString()} into ${scratch.kind} ${scratch.location}`);
    const target = scratchApp;
    const report = await rebuildAt(engineOf(live), {
      at,
      models: transactionalModels(live.models),
      target: (identity) => target.models[identity],
    });
    // The fund's part: its reconciliation, on the rebuilt state.
    const check = await reconcile(scratchApp);
    await lowerApp(scratchApp);
    scratchApp = undefined;
    protectScratch(scratch);
    const reconciliation = { ok: check.ok, mismatches: check.mismatches.length, firstMismatches: check.mismatches.slice(0, 20) };
    console.log(JSON.stringify({ scratch: { kind: scratch.kind, location: scratch.location }, ...report, reconciliation }, null, 2));
    return check.ok ? 0 : 3;
  } finally {
    if (scratchApp !== undefined) await lowerApp(scratchApp);
    await lowerApp(live);
  }
}

runScript('drill', main);
