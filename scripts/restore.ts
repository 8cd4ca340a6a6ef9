/**
 * DATASTORE=… npm run restore -- --in <file> [--allow-empty]
 * DATASTORE=… npm run restore -- --in <file> --verify [--into <database name | directory>] [--allow-empty]
 * Restores a backup (npm run backup) into the configured datastore, which must hold no document
 * (checked before anything is touched); a database never migrated is prepared as `npm run
 * migrate` does. With --verify (the restore test) it restores instead into a scratch datastore
 * beside the configured one (as a drill makes one; --into names it) and leaves the configured
 * one alone. Checks the whole file before writing anything: a corrupted or truncated file is
 * refused. Then runs the fund's reconciliation and compares the log with the file's. A backup
 * with no document and no log entry is no pass (unless --allow-empty).
 * Exit code: 0 restored, reconciled (and, with --verify, the log as the file's), 3 restored but
 * a check failed, 1 error or refusal (one line: refused files and non-empty targets included),
 * 2 bad arguments or no DATASTORE.
 */
import { join } from 'node:path';
import { protectScratch, restoreBackup, type ScratchDatastore, TransactError } from 'sails-hook-transact';
import { reconcile } from '../api/lib/reconciliation';
import { documentsIn, engineOf, loadModels, loadPrepared, lowerApp, messageOf, parseArgs, Refusal, requireConfiguredDatastore, runScript, type ScriptApp } from './lib/load-app';
import { openScratch } from './lib/scratch';

// dist/scripts → the repository (config/, api/; a relative --in is taken from there)
process.chdir(join(__dirname, '..', '..'));

/** The configured datastore, prepared, once it is known to hold no document (a table it lacks holds none). */
async function openConfigured(): Promise<ScriptApp> {
  const held = Object.entries(await documentsIn());
  if (held.length > 0) {
    throw new TransactError('target_not_empty', `the configured datastore is not empty (${held.map(([model, n]) => `${model}: ${n}`).join(', ')}): restore writes only into an empty datastore (or use --verify to restore into a scratch one)`, { path: held[0][0] });
  }
  return (await loadPrepared({ transact: { instanceId: `restore-${process.pid}` } })).app;
}

/** A scratch datastore beside the configured one, made through it (which need not be migrated). */
async function openVerifyScratch(into: string | undefined): Promise<{ app: ScriptApp; scratch: ScratchDatastore }> {
  const server = await loadModels();
  try {
    return await openScratch(server, into, 'restore');
  } finally {
    await lowerApp(server);
  }
}

async function main(): Promise<number> {
  let file: string;
  let into: string | undefined;
  let verify: boolean;
  let allowEmpty: boolean;
  try {
    requireConfiguredDatastore(process.env);
    const args = parseArgs(process.argv.slice(2), ['in', 'into'], ['verify', 'allow-empty']);
    if (args.in === undefined) throw new Error('--in <file> is required');
    verify = args.verify === 'true';
    if (args.into !== undefined && !verify) throw new Error('--into names the scratch datastore of --verify; without --verify restore writes into the configured datastore');
    file = args.in;
    into = args.into;
    allowEmpty = args['allow-empty'] === 'true';
  } catch (err) {
    console.error(`restore: ${messageOf(err)}`);
    return 2;
  }
  let scratch: ScratchDatastore | undefined;
  let app: ScriptApp;
  if (verify) {
    ({ app, scratch } = await openVerifyScratch(into));
    console.error(`restore: verifying ${file} in ${scratch.kind} ${scratch.location}`);
  } else {
    app = await openConfigured();
  }
  try {
    const summary = await restoreBackup(engineOf(app), file, { modelOf: (identity) => app.models[identity] });
    if (!allowEmpty && Object.values(summary.trailer.counts).every((n) => n === 0)) {
      throw new Refusal('the backup holds no documents and no log entries: restoring it proves nothing, which is no pass (was it taken of the right DATASTORE? --allow-empty to accept it)');
    }
    const check = await reconcile(app);
    const restored: Record<string, number> = {};
    for (const model of summary.header.models) restored[model] = await app.models[model].count({});
    restored.log = await engineOf(app).countLogs({});
    // Documents may differ from the file's counts (restore re-applies what committed while the
    // backup read them); the log is imported as it is.
    const logIntact = restored.log === summary.trailer.counts.log;
    const ok = check.ok && logIntact;
    console.log(JSON.stringify({ file, ...(scratch === undefined ? {} : { scratch: { kind: scratch.kind, location: scratch.location } }), ...summary, restored, reconciliation: { ok: check.ok, mismatches: check.mismatches.length }, ...(verify ? { verified: ok } : {}) }, null, 2));
    return ok ? 0 : 3;
  } finally {
    await lowerApp(app);
    if (scratch !== undefined) protectScratch(scratch);
  }
}

runScript('restore', main);
