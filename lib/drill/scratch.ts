/**
 * Where a drill writes: a scratch datastore next to the live one — a fresh database on the same
 * PostgreSQL or MongoDB server, a fresh directory for sails-disk — as a datastore config an app
 * can be loaded on. Never the live datastore: the name must differ, and the drill refuses a
 * scratch datastore that is not empty. It holds what the live one does (password hashes, token
 * digests): a sails-disk scratch directory is 0700 and its files 0600 (protectScratch).
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { adapterKind, type AdapterKind } from '../store';

export interface ScratchDatastore {
  kind: AdapterKind;
  /** The database name or directory. */
  location: string;
  /** A Sails datastore config for it (the adapter given as a module, see freshAdapter). */
  config: Record<string, unknown>;
}

const NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function stamp(): string {
  return new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/**
 * A fresh copy of an adapter module: sails-disk, sails-mongo and sails-postgresql keep their
 * registered datastores in module state keyed by datastore name, so a second app in the same
 * process (the scratch one, next to the live one; both call theirs `default`) needs its own copy.
 */
export function freshAdapter(name: string): unknown {
  const main = require.resolve(name);
  const root = resolve(dirname(main));
  let dir = root;
  // the package's own files (not its dependencies): from the directory holding its package.json
  for (let i = 0; i < 5 && !readdirSync(dir).includes('package.json'); i++) dir = dirname(dir);
  for (const file of Object.keys(require.cache)) {
    if (file.startsWith(dir + '/') && !file.slice(dir.length).includes('/node_modules/')) delete require.cache[file];
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(main);
}

/** The adapter package of each kind, for a fresh copy of it. */
export const ADAPTER_PACKAGES: Record<AdapterKind, string> = { disk: 'sails-disk', mongo: 'sails-mongo', postgresql: 'sails-postgresql' };

/**
 * A scratch datastore beside `live` (a Sails datastore config: adapter + url, or adapter + dir):
 * `into` names it (a database name, or a directory that is absent or holds only sails-disk's
 * `.db` files and the hook's `transact.pid`), else one is made up, `<live>_<label>_<yyyymmddhhmmss>`. On PostgreSQL the
 * database is created (`CREATE DATABASE`) through `createDatabase`, which may find it exists.
 * Whether it holds documents is the caller's check (it needs the app's models).
 */
export async function scratchDatastore(
  live: { adapter: unknown; url?: unknown; dir?: unknown },
  into: string | undefined,
  createDatabase: (name: string) => Promise<unknown>,
  label = 'drill',
): Promise<ScratchDatastore> {
  const kind = adapterKind(live.adapter);
  const adapterName = typeof live.adapter === 'string' ? live.adapter : ADAPTER_PACKAGES[kind];
  if (kind === 'disk') {
    const liveDir = resolve(typeof live.dir === 'string' ? live.dir : '.tmp/localDiskDb');
    let dir: string;
    // mkdtemp makes it 0700
    if (into === undefined) dir = mkdtempSync(join(tmpdir(), `transact-${label}-`));
    else {
      dir = resolve(into);
      if (dir === liveDir) throw new Error('sails-hook-transact: the scratch directory is the live one');
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      // What sails-disk and the hook (its transact.pid) leave in a directory; its documents are the caller's check.
      const foreign = readdirSync(dir).filter((name) => !name.endsWith('.db') && name !== 'transact.pid');
      if (foreign.length > 0) throw new Error(`sails-hook-transact: scratch directory ${dir} is not empty (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''}): give another --into`);
      chmodSync(dir, 0o700);
    }
    return { kind, location: dir, config: { adapter: freshAdapter(adapterName), dir } };
  }
  if (typeof live.url !== 'string') throw new Error('sails-hook-transact: the live datastore has no url to derive a scratch database from');
  const url = new URL(live.url);
  const liveName = decodeURIComponent(url.pathname.replace(/^\//, ''));
  const name = into ?? `${(liveName || 'transact').replace(/[^a-z0-9_]/gi, '_').toLowerCase().slice(0, 40)}_${label}_${stamp()}`;
  if (!NAME.test(name)) throw new Error(`sails-hook-transact: scratch database name "${name}": lowercase letters, digits and _ only, at most 63`);
  if (name === liveName) throw new Error('sails-hook-transact: the scratch database is the live one');
  if (kind === 'postgresql') await createDatabase(name);
  url.pathname = `/${name}`;
  return { kind, location: name, config: { adapter: freshAdapter(adapterName), url: url.toString() } };
}

/**
 * Closes a sails-disk scratch directory to its owner (0700, files 0600): it holds the live data's
 * password hashes and token digests. A file sails-disk writes anew later gets the process's umask;
 * the directory's mode is what keeps it private. Databases (PostgreSQL, MongoDB) are as private
 * as the server's roles make them: nothing to do here.
 */
export function protectScratch(scratch: Pick<ScratchDatastore, 'kind' | 'location'>): void {
  if (scratch.kind !== 'disk') return;
  chmodSync(scratch.location, 0o700);
  for (const name of readdirSync(scratch.location)) chmodSync(join(scratch.location, name), 0o600);
}
