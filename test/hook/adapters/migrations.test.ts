/**
 * No lift deletes data (docs/guarantees.md, "Guarantees and their limits"). Waterline's `alter` drops each
 * table and reinserts its rows in one statement (sails-postgresql refuses more than 65,535 bind
 * parameters: ~3,120 log documents), `drop` drops them: the hook's log and lock tables never take
 * either (the hook creates and evolves them itself), and a lift whose `migrate` would drop an app
 * table that holds rows refuses, naming it, before anything is dropped.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { Client } from 'pg';
import { isTransactError } from '../../../lib/core/errors';
import { rawDestroy } from '../../../lib/models/destroy-guard';
import { newId } from '../../../lib/core/ids';
import { type LoadedApp, loadApp, lowerApp } from '../../support/app';
import { startServer } from '../../support/server';
import { engineOf } from '../../support/fund';
import { forEachAdapter, type Target } from '../../support/targets';

const ROOT = join(__dirname, '..', '..', '..', '..');

/** `npm run migrate` (built), as a deploy runs it; rejects with its output when it fails. */
async function migrateScript(env: Record<string, string>): Promise<void> {
  await promisify(execFile)(process.execPath, [join(ROOT, 'dist', 'scripts', 'migrate.js')], { env: { PATH: process.env.PATH ?? '', ...env }, cwd: ROOT, timeout: 120_000 });
}

async function countOf(app: LoadedApp, identity: string): Promise<number> {
  return app.models[identity].count({});
}

/**
 * A datastore made afresh (migrate: 'drop') holding `count` committed transactions in the log and
 * no account: the app's tables hold nothing. Answers the log's count before the app is lowered.
 */
async function logOnly(target: Target, count: number): Promise<number> {
  const app = await loadApp(target, { migrate: 'drop', transact: { scheduler: false } });
  try {
    for (let i = 0; i < count; i++) await engineOf(app).batch([{ op: 'create', model: 'account', id: newId(), values: { owner: `owner ${i}`, balance: 100 } }]);
    await rawDestroy(app.models.account)({});
    return await countOf(app, 'transactlog');
  } finally {
    await lowerApp(app);
  }
}

async function refusal(lift: Promise<LoadedApp>): Promise<Error> {
  let app: LoadedApp | undefined;
  try {
    app = await lift;
  } catch (err) {
    return err as Error;
  } finally {
    if (app !== undefined) await lowerApp(app);
  }
  throw new Error('the lift was expected to refuse, and it lifted');
}

forEachAdapter('no lift deletes data', (target, adapter) => {
  it('the log survives a lift under migrate: "drop" (every row)', async function () {
    this.timeout(120_000);
    expect(await logOnly(target(), 12)).to.equal(12);
    const second = await loadApp(target(), { migrate: 'drop', keepData: true, transact: { scheduler: false } });
    try {
      expect(await countOf(second, 'transactlog')).to.equal(12);
    } finally {
      await lowerApp(second);
    }
  });

  it('the log survives a lift under migrate: "alter" (every row)', async function () {
    this.timeout(120_000);
    await logOnly(target(), 12);
    const second = await loadApp(target(), { migrate: 'alter', transact: { scheduler: false } });
    try {
      expect(await countOf(second, 'transactlog')).to.equal(12);
      // and it works: a transaction after the lift
      await engineOf(second).batch([{ op: 'create', model: 'account', id: newId(), values: { owner: 'after', balance: 1 } }]);
      expect(await countOf(second, 'transactlog')).to.equal(13);
    } finally {
      await lowerApp(second);
    }
  });

  for (const migrate of ['alter', 'drop'] as const) {
    it(`a lift under migrate: "${migrate}" over an app table that holds rows refuses, naming it, and drops nothing`, async function () {
      this.timeout(120_000);
      const first = await loadApp(target(), { migrate: 'drop', transact: { scheduler: false } });
      try {
        await engineOf(first).batch([
          { op: 'create', model: 'account', id: newId(), values: { owner: 'Alice', balance: 100 } },
          { op: 'create', model: 'account', id: newId(), values: { owner: 'Bob', balance: 50 } },
        ]);
      } finally {
        await lowerApp(first);
      }
      // adapters of their own: a lift that fails leaves its datastore registered in the adapter's module
      const err = await refusal(loadApp(target(), { migrate, keepData: true, freshAdapter: true, transact: { scheduler: false } }));
      expect(isTransactError(err) ? err.code : err.message).to.equal('migration_refused');
      expect(err.message).to.contain('"account"').and.contain(`migrate: '${migrate}'`);
      expect((err as { details?: { tables?: string[] } }).details?.tables).to.deep.equal(['account']);
      const after = await loadApp(target(), { migrate: 'safe', freshAdapter: true, transact: { scheduler: false } });
      try {
        expect(await countOf(after, 'account')).to.equal(2);
        expect(await countOf(after, 'transactlog')).to.equal(1);
      } finally {
        await lowerApp(after);
      }
    });
  }

  if (adapter !== 'postgresql') return;

  async function sql<T extends Record<string, unknown>>(query: string): Promise<T[]> {
    const client = new Client({ connectionString: target().location });
    await client.connect();
    try {
      return (await client.query<T>(query)).rows;
    } finally {
      await client.end();
    }
  }

  async function rowsOf(table: string): Promise<number> {
    const [{ n }] = await sql<{ n: string }>(`SELECT count(*) AS n FROM "${table}"`);
    return Number(n);
  }

  it('the development app (node app.js) lifts over 10,001 log documents and 10,001 allocations and keeps every row; so does npm run migrate', async function () {
    this.timeout(240_000);
    const env = { NODE_ENV: 'development', DATASTORE: 'postgresql', PG_URL: target().location, TRANSACT_ADMIN_USER: 'admin', TRANSACT_ADMIN_PASSWORD: 'migrations-test-password' };
    // the tables, as a deploy makes them
    await migrateScript(env);
    await sql(`DELETE FROM "allocation"`);
    // one statement each: 10,001 committed logs (21 columns: 210,021 bind parameters for alter's reinsert) and allocations (7 columns)
    await sql(`INSERT INTO "transactlog" ("id", "state", "mode", "onCrash", "owner", "leaseUntil", "startedAt", "endedAt", "recoveries", "epoch", "steps", "documents")
      SELECT 'bulk' || i, 'committed', 'batch', 'rollback', 'bulk-writer', 0, i, i, 0, 0, '[]', '[]' FROM generate_series(1, 10001) AS i`);
    await sql(`INSERT INTO "allocation" ("id", "createdAt", "updatedAt", "order", "loan", "platform", "amount")
      SELECT 'alloc' || i, i, i, 'order' || i, 'loan' || i, 'platform', 100 FROM generate_series(1, 10001) AS i`);
    const logs = await rowsOf('transactlog');
    const server = await startServer(env, 120_000);
    await server.stop();
    expect(await rowsOf('allocation')).to.equal(10_001);
    expect(await rowsOf('transactlog')).to.be.at.least(logs);
    expect(Number((await sql<{ n: string }>(`SELECT count(*) AS n FROM "transactlog" WHERE "owner" = 'bulk-writer'`))[0].n)).to.equal(10_001);
    await migrateScript(env);
    expect(await rowsOf('allocation')).to.equal(10_001);
    expect(Number((await sql<{ n: string }>(`SELECT count(*) AS n FROM "transactlog" WHERE "owner" = 'bulk-writer'`))[0].n)).to.equal(10_001);
  });

  it('a lift adds a column the log model declares and its table lacks (a new nullable attribute), keeping every row', async function () {
    this.timeout(120_000);
    await logOnly(target(), 3);
    // the table as an older version of the hook made it, without `reason`
    await sql(`ALTER TABLE "transactlog" DROP COLUMN "reason"`);
    const second = await loadApp(target(), { migrate: 'safe', transact: { scheduler: false } });
    try {
      const columns = await sql<{ column_name: string; data_type: string }>(`SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'transactlog' AND column_name = 'reason'`);
      expect(columns).to.deep.equal([{ column_name: 'reason', data_type: 'text' }]);
      expect(await countOf(second, 'transactlog')).to.equal(3);
    } finally {
      await lowerApp(second);
    }
  });
});
