/**
 * npm run backup -- --out <file>
 * Writes the transactional models' committed documents and the transaction log to <file> as
 * streamed, checksummed NDJSON (the file must not exist; it is written to <file>.partial and
 * renamed when complete). Runs while the app serves: see README "Drills and backups".
 */
process.chdir(`${__dirname}/..`);
const { createWriteStream, existsSync, renameSync, rmSync } = require('node:fs');
const { loadApp, lowerApp, parseArgs, runScript } = require('./lib/load-app');

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2), ['out']);
    if (args.out === undefined) throw new Error('--out <file> is required');
    if (existsSync(args.out)) throw new Error(`${args.out} exists: a backup never overwrites a file`);
  } catch (err) {
    console.error(`backup: ${err.message}`);
    return 2;
  }
  const transact = require('sails-hook-transact');
  const app = await loadApp({ transact: { instanceId: `backup-${process.pid}` } });
  const partial = `${args.out}.partial`;
  try {
    const summary = await transact.writeBackup(app.hooks.transact.engine, createWriteStream(partial, { flags: 'wx' }), { models: transact.transactionalModels(app.models) });
    renameSync(partial, args.out);
    console.log(JSON.stringify({ file: args.out, ...summary }, null, 2));
    return 0;
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  } finally {
    await lowerApp(app);
  }
}

runScript('backup', main);
