/**
 * DATASTORE=… npm run backup -- --out <file> [--allow-empty]
 * Writes the transactional models' committed documents and the transaction log to <file> as
 * streamed, checksummed NDJSON (the file must not exist; it is written to <file>.partial and
 * renamed when complete). The file holds password hashes and live token digests: it is created
 * 0600, and a directory it needs is created 0700. A datastore with no document and no log is
 * refused (unless --allow-empty). Runs while the app serves: see docs/operations.md "Drills and backups".
 * Exit code: 0 written, 1 error or refusal (one line), 2 bad arguments or no DATASTORE.
 */
import { createWriteStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { transactionalModels, writeBackup } from 'sails-hook-transact';
import { engineOf, isEmptySource, loadApp, lowerApp, messageOf, parseArgs, Refusal, requireConfiguredDatastore, runScript } from './lib/load-app';

// dist/scripts → the repository (config/, api/; a relative --out is taken from there)
process.chdir(join(__dirname, '..', '..'));

/** Owner-only: a backup holds every login's password hash and every live bearer token's digest. */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

async function main(): Promise<number> {
  let out: string;
  let allowEmpty: boolean;
  try {
    requireConfiguredDatastore(process.env);
    const args = parseArgs(process.argv.slice(2), ['out'], ['allow-empty']);
    if (args.out === undefined) throw new Error('--out <file> is required');
    if (existsSync(args.out)) throw new Error(`${args.out} exists: a backup never overwrites a file`);
    out = args.out;
    allowEmpty = args['allow-empty'] === 'true';
  } catch (err) {
    console.error(`backup: ${messageOf(err)}`);
    return 2;
  }
  const app = await loadApp({ transact: { instanceId: `backup-${process.pid}` } });
  const partial = `${out}.partial`;
  try {
    if (!allowEmpty && (await isEmptySource(app))) {
      throw new Refusal('the configured datastore holds no documents and no transaction log: nothing to back up, which is no backup (check DATASTORE and its URL; --allow-empty to write it anyway)');
    }
    const dir = dirname(resolve(out));
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: DIR_MODE });
    else if ((statSync(dir).mode & 0o077) !== 0) console.error(`backup: note: ${dir} is open to others (mode ${(statSync(dir).mode & 0o777).toString(8)}); the file itself is 0600`);
    const summary = await writeBackup(engineOf(app), createWriteStream(partial, { flags: 'wx', mode: FILE_MODE }), { models: transactionalModels(app.models) });
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
