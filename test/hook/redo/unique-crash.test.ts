/**
 * R9 across a crash and a stall (docs/protocol-v3.md): an update that claims a new unique value
 * before its commit point, run by a real child process (test/support/unique-crash-child.ts) that
 * is SIGKILLed or frozen (SIGSTOP) at one step; this process then recovers, as another instance.
 *
 * - killed after its claim, before its commit point: recovery frees the record and its claim
 *   (on MongoDB the claim document is swept), and another transaction takes the value;
 * - killed after its commit point, before its apply: recovery rolls it forward — the value ends
 *   on the document, no claim left;
 * - frozen after its claim, before its commit point, and declared dead meanwhile (its lease
 *   ended): another transaction takes the value; once thawed, the stale owner's commit and late
 *   writes land nowhere — no duplicate, no claim left behind.
 */
import { expect } from 'chai';
import type { Engine } from '../../../lib/engine';
import { isTransactError } from '../../../lib/core/errors';
import { CLAIM_FIELD, type MongoDb, STATE_FIELD } from '../../../lib/store/mongo/store';
import type { RecordStore } from '../../../lib/store/records';
import { type LoadedApp, loadApp, lowerApp } from '../../support/app';
import { runChild, startChild, waitStopped } from '../../support/child';
import { type AdapterName, forEachRedoAdapter, freshTarget, type Target } from '../../support/targets';
import { join } from 'node:path';

const CHILD = join(__dirname, '..', '..', 'support', 'unique-crash-child.js');
type Row = Record<string, unknown>;

/** The app on the child's target, as another instance (recovery on demand only). */
function recoverer(target: Target): Promise<LoadedApp> {
  return loadApp(target, { migrate: 'safe', transact: { protocol: 'redo', leaseMs: 1000, clockSkewMs: 100, instanceId: 'unique-recoverer', recoveryIntervalMs: 3_600_000 } });
}

/** What R9 leaves in the datastore beyond the documents: MongoDB's claim documents and markers (none elsewhere: claims live in record rows). */
async function leftovers(app: LoadedApp, adapter: AdapterName): Promise<{ claims: number; marked: number }> {
  if (adapter !== 'mongo') return { claims: 0, marked: 0 };
  const db = app.models.transactlog.getDatastore().manager as MongoDb;
  const docs = await db.collection(app.models.user.tableName).find({}).toArray();
  return { claims: docs.filter((doc) => doc[STATE_FIELD] === 'claim').length, marked: docs.filter((doc) => doc[CLAIM_FIELD] !== undefined && doc[STATE_FIELD] !== 'claim').length };
}

/** Recovery passes until u1's record is free and no claim is left (bounded). */
async function recoverAll(app: LoadedApp, adapter: AdapterName): Promise<void> {
  const records = (app.hooks.transact.engine as Engine).records as RecordStore;
  const deadline = Date.now() + 20_000;
  for (;;) {
    await app.hooks.transact.recover();
    const [record] = await records.read('user', ['u1']);
    const left = await leftovers(app, adapter);
    if ((record.lock === null && left.claims === 0 && left.marked === 0) || Date.now() > deadline) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const usernames = async (app: LoadedApp): Promise<Row[]> => ((await app.models.user.find({ sort: 'id ASC' })) as Row[]).map((row) => ({ id: row.id, username: row.username }));
const create = (id: string, username: string): unknown[] => [{ op: 'create', model: 'user', id, values: { username, passwordHash: 'x', role: 'readonly' } }];
const outcomeOf = (run: Promise<unknown>): Promise<string> => run.then(() => 'committed', (err: unknown) => (isTransactError(err) ? err.code : String(err)));

forEachRedoAdapter('R9 across a crash: an update claiming a unique value, its owner killed or frozen', (_target, adapter) => {
  let app: LoadedApp | undefined;
  afterEach(async function () {
    if (app !== undefined) await lowerApp(app);
    app = undefined;
  });

  it('killed after its claim, before its commit point: recovery frees the claim, and another transaction takes the value', async function () {
    const target = await freshTarget(adapter);
    const run = await runChild(target, [], 'commit:sending', {}, CHILD);
    expect(run.lines.has('SEEDED'), run.stderr).to.equal(true);
    expect(run.signal, run.stderr).to.equal('SIGKILL');
    app = await recoverer(target);
    await recoverAll(app, adapter);
    expect((await ((app.hooks.transact.engine as Engine).records as RecordStore).read('user', ['u1']))[0].lock).to.equal(null);
    expect(await leftovers(app, adapter), 'recovery left no claim').to.deep.equal({ claims: 0, marked: 0 });
    expect(await usernames(app)).to.deep.equal([{ id: 'u1', username: 'ada' }]);
    const engine = app.hooks.transact.engine as Engine;
    expect(await outcomeOf(engine.batch(create('u2', 'lovelace')))).to.equal('committed');
    expect(await usernames(app)).to.deep.equal([{ id: 'u1', username: 'ada' }, { id: 'u2', username: 'lovelace' }]);
  });

  it('killed after its commit point, before its apply: recovery rolls it forward, the value on the document, no claim left', async function () {
    const target = await freshTarget(adapter);
    const run = await runChild(target, [], 'batch:committed', {}, CHILD);
    expect(run.lines.has('SEEDED'), run.stderr).to.equal(true);
    expect(run.signal, run.stderr).to.equal('SIGKILL');
    app = await recoverer(target);
    await recoverAll(app, adapter);
    expect(await usernames(app)).to.deep.equal([{ id: 'u1', username: 'lovelace' }]);
    expect(await leftovers(app, adapter), 'recovery left no claim').to.deep.equal({ claims: 0, marked: 0 });
    const engine = app.hooks.transact.engine as Engine;
    expect(await outcomeOf(engine.batch(create('u2', 'lovelace')))).to.equal('already_exists');
    expect(await outcomeOf(engine.batch(create('u3', 'ada'))), 'the old value is free').to.equal('committed');
    expect(await usernames(app)).to.deep.equal([{ id: 'u1', username: 'lovelace' }, { id: 'u3', username: 'ada' }]);
  });

  it('frozen after its claim and declared dead: another transaction takes the value; thawed, the stale owner writes nothing and leaves no claim', async function () {
    // sails-disk is one process's: its directory is the frozen owner's while it lives (lib/store/disk/store.ts).
    if (adapter === 'disk') this.skip();
    const target = await freshTarget(adapter);
    const owner = startChild(target, [], 'commit:sending', { TRANSACT_CRASH_SIGNAL: 'SIGSTOP' }, 60_000, CHILD);
    try {
      await waitStopped(owner.process.pid as number);
      app = await recoverer(target);
      await recoverAll(app, adapter);
      const engine = app.hooks.transact.engine as Engine;
      expect(await outcomeOf(engine.batch(create('u2', 'lovelace')))).to.equal('committed');
    } finally {
      owner.process.kill('SIGCONT');
    }
    const done = await owner.done;
    expect(done.lines.get('OUTCOME'), done.stderr).to.equal(JSON.stringify('lease_lost'));
    await recoverAll(app, adapter);
    expect(await usernames(app)).to.deep.equal([{ id: 'u1', username: 'ada' }, { id: 'u2', username: 'lovelace' }]);
    expect(await app.models.user.count({ username: 'lovelace' })).to.equal(1);
    expect(await leftovers(app, adapter), 'no claim left behind').to.deep.equal({ claims: 0, marked: 0 });
    // The value stays u2's; u1 can still be renamed to a free one.
    const engine = app.hooks.transact.engine as Engine;
    expect(await outcomeOf(engine.batch([{ op: 'update', model: 'user', id: 'u1', set: { username: 'lovelace' } }]))).to.equal('already_exists');
    expect(await outcomeOf(engine.batch([{ op: 'update', model: 'user', id: 'u1', set: { username: 'countess' } }]))).to.equal('committed');
  });
});
