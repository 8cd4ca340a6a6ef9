/**
 * The heap test's child (test/hook/heap.test.ts), run as `node --expose-gc heap-child.js <app> <loads>`:
 * loads and lowers one kind of app again and again, and prints one line `HEAP {json}`: the heap
 * after a full collection following each measured load, and its growth per load (the slope of a
 * least-squares line through them), and how many of the lowered apps (and the hook's engines in
 * them) are still reachable, through WeakRefs. Apps:
 *   hook       a minimal app (an empty app directory, one transactional model on sails-disk in
 *              memory, ambient transactions on), the hook given as `hooks.transact`, one batch
 *              and one interactive transaction a load;
 *   hook-http  test/support/minimal-app.ts: the same kind of app lifted with its HTTP server, the
 *              hook's blueprints and ops page, the scheduler running (recovery every 50 ms), on
 *              sails-disk in a directory; a transaction over HTTP a load;
 *   fund       the fund app (api/, config/) through test/support/app.ts loadApp, without HTTP;
 *   fund-http  the same, lifted with its HTTP server and one request.
 * With a third argument `keep`, every lowered app is kept (a leak made on purpose): what keeping
 * one app costs, the size a leak of one shows as.
 * The first loads (WARMUP) are not measured: code compiled and optimized on first use, caches
 * filled once, and the last lowered app (each app keeps the one before it only until the next
 * load replaces it in Sails' and sails-hook-orm's module state).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadApp, lowerApp } from './app';
import { liftMinimal } from './minimal-app';
import { freshTarget } from './targets';

/** Loads not measured: the minimal app's are quick, and its JIT warm-up is most of what grows at first. */
const WARMUP: Record<string, number> = { hook: 10, 'hook-http': 10, fund: 3, 'fund-http': 3 };
/** The lowered apps kept on purpose (`keep`). */
const kept: unknown[] = [];
const keep = process.argv[4] === 'keep';
/** Each load's Sails app and the hook's engine in it, weakly: which of them outlive their load. */
const loaded: { app: WeakRef<object>; engine: WeakRef<object> }[] = [];

function track(app: object, engine = (app as { hooks: Record<string, { engine?: object } | undefined> }).hooks.transact?.engine): void {
  if (engine === undefined) throw new Error('the hook did not start');
  loaded.push({ app: new WeakRef(app), engine: new WeakRef(engine) });
}

interface Lowerable {
  lower(cb: (err?: Error) => void): void;
}

async function hookApp(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Sails = require('sails').constructor as new () => Lowerable & {
    load(config: object, cb: (err?: Error) => void): void;
    transact(input: unknown, options?: object): Promise<unknown>;
    models: Record<string, { find(criteria: object): Promise<unknown[]> }>;
    hooks: Record<string, unknown>;
  };
  const appPath = mkdtempSync(join(tmpdir(), 'transact-heap-app-'));
  writeFileSync(join(appPath, 'package.json'), JSON.stringify({ name: 'heap-app', private: true }));
  const app = new Sails();
  const config = {
    appPath,
    environment: 'test',
    log: { level: 'error' },
    globals: false,
    hooks: {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      orm: require('sails-hook-orm'),
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      transact: require('../../lib'),
      http: false, sockets: false, pubsub: false, views: false, session: false, i18n: false, grunt: false, blueprints: false, policies: false,
    },
    models: { migrate: 'drop', datastore: 'default', dontUseObjectIds: true },
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    datastores: { default: { adapter: require('sails-disk'), inMemoryOnly: true } },
    orm: { moduleDefinitions: { models: { wallet: { transactional: true, attributes: { id: { type: 'string', required: true }, balance: { type: 'number', defaultsTo: 0 } } } } } },
    transact: { recoveryIntervalMs: 0, ambient: true },
  };
  await new Promise<void>((resolve, reject) => app.load(config, (err) => (err ? reject(err) : resolve())));
  const id = `w${process.hrtime.bigint()}`;
  await app.transact([{ op: 'create', model: 'wallet', id, values: { balance: 1 } }]);
  await app.transact(async () => {
    await app.models.wallet.find({ id });
  });
  track(app);
  await new Promise<void>((resolve, reject) => app.lower((err) => (err ? reject(err) : resolve())));
  if (keep) kept.push(app);
}

async function hookHttpApp(): Promise<void> {
  const app = await liftMinimal(await freshTarget('disk'), { transact: { ambient: true, recoveryIntervalMs: 50 } });
  await app.http().post('/wallet').send({ owner: 'heap', balance: 1 }).expect(201);
  await app.http().get('/wallet').expect(200);
  await new Promise((resolve) => setTimeout(resolve, 120));
  // The app object liftMinimal returns stands for the Sails app: what it holds (the models, the engine) is the app's.
  track(app.models, app.engine);
  await app.lower();
  if (keep) kept.push(app);
}

async function fundApp(http: boolean): Promise<void> {
  const app = await loadApp(await freshTarget('disk'), { migrate: 'drop', http });
  if (http) {
    const port = (app.config as unknown as { port: number }).port;
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/api/health' }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end();
    });
  }
  track(app);
  await lowerApp(app);
  if (keep) kept.push(app);
}

async function collected(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with node --expose-gc');
  // Several passes, a turn of the event loop apart: what lower's callbacks and sockets let go
  // (closed handles, settled promises) is freed by the next collection, not this one.
  for (let i = 0; i < 4; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
  return process.memoryUsage().heapUsed;
}

/** MB a load: the slope of the least-squares line through (load, heap). */
function slope(samples: number[]): number {
  const n = samples.length;
  const meanX = (n - 1) / 2;
  const meanY = samples.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  samples.forEach((y, x) => {
    num += (x - meanX) * (y - meanY);
    den += (x - meanX) ** 2;
  });
  return num / den;
}

async function main(): Promise<void> {
  const [kind, loadsArg] = process.argv.slice(2);
  const loads = Number(loadsArg);
  const once = kind === 'hook' ? hookApp : kind === 'hook-http' ? hookHttpApp : kind === 'fund' ? () => fundApp(false) : kind === 'fund-http' ? () => fundApp(true) : undefined;
  if (once === undefined || !(loads >= 2)) throw new Error('usage: heap-child.js hook|hook-http|fund|fund-http <loads ≥ 2> [keep]');
  for (let i = 0; i < WARMUP[kind]; i++) await once();
  const samples: number[] = [];
  for (let i = 0; i < loads; i++) {
    await once();
    samples.push((await collected()) / 2 ** 20);
  }
  // The last load's app may stay until the next load replaces it (Sails' and sails-hook-orm's
  // module state keep the app they last loaded): every earlier one must be gone.
  const earlier = loaded.slice(0, -1);
  const appsAlive = earlier.filter((ref) => ref.app.deref() !== undefined).length;
  const enginesAlive = earlier.filter((ref) => ref.engine.deref() !== undefined).length;
  const mb = (n: number): number => Math.round(n * 1000) / 1000;
  console.log(`HEAP ${JSON.stringify({ kind, keep, warmup: WARMUP[kind], loads, lowered: earlier.length, appsAlive, enginesAlive, perLoadMB: mb(slope(samples)), totalMB: mb(samples[samples.length - 1] - samples[0]), samplesMB: samples.map(mb) })}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
