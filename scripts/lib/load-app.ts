/**
 * What every operational script shares: loading the app without HTTP, jobs or the fund's own hook
 * (the models and the transact hook are all a script needs; the fund hook would create the first
 * administrator), its `--name value` arguments, and its exit. Recovery still runs once at start
 * (expired transactions only: each load gets its own instance id).
 */
import { type CreatedIndex, type Engine, type EvolvedTable, freshAdapter, isTransactError, type SailsApp, type TransactConfig, transactionalModels } from 'sails-hook-transact';
import { join } from 'node:path';
import type { Pool } from 'pg';
import type { FundApp } from '../../api/lib/app';
import { refuseUnsafeProduction } from '../../api/lib/production-guard';

/** The loaded app as the fund's services take it and as the hook's functions take it (every model by identity, the datastores). */
export type ScriptApp = FundApp & SailsApp & { lower(done: (err?: Error) => void): void };

/** What a script changes over config/. */
export interface LoadOverrides {
  environment?: string;
  datastores?: { default: Record<string, unknown> };
  models?: { migrate?: 'safe' | 'alter' };
  transact?: Partial<TransactConfig>;
  /** Hooks switched on or off over the scripts' own (HOOKS_OFF). */
  hooks?: Record<string, boolean>;
}

/**
 * Sails' logger writes `warn` to stdout (captains-log's convention); a script's stdout is its JSON
 * report: every level goes to stderr. (Log protocol v3 on FerretDB warns at every load.)
 */
const toStderr = (...args: unknown[]): void => console.error(...args);
const STDERR_LOGGER = Object.fromEntries(['log', 'crit', 'error', 'warn', 'debug', 'info', 'verbose', 'silly', 'blank'].map((level) => [level, toStderr]));

const HOOKS_OFF = { http: false, sockets: false, pubsub: false, views: false, session: false, grunt: false, i18n: false, blueprints: false, policies: false, fund: false };

/** Sails ships no types: its constructor, as the scripts use it. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Sails = (require('sails') as { constructor: new () => ScriptApp & { load(config: object, done: (err?: Error) => void): void } }).constructor;

export async function loadApp(overrides: LoadOverrides = {}): Promise<ScriptApp> {
  const app = new Sails();
  const config = {
    log: { level: 'warn', custom: STDERR_LOGGER },
    // Two apps may be loaded side by side (a drill's live and scratch ones): no `sails` global.
    globals: { _: false, async: false, models: false, sails: false },
    ...overrides,
    hooks: { ...HOOKS_OFF, ...overrides.hooks },
    models: { migrate: 'safe', ...overrides.models },
    transact: { scheduler: false, recoveryIntervalMs: 0, ...overrides.transact },
  };
  await new Promise<void>((resolve, reject) => app.load(config, (err) => (err ? reject(err) : resolve())));
  // The fund hook is off, and with it its production guard: the same refusal here.
  try {
    refuseUnsafeProduction(process.env, app.config);
  } catch (err) {
    await lowerApp(app);
    throw err;
  }
  return app;
}

export function lowerApp(app: ScriptApp): Promise<void> {
  return new Promise((resolve) => app.lower(() => resolve()));
}

/** The hook's engine (set once the app has loaded). */
export function engineOf(app: ScriptApp): Engine {
  const { engine } = app.hooks.transact;
  if (engine === undefined) throw new Error('the transact hook has not initialized');
  return engine;
}

/**
 * `--name value` pairs of argv, by name, and `--flag`s (given: "true"); an unknown name or a
 * missing value throws.
 */
export function parseArgs<Name extends string, Flag extends string = never>(argv: readonly string[], known: readonly Name[], flags: readonly Flag[] = []): Partial<Record<Name | Flag, string>> {
  const args: Partial<Record<Name | Flag, string>> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const name = arg.slice(2);
    if (arg.startsWith('--') && (flags as readonly string[]).includes(name)) {
      args[name as Flag] = 'true';
      continue;
    }
    if (!arg.startsWith('--') || !(known as readonly string[]).includes(name)) throw new Error(`unknown argument "${arg}" (known: ${[...known, ...flags].map((k) => `--${k}`).join(', ')})`);
    const value = argv[i + 1];
    if (value === undefined || value.startsWith('--')) throw new Error(`${arg} needs a value`);
    args[name as Name] = value;
    i++;
  }
  return args;
}

/** A bad-arguments error's message (exit code 2). */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * What a script says when it fails, in one line: an operator reads it in a cron mail or a log,
 * where a stack trace buries the reason. A refused request says its code; a missing table says
 * what to run. TRANSACT_SCRIPT_STACK=1 prints the stack as well, for a bug report.
 */
export function failureLine(err: unknown): string {
  if (isTransactError(err)) return `refused (${err.code}${err.path ? ` at ${err.path}` : ''}): ${oneLine(err.message)}`;
  const message = oneLine(messageOf(err));
  const missing = /relation "(?:public\.)?([^"]+)" does not exist/.exec(message);
  if (missing !== null) return `the datastore has no table "${missing[1]}": it was never migrated (run \`npm run migrate\` with the same DATASTORE and URL)`;
  return message;
}

function oneLine(message: string): string {
  return message.split('\n').map((line) => line.trim()).filter((line) => line !== '').join(' — ');
}

/** Runs a script's `main` (resolving to its exit code) and exits with it; an error exits 1 with one line (see failureLine). */
export function runScript(name: string, main: () => Promise<number>): void {
  // What these scripts write (backups, a drill's sails-disk files, rewritten by sails-disk after
  // any chmod) holds password hashes and token digests: private to the owner whoever writes it.
  process.umask(0o077);
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`${name}: ${failureLine(err)}`);
      if (process.env.TRANSACT_SCRIPT_STACK === '1' && err instanceof Error && err.stack) console.error(err.stack);
      process.exit(1);
    },
  );
}

/**
 * A refusal an operator acts on (a non-empty target, an empty source): one line, exit 1. The
 * scripts throw it; runScript prints it.
 */
export class Refusal extends Error {}

/**
 * The datastore a backup, drill or restore runs on must be named: run from cron without it, the
 * app's development default (an empty sails-disk store in the repository) was drilled and
 * "passed". Throws the bad-arguments message (exit 2).
 */
export function requireConfiguredDatastore(env: NodeJS.ProcessEnv): void {
  if (env.DATASTORE === undefined || env.DATASTORE.trim() === '') {
    throw new Error('DATASTORE is not set: name the datastore (DATASTORE=postgresql PG_URL=…, DATASTORE=mongo MONGO_URL=…, or DATASTORE=disk TRANSACT_DISK_DIR=…); these scripts never fall back to the development sails-disk store');
  }
}

/**
 * Loads the app on a datastore and prepares it as `npm run migrate` does: every model's table or
 * collection (the app's, and the hook's log and lock) created or evolved, then the indexes the
 * models declare (the hook's createIndexes); answers what it changed. The load runs as the
 * "migration" environment (the production guard asks for production's settings only under
 * NODE_ENV=production), and the schema is evolved here, not at lift, so that it is reported.
 */
export async function loadPrepared(overrides: LoadOverrides = {}): Promise<{ app: ScriptApp; tables: EvolvedTable[]; indexes: CreatedIndex[] }> {
  const env = process.env.NODE_ENV;
  process.env.NODE_ENV = 'migration';
  let app: ScriptApp;
  try {
    app = await loadApp({ environment: 'migration', ...overrides, transact: { ...overrides.transact, evolveModels: false } });
  } finally {
    if (env === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = env;
  }
  try {
    // The hook evolves the schema itself (never Waterline's alter, which drops and reinserts).
    const tables = await app.hooks.transact.evolveSchema();
    return { app, tables, indexes: await app.hooks.transact.createIndexes() };
  } catch (err) {
    await lowerApp(app);
    throw err;
  }
}

/** PostgreSQL's "undefined_table": a datastore never migrated. */
function isMissingTable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { raw?: { code?: unknown } }).raw?.code === '42P01';
}

/**
 * The app's models that hold a document in a datastore (a Sails datastore config; default: the
 * configured one), by identity,
 * read before anything prepares it: a table that does not exist holds nothing. Loaded without the
 * transact hook, which needs its tables to start; the hook's log is checked once the datastore is
 * prepared (restoreBackup, and the drill, refuse a non-empty one).
 */
export async function documentsIn(datastore: Record<string, unknown> = configuredDatastore()): Promise<Record<string, number>> {
  const app = await loadModels(datastore);
  try {
    const held: Record<string, number> = {};
    for (const identity of Object.keys(app.models).filter((identity) => !identity.includes('archive')).sort()) {
      const count = await Promise.resolve(app.models[identity].count({})).catch((err: unknown) => {
        if (isMissingTable(err)) return 0;
        throw err;
      });
      if (count > 0) held[identity] = count;
    }
    return held;
  } finally {
    await lowerApp(app);
  }
}

/**
 * The app's models on a datastore (default: the configured one) without the transact hook, which
 * needs its tables to start: to look at a datastore that may never have been migrated.
 */
export function loadModels(datastore: Record<string, unknown> = configuredDatastore()): Promise<ScriptApp> {
  // A copy of the adapter of its own: sails-mongo never forgets the models an app registered, and
  // the app the script goes on to load registers them again.
  const adapter = typeof datastore.adapter === 'string' ? freshAdapter(datastore.adapter) : datastore.adapter;
  return loadApp({ datastores: { default: { ...datastore, adapter } }, hooks: { transact: false } });
}

/** The datastore config/datastores.js makes of the environment (DATASTORE, its URL or directory); the scripts run from the repository. */
function configuredDatastore(): Record<string, unknown> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require(join(process.cwd(), 'config', 'datastores.js')) as { datastores: { default: Record<string, unknown> } }).datastores.default;
}

/** Whether an app's transactional models and the hook's log hold nothing at all (one read each). */
export async function isEmptySource(app: ScriptApp): Promise<boolean> {
  for (const identity of transactionalModels(app.models)) if ((await app.models[identity].find({ limit: 1 })).length > 0) return false;
  return (await engineOf(app).findLogs({ where: {}, limit: 1 })).length === 0;
}

/** The PostgreSQL database a drill or a restore test makes, created through an app's own pool on that server. */
export function createDatabaseThrough(app: ScriptApp): (name: string) => Promise<'created' | 'exists'> {
  return async (name) => {
    const models: SailsApp['models'] = app.models;
    const [model] = Object.values(models);
    // sails-postgresql's manager is `{pool}`.
    const { pool } = model.getDatastore().manager as { pool: Pool };
    try {
      await pool.query(`CREATE DATABASE "${name}"`);
      return 'created';
    } catch (err) {
      // "duplicate_database": an existing one is used if it is empty (checked next).
      if (typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '42P04') return 'exists';
      throw err;
    }
  };
}
