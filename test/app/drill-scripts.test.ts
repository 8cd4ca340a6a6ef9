/**
 * The drill, backup and restore scripts as an operator runs them (docs/operations.md "Drills and backups"):
 * the built `node dist/scripts/*.js`, as child processes, from a clean environment holding only
 * what docs/operations.md says (DATASTORE and its URL or directory), on every adapter.
 *  - `drill --into` an existing, empty database works; a non-empty one is refused in one line,
 *    non-zero, nothing written to it;
 *  - `restore` into a database never migrated prepares it and restores; into a non-empty one it
 *    is refused in one line; `restore --verify` restores into a scratch database and checks it;
 *  - no configured datastore, or an empty source, is never a pass;
 *  - backup files are 0600 in a 0700 directory, a disk drill's scratch directory too.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { newId } from '../../lib/core/ids';
import { loadApp, lowerApp } from '../support/app';
import { type AdapterName, forEachAdapter, freshTarget, type Target } from '../support/targets';

// dist/test/app → the repository
const ROOT = join(__dirname, '..', '..', '..');
const SCRIPTS = join(ROOT, 'dist', 'scripts');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** docs/operations.md's environment for a datastore, and nothing else of this process's. */
function envOf(target: Target): Record<string, string> {
  switch (target.adapter) {
    case 'disk':
      return { DATASTORE: 'disk', TRANSACT_DISK_DIR: target.location };
    case 'mongo':
      return { DATASTORE: 'mongo', MONGO_URL: target.location };
    case 'postgresql':
      return { DATASTORE: 'postgresql', PG_URL: target.location };
  }
}

function run(script: string, args: string[], env: Record<string, string>): Run {
  const result = spawnSync(process.execPath, [join(SCRIPTS, `${script}.js`), ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...env },
    encoding: 'utf8',
    timeout: 180_000,
  });
  return { status: result.status, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** An operator-facing failure: one line on stderr, no stack trace. */
function expectOneLine(result: Run, pattern: RegExp): void {
  expect(result.stderr, 'no stack trace').to.not.match(/^\s+at /m);
  const lines = result.stderr.trim().split('\n');
  expect(lines, result.stderr).to.have.length(1);
  expect(lines[0]).to.match(pattern);
}

/** What --into takes for a target: its database name, or its directory. */
function nameOf(target: Target): string {
  return target.adapter === 'disk' ? target.location : decodeURIComponent(new URL(target.location).pathname.slice(1));
}

/** The same server, another database name (or a directory), not created. */
function sibling(target: Target, name: string): Target {
  if (target.adapter === 'disk') return { adapter: 'disk', location: join(mkdtempSync(join(tmpdir(), 'transact-sibling-')), name) };
  const url = new URL(target.location);
  url.pathname = `/${name}`;
  return { adapter: target.adapter, location: url.toString() };
}

/** Documents per model and log entries, as stored (the app's models, the hook's log). */
async function countsOf(target: Target): Promise<Record<string, number>> {
  const app = await loadApp(target, { migrate: 'safe', freshAdapter: true, transact: { scheduler: false, instanceId: `count-${newId()}` } });
  try {
    const out: Record<string, number> = {};
    // Not the hook's locks, nor log protocol v3's records (lock state, rebuilt as documents are next locked): no backup holds them.
    const hooks = new Set(['archive', 'transactlock', 'transactrecord']);
    for (const identity of Object.keys(app.models).filter((identity) => !hooks.has(identity)).sort()) out[identity] = await app.models[identity].count({});
    return out;
  } finally {
    await lowerApp(app);
  }
}

/** An empty datastore that exists: migrated (tables or collections, no document). */
async function migratedEmpty(adapter: AdapterName): Promise<Target> {
  const target = await freshTarget(adapter);
  const app = await loadApp(target, { migrate: 'drop', freshAdapter: true, transact: { scheduler: false, instanceId: `empty-${newId()}` } });
  await lowerApp(app);
  return target;
}

function modeOf(path: string): number {
  return statSync(path).mode & 0o777;
}

forEachAdapter('drill, backup and restore scripts, as docs/operations.md runs them', (target, adapter) => {
  const cleanup: string[] = [];
  let env: Record<string, string>;
  let source: Record<string, number>;
  const at = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

  before(async function () {
    this.timeout(180_000);
    env = envOf(target());
    const seeded = run('seed', [], env);
    expect(seeded.status, seeded.stderr).to.equal(0);
    source = await countsOf(target());
    expect(source.investor, 'the seeded fund').to.be.greaterThan(0);
  });
  after(function () {
    for (const path of cleanup) rmSync(path, { recursive: true, force: true });
  });

  it('drill --into an existing, empty database rebuilds and reconciles; the same one, now holding documents, is refused in one line and left as it was', async function () {
    this.timeout(300_000);
    // PostgreSQL: a database created and never migrated; MongoDB and sails-disk: one migrated, empty.
    const into = adapter === 'postgresql' ? await freshTarget(adapter) : await migratedEmpty(adapter);
    if (adapter === 'disk') cleanup.push(into.location);
    const drilled = run('drill', ['--at', at(), '--into', nameOf(into)], env);
    expect(drilled.stderr, 'no stack trace').to.not.match(/^\s+at /m);
    expect(drilled.status, drilled.stderr).to.equal(0);
    const report = JSON.parse(drilled.stdout) as { reconciliation: { ok: boolean }; models: Record<string, { count: number }> };
    expect(report.reconciliation.ok).to.equal(true);
    expect(report.models.investor.count).to.equal(source.investor);
    // Modes first: the count below loads the directory in this process, and sails-disk rewrites its files.
    if (adapter === 'disk') {
      expect(modeOf(into.location).toString(8), 'the scratch directory').to.equal('700');
      for (const file of readdirSync(into.location)) expect(modeOf(join(into.location, file)).toString(8), file).to.equal('600');
    }
    const rebuilt = await countsOf(into);
    expect(rebuilt.investor).to.equal(source.investor);

    const again = run('drill', ['--at', at(), '--into', nameOf(into)], env);
    expect(again.status).to.not.equal(0);
    expectOneLine(again, /^drill: .*not empty/);
    expect(await countsOf(into), 'nothing written to it').to.deep.equal(rebuilt);
  });

  it('backup writes a 0600 file in a 0700 directory; restore prepares a database never migrated and restores it, and refuses a non-empty one in one line', async function () {
    this.timeout(300_000);
    const dir = join(mkdtempSync(join(tmpdir(), 'transact-backups-')), 'fund');
    cleanup.push(join(dir, '..'));
    const file = join(dir, 'fund.ndjson');
    const backup = run('backup', ['--out', file], env);
    expect(backup.status, backup.stderr).to.equal(0);
    expect(modeOf(file).toString(8), 'the backup file').to.equal('600');
    expect(modeOf(dir).toString(8), 'the directory backup made').to.equal('700');

    // Never migrated: PostgreSQL, a database that exists with no table; MongoDB, a new name; sails-disk, a new directory.
    const fresh = adapter === 'postgresql' ? await freshTarget(adapter) : sibling(target(), `transact_restore_${newId()}`);
    if (adapter === 'disk') cleanup.push(join(fresh.location, '..'));
    const restored = run('restore', ['--in', file], envOf(fresh));
    expect(restored.stderr, 'no stack trace').to.not.match(/^\s+at /m);
    expect(restored.status, restored.stderr).to.equal(0);
    expect(await countsOf(fresh)).to.deep.equal(source);

    const again = run('restore', ['--in', file], envOf(fresh));
    expect(again.status).to.equal(1);
    expectOneLine(again, /^restore: refused \(target_not_empty/);
    expect(await countsOf(fresh), 'nothing written').to.deep.equal(source);
  });

  it('restore --verify (the monthly restore test) restores into a scratch database, reconciles and checks the counts; an empty backup is a failure', async function () {
    this.timeout(300_000);
    const dir = mkdtempSync(join(tmpdir(), 'transact-backups-'));
    cleanup.push(dir);
    const file = join(dir, 'fund.ndjson');
    expect(run('backup', ['--out', file], env).status).to.equal(0);
    const scratch = sibling(target(), `transact_verify_${newId()}`);
    if (adapter === 'disk') cleanup.push(join(scratch.location, '..'));
    const verified = run('restore', ['--in', file, '--verify', '--into', nameOf(scratch)], env);
    expect(verified.status, verified.stderr).to.equal(0);
    const report = JSON.parse(verified.stdout) as { verified: boolean; reconciliation: { ok: boolean }; restored: Record<string, number> };
    expect(report.verified).to.equal(true);
    expect(report.reconciliation.ok).to.equal(true);
    expect(report.restored.investor).to.equal(source.investor);
    expect(await countsOf(scratch)).to.deep.equal(source);
    expect(await countsOf(target()), 'the configured datastore untouched').to.deep.equal(source);

    // An empty source (migrated, no document): refused by backup unless --allow-empty; its file is then no pass for --verify.
    const empty = await migratedEmpty(adapter);
    if (adapter === 'disk') cleanup.push(empty.location);
    const emptyFile = join(dir, 'empty.ndjson');
    const refused = run('backup', ['--out', emptyFile], envOf(empty));
    expect(refused.status).to.not.equal(0);
    expectOneLine(refused, /^backup: .*no documents/);
    expect(existsSync(emptyFile), 'no file').to.equal(false);
    expect(run('backup', ['--out', emptyFile, '--allow-empty'], envOf(empty)).status).to.equal(0);
    const emptyVerify = run('restore', ['--in', emptyFile, '--verify'], env);
    expect(emptyVerify.status).to.not.equal(0);
    expect(emptyVerify.stderr).to.match(/no documents/);
  });

  it('a drill of an empty datastore is no pass: refused in one line unless --allow-empty', async function () {
    this.timeout(300_000);
    const empty = await migratedEmpty(adapter);
    if (adapter === 'disk') cleanup.push(empty.location);
    const into = sibling(empty, `transact_drill_${newId()}`);
    if (adapter === 'disk') cleanup.push(join(into.location, '..'));
    const refused = run('drill', ['--at', at(), '--into', nameOf(into)], envOf(empty));
    expect(refused.status).to.not.equal(0);
    expectOneLine(refused, /^drill: .*no documents/);
    if (adapter === 'disk') expect(existsSync(into.location), 'no scratch directory made').to.equal(false);
    const allowed = run('drill', ['--at', at(), '--into', nameOf(into), '--allow-empty'], envOf(empty));
    expect(allowed.status, allowed.stderr).to.equal(0);
  });
});

describe('drill, backup and restore scripts without a configured datastore', function () {
  it('refuse to run on the development default (exit 2, one line, nothing created)', function () {
    this.timeout(300_000);
    const dir = mkdtempSync(join(tmpdir(), 'transact-nodatastore-'));
    try {
      const into = join(dir, 'fund_drill_weekly');
      const drill = run('drill', ['--at', new Date().toISOString(), '--into', into], {});
      expect(drill.status).to.equal(2);
      expectOneLine(drill, /^drill: DATASTORE is not set/);
      expect(existsSync(into), 'no scratch directory').to.equal(false);
      const backup = run('backup', ['--out', join(dir, 'b.ndjson')], {});
      expect(backup.status).to.equal(2);
      expectOneLine(backup, /^backup: DATASTORE is not set/);
      const restore = run('restore', ['--in', join(dir, 'b.ndjson'), '--verify'], {});
      expect(restore.status).to.equal(2);
      expectOneLine(restore, /^restore: DATASTORE is not set/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
