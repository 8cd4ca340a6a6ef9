/**
 * Loads the demo app (api/models, the transact hook from dist/) on a chosen datastore, without
 * the HTTP server: what the engine suites and the crash child run against.
 */
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import type { TransactConfig } from '../../lib/config';
import { freshAdapter } from '../../lib/drill';
import { rawDestroy } from '../../lib/models/destroy-guard';
import type { SailsApp, TransactHook } from '../../lib/hook';
import { forgetReloadedModules } from './modules';
import { REDO_ADAPTERS, resetTarget, type Target } from './targets';

const APP_PATH = join(__dirname, '..', '..', '..');

export interface LoadedApp extends SailsApp {
  hooks: { transact: TransactHook };
  lower(cb: (err?: Error) => void): void;
}

/**
 * A fresh copy of sails-mongo: its teardown never forgets the models it registered (its registry
 * entries lack the `datastore` field teardown filters on), so a second app in the same process
 * would be refused with "Cannot register model … already registered".
 */
function freshSailsMongo(): unknown {
  const main = require.resolve('sails-mongo');
  delete require.cache[main];
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(main);
}

function datastore(target: Target, fresh: boolean): Record<string, unknown> {
  switch (target.adapter) {
    case 'disk':
      return { adapter: fresh ? freshAdapter('sails-disk') : 'sails-disk', dir: target.location };
    case 'mongo':
      return { adapter: freshSailsMongo(), url: target.location };
    case 'postgresql':
      // Always a copy of its own: sails-postgresql keeps its datastores in module state, and a
      // suite that loads an app right after lowering another could be refused with "Datastore
      // `default` is already registered" (seen under load: the previous teardown not yet done).
      return { adapter: freshAdapter('sails-postgresql'), url: target.location };
  }
}

export interface LoadOptions {
  /**
   * 'drop' for a fresh schema (the target is emptied first, log included: resetTarget), 'safe' to
   * reopen what another process wrote; 'alter' and 'drop' reach Sails as given.
   */
  migrate: 'drop' | 'safe' | 'alter';
  /** With 'drop': lift over what the target holds (the hook then refuses a table that holds rows). */
  keepData?: boolean;
  transact?: Partial<TransactConfig>;
  /** Lift the HTTP server too (on a free port), with the app's own hooks and policies. */
  http?: boolean;
  /** More Sails configuration for the lifted app (e.g. `http: { trustProxy }`), merged over config/. */
  config?: Record<string, unknown>;
  /**
   * A copy of the adapter of its own, so this app can run next to another loaded one (a drill's
   * scratch app): the adapters keep their datastores in module state, keyed by name.
   */
  freshAdapter?: boolean;
  /** How long Sails waits for each hook (the benchmark's large datastores need more than 40 s). */
  hookTimeout?: number;
}

/** A free loopback port (Sails ignores port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function loadApp(target: Target, options: LoadOptions): Promise<LoadedApp> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Sails = require('sails').constructor as new () => LoadedApp & { load(config: object, cb: (err?: Error) => void): void };
  if (options.migrate === 'drop' && options.keepData !== true) await resetTarget(target);
  // The copies of the app's modules an app lowered without lowerApp left behind (lowerApp does the same).
  forgetReloadedModules();
  const app = new Sails();
  const id = target.adapter === 'mongo' ? { type: 'string', required: true, columnName: '_id' } : { type: 'string', required: true };
  const common = {
    appPath: APP_PATH,
    environment: 'test',
    log: { level: process.env.SAILS_LOG_LEVEL ?? 'error' },
    models: { migrate: options.migrate, datastore: 'default', attributes: { id } },
    datastores: { default: datastore(target, options.freshAdapter === true) },
    transact: { recoveryIntervalMs: 0, ...options.transact, ...protocolOverride(target) },
    ...(options.hookTimeout === undefined ? {} : { hookTimeout: options.hookTimeout }),
  };
  if (options.http === true) {
    // Loopback only, on a free port (Sails ignores port 0). No globals: the app's code reads none.
    const config = { ...common, port: await freePort(), explicitHost: '127.0.0.1', globals: { _: false, async: false, models: false, sails: false }, ...options.config };
    return new Promise((resolve, reject) => {
      (app as unknown as { lift(c: object, cb: (err?: Error) => void): void }).lift(config, (err?: Error) => (err ? reject(withCause(err)) : resolve(app)));
    });
  }
  const config = {
    ...common,
    globals: { _: false, async: false, models: false, sails: false },
    // No HTTP, and not the fund's own hook (its first administrator): the hook's tests use the app as
    // a host for its models, and a drill's scratch datastore must start empty.
    hooks: { http: false, sockets: false, pubsub: false, views: false, session: false, i18n: false, grunt: false, blueprints: false, security: false, cors: false, csrf: false, responses: false, request: false, policies: false, fund: false },
  };
  return new Promise((resolve, reject) => {
    app.load(config, (err?: Error) => (err ? reject(withCause(err)) : resolve(app)));
  });
}

/**
 * TRANSACT_TEST_PROTOCOL=redo runs every suite on log protocol v3 where it runs (REDO_ADAPTERS),
 * whatever protocol the suite asked for: how v3 is checked against every guarantee the suites
 * state for today's protocol, before it becomes the default.
 */
function protocolOverride(target: Target): Partial<TransactConfig> {
  return process.env.TRANSACT_TEST_PROTOCOL === 'redo' && REDO_ADAPTERS.includes(target.adapter) ? { protocol: 'redo' } : {};
}

/** Sails' hook errors keep the adapter's own reason in `.raw`: show it in the test's failure. */
function withCause(err: Error): Error {
  const raw = (err as { raw?: unknown }).raw;
  if (raw instanceof Error) err.message += ` (cause: ${raw.message})`;
  else if (raw !== undefined) err.message += ` (cause: ${String(raw)})`;
  return err;
}

/** Lowers the app, and lets its copy of the app's modules go (test/support/modules.ts, issue 22). */
export async function lowerApp(app: LoadedApp): Promise<void> {
  await new Promise<void>((resolve, reject) => app.lower((err?: Error) => (err ? reject(err) : resolve())));
  forgetReloadedModules();
}

/** Empties the app's models and the hook's log and locks, past the history guard (tests only). */
export async function wipe(app: LoadedApp): Promise<void> {
  for (const identity of ['account', 'transfer', 'transactlog', 'transactlock']) await rawDestroy(app.models[identity])({});
}

/**
 * Loads the app for one describe block (before), lowers it (after), and before each test
 * empties it and runs `seed`. Returns a getter for the app.
 */
export function useApp(target: () => Target, options: LoadOptions, seed: (app: LoadedApp) => Promise<void>): () => LoadedApp {
  let app: LoadedApp | undefined;
  before(async function () {
    app = await loadApp(target(), options);
  });
  after(async function () {
    // The block's closure outlives it (mocha keeps every suite): it must not keep the lowered app.
    const lowered = app;
    app = undefined;
    if (lowered !== undefined) await lowerApp(lowered);
  });
  beforeEach(async function () {
    await wipe(app as LoadedApp);
    await seed(app as LoadedApp);
  });
  return () => app as LoadedApp;
}
