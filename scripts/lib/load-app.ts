/**
 * What every operational script shares: loading the app without HTTP, jobs or the fund's own hook
 * (the models and the transact hook are all a script needs; the fund hook would create the first
 * administrator), its `--name value` arguments, and its exit. Recovery still runs once at start
 * (expired transactions only: each load gets its own instance id).
 */
import type { Engine, SailsApp, TransactConfig } from 'sails-hook-transact';
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
}

const HOOKS_OFF = { http: false, sockets: false, pubsub: false, views: false, session: false, grunt: false, i18n: false, blueprints: false, policies: false, fund: false };

/** Sails ships no types: its constructor, as the scripts use it. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Sails = (require('sails') as { constructor: new () => ScriptApp & { load(config: object, done: (err?: Error) => void): void } }).constructor;

export async function loadApp(overrides: LoadOverrides = {}): Promise<ScriptApp> {
  const app = new Sails();
  const config = {
    log: { level: 'warn' },
    hooks: HOOKS_OFF,
    // Two apps may be loaded side by side (a drill's live and scratch ones): no `sails` global.
    globals: { _: false, async: false, models: false, sails: false },
    ...overrides,
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

/** `--name value` pairs of argv, by name; an unknown name or a missing value throws. */
export function parseArgs<Name extends string>(argv: readonly string[], known: readonly Name[]): Partial<Record<Name, string>> {
  const args: Partial<Record<Name, string>> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const name = arg.slice(2) as Name;
    if (!arg.startsWith('--') || !known.includes(name)) throw new Error(`unknown argument "${arg}" (known: ${known.map((k) => `--${k}`).join(', ')})`);
    const value = argv[i + 1];
    if (value === undefined || value.startsWith('--')) throw new Error(`${arg} needs a value`);
    args[name] = value;
    i++;
  }
  return args;
}

/** A bad-arguments error's message (exit code 2). */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs a script's `main` (resolving to its exit code) and exits with it; an error exits 1 with its stack. */
export function runScript(name: string, main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`${name}: ${err instanceof Error && err.stack ? err.stack : String(err)}`);
      process.exit(1);
    },
  );
}
