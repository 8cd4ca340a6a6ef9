/**
 * The three datastores every engine suite runs against, and how each gets a fresh database.
 * Under CI (TRANSACT_REQUIRE_ADAPTERS, or CI=true) a missing server fails the suite; run by
 * hand, the suite is skipped with the reason printed. TRANSACT_TEST_ADAPTERS=disk,… runs only those
 * (a developer's quick run; CI runs all three).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { newId } from '../../lib/core/ids';

export type AdapterName = 'disk' | 'mongo' | 'postgresql';
const ALL_ADAPTERS: readonly AdapterName[] = ['disk', 'mongo', 'postgresql'];
export const ADAPTERS: readonly AdapterName[] = process.env.TRANSACT_TEST_ADAPTERS === undefined ? ALL_ADAPTERS : ALL_ADAPTERS.filter((adapter) => (process.env.TRANSACT_TEST_ADAPTERS as string).split(',').includes(adapter));

/** Where one test database lives: enough for a child process to open it too. */
export interface Target {
  adapter: AdapterName;
  /** A sails-disk directory, or a mongodb:// or postgres:// URL. */
  location: string;
}

export function required(adapter: AdapterName): boolean {
  const list = process.env.TRANSACT_REQUIRE_ADAPTERS;
  if (list !== undefined && list !== '') return list.split(',').map((s) => s.trim()).includes(adapter);
  return process.env.CI === 'true';
}

let memoryServerUrl: Promise<string> | undefined;

/** MONGO_URL, else a mongodb-memory-server (which downloads mongod: needs the internet). */
async function mongoBaseUrl(): Promise<string> {
  if (process.env.MONGO_URL) return process.env.MONGO_URL;
  memoryServerUrl ??= (async () => {
    const { MongoMemoryServer } = await import('mongodb-memory-server');
    const server = await MongoMemoryServer.create({ instance: { ip: '127.0.0.1' } });
    return server.getUri();
  })();
  return memoryServerUrl;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/**
 * Test databases are named after the run's own PostgreSQL database (scripts/test-env.sh creates
 * `transact_test_<hex>` and, at cleanup, drops every database under that prefix): on a machine
 * that runs the suite again and again, none is left behind.
 */
function databasePrefix(): string {
  const base = process.env.PG_URL === undefined ? '' : new URL(process.env.PG_URL).pathname.slice(1);
  return /^transact_test_[0-9a-f]+$/.test(base) ? `${base}_` : 'transact_';
}

/** A fresh, empty database on the adapter; throws with the reason if the server is missing. */
export async function freshTarget(adapter: AdapterName): Promise<Target> {
  const name = `${databasePrefix()}${newId()}`;
  switch (adapter) {
    case 'disk':
      return { adapter, location: mkdtempSync(join(tmpdir(), 'transact-disk-')) };
    case 'mongo':
      return { adapter, location: withDatabase(await mongoBaseUrl(), name) };
    case 'postgresql': {
      const base = process.env.PG_URL;
      if (!base) throw new Error('PG_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/postgres)');
      const client = new Client({ connectionString: base });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return { adapter, location: withDatabase(base, name) };
    }
  }
}

/**
 * Empties a target's database, natively and whole (the hook's log too): what a suite's
 * `migrate: 'drop'` stands for. Lift never drops a table that holds data (docs/guarantees.md,
 * "Guarantees and their limits"), so a test that wants a fresh schema starts from an empty database instead.
 */
export async function resetTarget(target: Target): Promise<void> {
  switch (target.adapter) {
    case 'disk':
      // The tables' files only: the directory's claim file (lib/store/disk/store.ts) belongs to a live app.
      for (const file of readdirSync(target.location)) if (file.endsWith('.db')) rmSync(join(target.location, file), { force: true });
      return;
    case 'mongo': {
      const { MongoClient } = await import('mongodb');
      const client = new MongoClient(target.location);
      try {
        await client.connect();
        await client.db().dropDatabase();
      } finally {
        await client.close();
      }
      return;
    }
    case 'postgresql': {
      const client = new Client({ connectionString: target.location });
      await client.connect();
      try {
        const { rows } = await client.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = 'public'");
        if (rows.length > 0) await client.query(`DROP TABLE ${rows.map((row) => `"${row.tablename.replace(/"/g, '""')}"`).join(', ')} CASCADE`);
      } finally {
        await client.end();
      }
    }
  }
}

/**
 * Declares a describe block per adapter; `body` gets a getter for the block's target, ready in
 * its `before` hooks. A missing server fails the block when required, else skips it.
 */
export function forEachAdapter(title: string, body: (target: () => Target, adapter: AdapterName) => void): void {
  for (const adapter of ADAPTERS) {
    describe(`${title} [${adapter}]`, function () {
      let target: Target | undefined;
      before(async function () {
        try {
          target = await freshTarget(adapter);
        } catch (err) {
          const reason = `${adapter} unavailable: ${err instanceof Error ? err.message : String(err)}`;
          if (required(adapter)) throw new Error(`${reason} (required by TRANSACT_REQUIRE_ADAPTERS / CI)`);
          console.warn(`      skipped: ${reason}`);
          this.skip();
        }
      });
      body(() => {
        if (target === undefined) throw new Error('target used before the suite was set up');
        return target;
      }, adapter);
    });
  }
}

/** How the engine runs transactions on a suite's datastore: PostgreSQL has both; 'redo' is log protocol v3. */
export type Protocol = 'native' | 'log' | 'redo';

/** The adapters log protocol v3 (docs/protocol-v3.md) runs on. */
export const REDO_ADAPTERS: readonly AdapterName[] = ['disk', 'mongo', 'postgresql'];

/** forEachAdapter over the adapters log protocol v3 runs on. */
export function forEachRedoAdapter(title: string, body: (target: () => Target, adapter: AdapterName) => void): void {
  forEachAdapter(title, (target, adapter) => {
    if (REDO_ADAPTERS.includes(adapter)) body(target, adapter);
  });
}

/**
 * forEachAdapter, with PostgreSQL twice: on its native path (the default there) and on the log
 * protocol (`protocol: 'log'`), so both stay tested. `protocol` goes into the app's config.
 */
export function forEachPath(title: string, body: (target: () => Target, adapter: AdapterName, protocol: Protocol) => void): void {
  forEachAdapter(title, (target, adapter) => {
    if (adapter !== 'postgresql') {
      body(target, adapter, 'log');
      return;
    }
    describe('native path', function () {
      body(target, adapter, 'native');
    });
    describe('log protocol', function () {
      body(target, adapter, 'log');
    });
  });
}

/** The hook's `protocol` setting for a suite's path. */
export function protocolConfig(protocol: Protocol): { protocol: 'auto' | 'log' | 'redo' } {
  return { protocol: protocol === 'native' ? 'auto' : protocol };
}
