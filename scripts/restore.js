/**
 * npm run restore -- --in <file>
 * Restores a backup (npm run backup) into the configured datastore, which must be empty (run
 * `npm run migrate` first to create its tables). Checks the whole file before writing anything:
 * a corrupted or truncated file is refused. Then runs the fund's reconciliation.
 * Exit code: 0 restored and reconciled, 3 restored but reconciliation failed, 1 error (refused
 * files and non-empty targets included), 2 bad arguments.
 */
process.chdir(`${__dirname}/..`);
const { loadApp, lowerApp, parseArgs, runScript } = require('./lib/load-app');

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2), ['in']);
    if (args.in === undefined) throw new Error('--in <file> is required');
  } catch (err) {
    console.error(`restore: ${err.message}`);
    return 2;
  }
  const transact = require('sails-hook-transact');
  const app = await loadApp({ transact: { instanceId: `restore-${process.pid}` } });
  try {
    const summary = await transact.restoreBackup(app.hooks.transact.engine, args.in, { modelOf: (identity) => app.models[identity] });
    const { reconcile } = require('../dist/api/lib/reconciliation');
    const check = await reconcile(app);
    console.log(JSON.stringify({ file: args.in, ...summary, reconciliation: { ok: check.ok, mismatches: check.mismatches.length } }, null, 2));
    return check.ok ? 0 : 3;
  } catch (err) {
    if (transact.isTransactError(err)) {
      console.error(`restore: refused (${err.code}${err.path ? ` at ${err.path}` : ''}): ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    await lowerApp(app);
  }
}

runScript('restore', main);
