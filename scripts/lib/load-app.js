/**
 * Loads the app without HTTP, jobs or bootstrap (what the operational scripts need: the models
 * and the transact hook), with `overrides` on top of config/. Recovery still runs once at start
 * (expired transactions only: each load gets its own instance id).
 */
const Sails = require('sails').constructor;

const HOOKS_OFF = { http: false, sockets: false, pubsub: false, views: false, session: false, grunt: false, i18n: false, blueprints: false, policies: false };

function loadApp(overrides = {}) {
  const app = new Sails();
  const config = {
    log: { level: 'warn' },
    hooks: HOOKS_OFF,
    // Two apps may be loaded side by side (a drill's live and scratch ones): no `sails` global.
    globals: { _: false, async: false, models: false, sails: false },
    bootstrap: (done) => done(),
    ...overrides,
    models: { migrate: 'safe', ...overrides.models },
    transact: { scheduler: false, recoveryIntervalMs: 0, ...overrides.transact },
  };
  return new Promise((resolve, reject) => app.load(config, (err) => (err ? reject(err) : resolve(app))));
}

function lowerApp(app) {
  return new Promise((resolve) => app.lower(() => resolve()));
}

/** `--name value` pairs (and bare `--flag`s) of argv. */
function parseArgs(argv, known) {
  const args = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--') || !known.includes(arg.slice(2))) throw new Error(`unknown argument "${arg}" (known: ${known.map((k) => `--${k}`).join(', ')})`);
    const value = argv[i + 1];
    if (value === undefined || value.startsWith('--')) throw new Error(`${arg} needs a value`);
    args[arg.slice(2)] = value;
    i++;
  }
  return args;
}

/** Runs a script's `main` (resolving to its exit code) and exits with it; an error exits 1 with its stack. */
function runScript(name, main) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(`${name}: ${err && err.stack ? err.stack : err}`);
      process.exit(1);
    },
  );
}

module.exports = { loadApp, lowerApp, parseArgs, runScript };
