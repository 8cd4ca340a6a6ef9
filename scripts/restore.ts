/**
 * npm run restore -- --in <file>
 * Restores a backup (npm run backup) into the configured datastore, which must be empty (run
 * `npm run migrate` first to create its tables). Checks the whole file before writing anything:
 * a corrupted or truncated file is refused. Then runs the fund's reconciliation.
 * Exit code: 0 restored and reconciled, 3 restored but reconciliation failed, 1 error (refused
 * files and non-empty targets included), 2 bad arguments.
 */
import { join } from 'node:path';
import { isTransactError, restoreBackup } from 'sails-hook-transact';
import { reconcile } from '../api/lib/reconciliation';
import { engineOf, loadApp, lowerApp, messageOf, parseArgs, runScript } from './lib/load-app';

// dist/scripts → the repository (config/, api/; a relative --in is taken from there)
process.chdir(join(__dirname, '..', '..'));

async function main(): Promise<number> {
  let file: string;
  try {
    const args = parseArgs(process.argv.slice(2), ['in']);
    if (args.in === undefined) throw new Error('--in <file> is required');
    file = args.in;
  } catch (err) {
    console.error(`restore: ${messageOf(err)}`);
    return 2;
  }
  const app = await loadApp({ transact: { instanceId: `restore-${process.pid}` } });
  try {
    const summary = await restoreBackup(engineOf(app), file, { modelOf: (identity) => app.models[identity] });
    const check = await reconcile(app);
    console.log(JSON.stringify({ file, ...summary, reconciliation: { ok: check.ok, mismatches: check.mismatches.length } }, null, 2));
    return check.ok ? 0 : 3;
  } catch (err) {
    if (isTransactError(err)) {
      console.error(`restore: refused (${err.code}${err.path ? ` at ${err.path}` : ''}): ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    await lowerApp(app);
  }
}

runScript('restore', main);
