/**
 * npm run backup -- --out <file>
 * Writes the transactional models' committed documents and the transaction log to <file> as
 * streamed, checksummed NDJSON (the file must not exist; it is written to <file>.partial and
 * renamed when complete). Runs while the app serves: see README "Drills and backups".
 */
import { createWriteStream, existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { transactionalModels, writeBackup } from 'sails-hook-transact';
import { engineOf, loadApp, lowerApp, messageOf, parseArgs, runScript } from './lib/load-app';

// dist/scripts → the repository (config/, api/; a relative --out is taken from there)
process.chdir(join(__dirname, '..', '..'));

async function main(): Promise<number> {
  let out: string;
  try {
    const args = parseArgs(process.argv.slice(2), ['out']);
    if (args.out === undefined) throw new Error('--out <file> is required');
    if (existsSync(args.out)) throw new Error(`${args.out} exists: a backup never overwrites a file`);
    out = args.out;
  } catch (err) {
    console.error(`backup: ${messageOf(err)}`);
    return 2;
  }
  const app = await loadApp({ transact: { instanceId: `backup-${process.pid}` } });
  const partial = `${out}.partial`;
  try {
    const summary = await writeBackup(engineOf(app), createWriteStream(partial, { flags: 'wx' }), { models: transactionalModels(app.models) });
    renameSync(partial, out);
    console.log(JSON.stringify({ file: out, ...summary }, null, 2));
    return 0;
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  } finally {
    await lowerApp(app);
  }
}

runScript('backup', main);
