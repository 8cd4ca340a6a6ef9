/**
 * After-commit and after-rollback hooks, and bounded retries (issue 23, items 3 and 4), on every
 * adapter and commit path (the log protocol, PostgreSQL's native path, and log protocol v3 under
 * TRANSACT_TEST_PROTOCOL=redo). Hooks: they run once the outcome is known, in registration order,
 * once — never after a rollback (the callback threw, a lock wait ran out), never on a keyed replay,
 * neither on outcome_unknown — and one that throws is logged and counted, never the transaction's
 * error. Retries: a run that decided nothing (a real lock conflict) is run again until the holder
 * lets go, within its attempts and budget, ending in the last error; outcome_unknown never is.
 */
import { expect } from 'chai';
import { Engine } from '../../../lib/engine';
import { HOOK_ERRORS, TransactError } from '../../../lib/core/errors';
import { LOCK_IDENTITY, LOG_IDENTITY } from '../../../lib/models/hook-models';
import { validateOptions } from '../../../lib/core/validation';
import type { AtomicStore } from '../../../lib/store';
import { createNativePath } from '../../../lib/store';
import type { Transaction } from '../../../lib/engine/transaction';
import { type LoadedApp, useApp } from '../../support/app';
import { rejection } from '../../support/errors';
import { IDS, seedAccounts } from '../../support/scenario';
import { forEachPath, type Protocol, protocolConfig } from '../../support/targets';
import { datastoreOf } from '../../support/waterline-api';

/** What a hook-registering `db` offers (lib/waterline-api/connection.ts). */
interface HookedDb {
  afterCommit(fn: () => unknown): void;
  afterRollback(fn: (err: unknown) => unknown): void;
}

/** A transaction that holds alice's record until released: the second transaction a lock conflict needs. */
function holdAlice(engine: Engine): { held: Promise<void>; release: () => void; done: Promise<unknown> } {
  let release!: () => void;
  let onHeld!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const held = new Promise<void>((resolve) => (onHeld = resolve));
  const done = engine.interactive(async (tx) => {
    await tx.read('account', IDS.alice);
    onHeld();
    await gate;
  }, { label: 'holder' });
  return { held, release, done };
}

const ECONNRESET = (): Error => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });

/**
 * An engine on the app's datastore whose commit lands and whose reply — and every read of the log
 * after it — is lost: outcome_unknown on each path (the log protocol's commit compare-and-set, v3's
 * committed log insert, the native path's COMMIT).
 */
async function lossyEngine(app: LoadedApp, protocol: Protocol | 'redo'): Promise<Engine> {
  const engine = app.hooks.transact.engine as Engine;
  const state = { broken: false };
  const store = new Proxy(engine.store, {
    get(inner, property, receiver) {
      const value = Reflect.get(inner, property, receiver) as unknown;
      if (property === 'updateLog') {
        return async (id: string, guard: unknown, patch: { state?: string }) => {
          if (state.broken) throw ECONNRESET();
          const landed = await inner.updateLog(id, guard as never, patch as never);
          if (patch.state === 'committed') state.broken = true;
          if (state.broken) throw ECONNRESET();
          return landed;
        };
      }
      if (property === 'insertLog') {
        return async (log: { state?: string }) => {
          if (state.broken) throw ECONNRESET();
          const landed = await inner.insertLog(log as never);
          if (log.state === 'committed') state.broken = true;
          if (state.broken) throw ECONNRESET();
          return landed;
        };
      }
      if (property === 'getLog') return async (id: string) => (state.broken ? Promise.reject(ECONNRESET()) : inner.getLog(id));
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(inner) : value;
    },
  }) as AtomicStore;
  const modelOf = (identity: string) => app.models[identity];
  const options = { ...engine.options, instanceId: 'lossy', retry: { ...engine.options.retry, retries: 1 } };
  let lossy: Engine;
  if (engine.records !== undefined) {
    lossy = new Engine(store, modelOf, options, () => undefined, undefined, () => Object.keys(app.models), engine.records);
  } else if (protocol === 'native') {
    const native = createNativePath(app.models[LOG_IDENTITY], app.models[LOCK_IDENTITY], modelOf, engine.options.leaseMs);
    if (native === undefined) throw new Error('no native path');
    const lossyNative = new Proxy(native, {
      get(inner, property, receiver) {
        const value = Reflect.get(inner, property, receiver) as unknown;
        if (property === 'run') {
          return async (...args: Parameters<typeof inner.run>) => {
            await inner.run(...args);
            // COMMIT landed; its reply is lost, and so is every read of the log after it.
            state.broken = true;
            throw ECONNRESET();
          };
        }
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(inner) : value;
      },
    });
    lossy = new Engine(store, modelOf, options, () => undefined, lossyNative, () => Object.keys(app.models));
  } else {
    lossy = new Engine(store, modelOf, options, () => undefined, undefined, () => Object.keys(app.models));
  }
  await lossy.start();
  return lossy;
}

describe('retry options (pure)', function () {
  it('are validated strictly: a typed validation_failed (400) naming where', function () {
    const refused = (options: unknown): { code: string; path: string | undefined; status: number | undefined } => {
      try {
        validateOptions(options);
      } catch (err) {
        const e = err as TransactError;
        return { code: e.code, path: e.path, status: HOOK_ERRORS.statusOf(e.code) };
      }
      throw new Error(`accepted ${JSON.stringify(options)}`);
    };
    expect(refused({ retry: {} })).to.deep.equal({ code: 'validation_failed', path: 'options.retry.attempts', status: 400 });
    expect(refused({ retry: { attempts: 0 } }).path).to.equal('options.retry.attempts');
    expect(refused({ retry: { attempts: 1.5 } }).path).to.equal('options.retry.attempts');
    expect(refused({ retry: { attempts: 21 } }).path).to.equal('options.retry.attempts');
    expect(refused({ retry: { attempts: '3' } }).path).to.equal('options.retry.attempts');
    expect(refused({ retry: { attempts: 3, on: ['outcome_unknown'] } }).path).to.equal('options.retry.on.0');
    expect(refused({ retry: { attempts: 3, on: ['bound_violation'] } }).path).to.equal('options.retry.on.0');
    expect(refused({ retry: { attempts: 3, on: [] } }).path).to.equal('options.retry.on');
    expect(refused({ retry: { attempts: 3, on: ['lock_timeout', 'lock_timeout'] } }).path).to.equal('options.retry.on.1');
    expect(refused({ retry: { attempts: 3, budgetMs: 0 } }).path).to.equal('options.retry.budgetMs');
    expect(refused({ retry: { attempts: 3, backoff: 5 } }).path).to.equal('options.retry.backoff');
    expect(refused({ retry: true }).path).to.equal('options.retry');
    expect(validateOptions({ retry: { attempts: 3, on: ['lock_timeout', 'unavailable'], budgetMs: 2000 } })).to.deep.equal({ retry: { attempts: 3, on: ['lock_timeout', 'unavailable'], budgetMs: 2000 } });
  });

  it("says why outcome_unknown is never retried", function () {
    try {
      validateOptions({ retry: { attempts: 2, on: ['outcome_unknown'] } });
      expect.fail('accepted');
    } catch (err) {
      expect((err as Error).message).to.match(/outcome_unknown may have committed and is never retried/);
    }
  });
});

forEachPath('after-commit hooks and retries', (target, _adapter, protocol) => {
  const getApp = useApp(target, { migrate: 'drop', transact: { ...protocolConfig(protocol), waterlineTransactions: 'engine', leaseMs: 5000, recoveryIntervalMs: 0, instanceId: 'hooks' } }, seedAccounts);
  let app: LoadedApp;
  let engine: Engine;
  beforeEach(function () {
    app = getApp();
    engine = app.hooks.transact.engine as Engine;
  });
  const balance = async (id: string): Promise<unknown> => (await app.models.account.findOne({ id }))?.balance;

  describe('hooks', function () {
    it('afterCommit runs once, after the commit is durable, in registration order; afterRollback does not', async function () {
      const seen: string[] = [];
      const result = await engine.interactive(async (tx) => {
        tx.afterCommit(async () => {
          // The commit is durable and visible to anyone: a plain read sees it.
          seen.push(`first:${String(await balance(IDS.alice))}`);
        });
        tx.afterRollback(() => void seen.push('rollback'));
        await tx.increment('account', IDS.alice, 'balance', -100);
        tx.afterCommit(() => void seen.push('second'));
        tx.afterCommit(() => void seen.push('third'));
        return 'done';
      });
      expect(result).to.equal('done');
      expect(seen).to.deep.equal(['first:900', 'second', 'third']);
    });

    it('never runs afterCommit when the callback throws: afterRollback runs, once, with its error, and nothing stays', async function () {
      const seen: unknown[] = [];
      const err = await engine
        .interactive(async (tx) => {
          tx.afterCommit(() => void seen.push('commit'));
          tx.afterRollback((e) => void seen.push(['rollback', (e as Error).message]));
          await tx.increment('account', IDS.alice, 'balance', -100);
          throw new Error('changed my mind');
        })
        .then(() => null, (e: unknown) => e as Error);
      expect(err?.message).to.equal('changed my mind');
      expect(seen).to.deep.equal([['rollback', 'changed my mind']]);
      expect(await balance(IDS.alice)).to.equal(1000);
    });

    it('never runs afterCommit after a lock conflict (another transaction holds the record): afterRollback gets the lock_timeout', async function () {
      const holder = holdAlice(engine);
      await holder.held;
      const seen: string[] = [];
      try {
        const err = await rejection(
          engine.interactive(async (tx) => {
            tx.afterCommit(() => void seen.push('commit'));
            tx.afterRollback((e) => void seen.push(`rollback:${(e as TransactError).code}`));
            await tx.increment('account', IDS.alice, 'balance', -100);
          }, { lockTimeoutMs: 150 }),
        );
        expect(err.code).to.equal('lock_timeout');
      } finally {
        holder.release();
        await holder.done;
      }
      expect(seen).to.deep.equal(['rollback:lock_timeout']);
      expect(await balance(IDS.alice)).to.equal(1000);
    });

    it('a hook that throws does not fail the transaction: it is logged and counted, and the hooks after it run', async function () {
      const before = app.hooks.transact.stats().hookFailures;
      const warned: string[] = [];
      const warn = app.log.warn;
      app.log.warn = (...args: unknown[]) => void warned.push(String(args[0]));
      const seen: string[] = [];
      try {
        await engine.interactive(async (tx) => {
          await tx.increment('account', IDS.alice, 'balance', -100);
          tx.afterCommit(() => {
            throw new Error('the mailer is down');
          });
          tx.afterCommit(() => Promise.reject(new Error('so is the queue')));
          tx.afterCommit(() => void seen.push('third'));
        });
        const err = await engine
          .interactive(async (tx) => {
            tx.afterRollback(() => {
              throw new Error('rollback hook failed too');
            });
            throw new TransactError('conflict', 'refused by the callback');
          })
          .then(() => null, (e: unknown) => e as TransactError);
        expect(err?.code, 'the callback\'s own error, not the hook\'s').to.equal('conflict');
      } finally {
        app.log.warn = warn;
      }
      expect(seen).to.deep.equal(['third']);
      expect(await balance(IDS.alice), 'the commit stands').to.equal(900);
      expect(app.hooks.transact.stats().hookFailures - before).to.equal(3);
      expect(warned.filter((line) => /afterCommit hook #1 threw/.test(line))).to.have.length(1);
      expect(warned.filter((line) => /afterCommit hook #2 threw/.test(line))).to.have.length(1);
      expect(warned.filter((line) => /afterRollback hook #1 threw/.test(line))).to.have.length(1);
    });

    it('a keyed replay does not run the hooks again, of a commit or of a refusal', async function () {
      let commits = 0;
      let rollbacks = 0;
      const committing = async (tx: Transaction): Promise<string> => {
        tx.afterCommit(() => void commits++);
        tx.afterRollback(() => void rollbacks++);
        await tx.increment('account', IDS.alice, 'balance', -100);
        return 'paid';
      };
      expect(await engine.interactive(committing, { idempotencyKey: 'hooks-commit' })).to.equal('paid');
      expect(await engine.interactive(committing, { idempotencyKey: 'hooks-commit' })).to.equal('paid');
      expect({ commits, rollbacks }).to.deep.equal({ commits: 1, rollbacks: 0 });
      expect(await balance(IDS.alice)).to.equal(900);

      const refusing = async (tx: Transaction): Promise<void> => {
        tx.afterCommit(() => void commits++);
        tx.afterRollback(() => void rollbacks++);
        await tx.increment('account', IDS.alice, 'balance', -100);
        throw new TransactError('conflict', 'refused');
      };
      expect((await rejection(engine.interactive(refusing, { idempotencyKey: 'hooks-refusal' }))).code).to.equal('conflict');
      const replay = await rejection(engine.interactive(refusing, { idempotencyKey: 'hooks-refusal' }));
      expect(replay.details?.replayed).to.equal(true);
      expect({ commits, rollbacks }).to.deep.equal({ commits: 1, rollbacks: 1 });
    });

    it('a hook registered after the callback returned is refused (transaction_ended)', async function () {
      let handle: Transaction | undefined;
      await engine.interactive(async (tx) => {
        handle = tx;
      });
      expect(() => handle?.afterCommit(() => undefined)).to.throw(/has already ended/).with.property('code', 'transaction_ended');
    });

    it("Waterline's db: db.afterCommit runs after the commit, db.afterRollback after a throw", async function () {
      const seen: string[] = [];
      const account = app.models.account as unknown as { updateOne(c: object): { set(v: object): { usingConnection(db: unknown): Promise<unknown> } } };
      await datastoreOf(app).transaction(async (db) => {
        (db as HookedDb).afterCommit(async () => void seen.push(`commit:${String(await balance(IDS.alice))}`));
        (db as HookedDb).afterRollback(() => void seen.push('rollback'));
        await account.updateOne({ id: IDS.alice }).set({ balance: 400 }).usingConnection(db);
      });
      const err = await Promise.resolve(
        datastoreOf(app).transaction(async (db) => {
          (db as HookedDb).afterCommit(() => void seen.push('commit again'));
          (db as HookedDb).afterRollback((e) => void seen.push(`rollback:${(e as Error).message}`));
          await account.updateOne({ id: IDS.alice }).set({ balance: 0 }).usingConnection(db);
          throw new Error('nope');
        }),
      ).then(() => null, (e: unknown) => e as Error);
      expect(err?.message).to.equal('nope');
      expect(seen).to.deep.equal(['commit:400', 'rollback:nope']);
      expect(await balance(IDS.alice)).to.equal(400);
    });

    it('outcome_unknown (the commit reply lost) runs neither hook, and is never retried', async function () {
      const lossy = await lossyEngine(app, protocol);
      let runs = 0;
      const seen: string[] = [];
      const err = await rejection(
        lossy.interactive(async (tx) => {
          runs++;
          tx.afterCommit(() => void seen.push('commit'));
          tx.afterRollback(() => void seen.push('rollback'));
          await tx.increment('account', IDS.alice, 'balance', -100);
        }, { retry: { attempts: 5, on: ['lock_timeout', 'lease_lost', 'unavailable', 'in_progress'] } }),
      );
      expect(err.code).to.equal('outcome_unknown');
      expect(runs, 'runs of the callback').to.equal(1);
      expect(seen, 'hooks run').to.deep.equal([]);
      // Recovery (here: the app's engine) says later: it committed.
      expect((await engine.outcome(String(err.details?.transaction), 5000)).state).to.equal('committed');
    });
  });

  describe('retries', function () {
    it('a real lock conflict is run again until the holder lets go; only the last run\'s hooks run', async function () {
      const holder = holdAlice(engine);
      await holder.held;
      const before = app.hooks.transact.stats().transactionRetries;
      let runs = 0;
      const seen: string[] = [];
      setTimeout(() => holder.release(), 600);
      const result = await engine.interactive(async (tx) => {
        const run = ++runs;
        tx.afterCommit(() => void seen.push(`commit#${run}`));
        tx.afterRollback(() => void seen.push(`rollback#${run}`));
        await tx.increment('account', IDS.alice, 'balance', -100);
        return run;
      }, { lockTimeoutMs: 100, retry: { attempts: 20, on: ['lock_timeout'], budgetMs: 15_000 } });
      await holder.done;
      expect(runs, 'runs').to.be.greaterThan(1);
      expect(result).to.equal(runs);
      expect(seen).to.deep.equal([`commit#${runs}`]);
      expect(await balance(IDS.alice)).to.equal(900);
      expect(app.hooks.transact.stats().transactionRetries - before).to.equal(runs - 1);
    });

    it('a batch is run again too', async function () {
      const holder = holdAlice(engine);
      await holder.held;
      setTimeout(() => holder.release(), 500);
      const result = await engine.batch([{ op: 'increment', model: 'account', id: IDS.alice, field: 'balance', by: -100 }], { lockTimeoutMs: 100, retry: { attempts: 20, budgetMs: 15_000 } });
      await holder.done;
      expect(result.state).to.equal('committed');
      expect(await balance(IDS.alice)).to.equal(900);
    });

    it('attempts exhausted: the last lock_timeout, after exactly `attempts` runs', async function () {
      const holder = holdAlice(engine);
      await holder.held;
      let runs = 0;
      try {
        const err = await rejection(
          engine.interactive(async (tx) => {
            runs++;
            await tx.read('account', IDS.alice);
          }, { lockTimeoutMs: 80, retry: { attempts: 3 } }),
        );
        expect(err.code).to.equal('lock_timeout');
      } finally {
        holder.release();
        await holder.done;
      }
      expect(runs).to.equal(3);
    });

    it('the budget is kept: no run or pause past it, each lock wait cut to what is left', async function () {
      this.timeout(20_000);
      const holder = holdAlice(engine);
      await holder.held;
      let runs = 0;
      const started = Date.now();
      let elapsed: number;
      try {
        const err = await rejection(
          engine.interactive(async (tx) => {
            runs++;
            await tx.read('account', IDS.alice);
          }, { lockTimeoutMs: 300, retry: { attempts: 20, budgetMs: 700 } }),
        );
        elapsed = Date.now() - started;
        expect(err.code).to.equal('lock_timeout');
      } finally {
        holder.release();
        await holder.done;
      }
      expect(runs, 'runs').to.be.within(2, 19);
      // A lock wait is polled, and PostgreSQL's lock_timeout has its own grain: some slack past the budget.
      expect(elapsed, 'ms taken').to.be.below(700 + 400);
    });

    it('an error that decided something is not run again', async function () {
      let runs = 0;
      const err = await rejection(
        engine.interactive(async (tx) => {
          runs++;
          await tx.increment('account', IDS.dave, 'balance', -100, { min: 0 });
        }, { retry: { attempts: 5, on: ['lock_timeout', 'lease_lost', 'unavailable', 'in_progress'] } }),
      );
      expect(err.code).to.equal('bound_violation');
      expect(runs).to.equal(1);
    });

    it('a keyed transaction is run again under its key: its repeat then replays, running nothing', async function () {
      const holder = holdAlice(engine);
      await holder.held;
      setTimeout(() => holder.release(), 500);
      let runs = 0;
      let commits = 0;
      const work = async (tx: Transaction): Promise<string> => {
        runs++;
        tx.afterCommit(() => void commits++);
        await tx.increment('account', IDS.alice, 'balance', -100);
        return 'ok';
      };
      const options = { idempotencyKey: 'retried-key', lockTimeoutMs: 100, retry: { attempts: 20, budgetMs: 15_000 } };
      expect(await engine.interactive(work, options)).to.equal('ok');
      await holder.done;
      const ranBefore = runs;
      expect(ranBefore).to.be.greaterThan(1);
      expect(await engine.interactive(work, options)).to.equal('ok');
      expect(runs, 'the repeat ran nothing').to.equal(ranBefore);
      expect(commits).to.equal(1);
      expect(await balance(IDS.alice)).to.equal(900);
    });
  });
});
