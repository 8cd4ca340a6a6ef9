/**
 * npm run drill -- --at <ISO time> [--into <database name | directory>]
 * Rebuilds every transactional model as it was at that time, from the current documents and the
 * transaction log, into a scratch datastore (a new database on the same PostgreSQL/MongoDB
 * server, a new directory for sails-disk), runs the fund's reconciliation on it, and prints a
 * JSON report. The live datastore is only read. The scratch datastore is kept for inspection:
 * drop it when done. Exit code: 0 reconciled, 3 reconciliation failed, 1 error, 2 bad arguments.
 * (README: Drills and backups.)
 */
process.chdir(`${__dirname}/..`);
const { loadApp, lowerApp, parseArgs, runScript } = require('./lib/load-app');

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2), ['at', 'into']);
    if (args.at === undefined) throw new Error('--at <ISO time> is required, e.g. --at 2026-11-26T09:00:00Z');
    if (!/^\d{4}-\d\d-\d\dT/.test(args.at) || Number.isNaN(Date.parse(args.at))) throw new Error(`--at ${args.at}: not an ISO time`);
  } catch (err) {
    console.error(`drill: ${err.message}`);
    return 2;
  }
  const at = Date.parse(args.at);
  const transact = require('sails-hook-transact');
  const live = await loadApp({ transact: { instanceId: `drill-${process.pid}` } });
  let scratchApp;
  try {
    const scratch = await transact.scratchDatastore(live.config.datastores.default, args.into, async (name) => {
      await live.models.transactlog.getDatastore().manager.pool.query(`CREATE DATABASE "${name}"`).catch((err) => {
        throw err.code === '42P04' ? new Error(`the scratch database "${name}" already exists: give another --into, or drop it`) : err;
      });
    });
    console.error(`drill: rebuilding ${new Date(at).toISOString()} into ${scratch.kind} ${scratch.location}`);
    // The scratch schema is created here (never the live one's): Waterline refuses that under NODE_ENV=production.
    const env = process.env.NODE_ENV;
    process.env.NODE_ENV = 'drill';
    try {
      scratchApp = await loadApp({ environment: 'drill', datastores: { default: scratch.config }, models: { migrate: 'alter' }, transact: { instanceId: `drill-scratch-${process.pid}` } });
    } finally {
      process.env.NODE_ENV = env;
    }
    const report = await transact.rebuildAt(live.hooks.transact.engine, {
      at,
      models: transact.transactionalModels(live.models),
      target: (identity) => scratchApp.models[identity],
    });
    // The fund's part: its reconciliation, on the rebuilt state.
    const { reconcile } = require('../dist/api/lib/reconciliation');
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
