/**
 * What the callers of one idempotency key are told: one answer for every caller, on every path.
 * A keyed failure is replayed exactly as it was recorded (code, message, path, details) whether
 * the transaction ran on the log protocol or on PostgreSQL's native path; an owner that stalled
 * (at its commit point, or before it planned) while recovery and a repeat of its key ran reports
 * only its own commit or its own recorded failure, else the key's outcome as a replay; an owner
 * waiting for its locks past its lease keeps its log alive meanwhile.
 */
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { Engine } from '../../../lib/engine';
import { isTransactError, TransactError } from '../../../lib/core/errors';
import type { Transaction } from '../../../lib/engine/transaction';
import type { LogPatch, Step } from '../../../lib/core/types';
import { type LoadedApp, useApp } from '../../support/app';
import { startChild, waitStopped } from '../../support/child';
import { rejection } from '../../support/errors';
import { Gate } from '../../support/gated';
import { checkLedger, expectConsistent, LOAD_ACCOUNTS, seedLoadAccounts, START_BALANCE, transferOperations } from '../../support/load';
import { IDS, seedAccounts } from '../../support/scenario';
import { forEachPath, protocolConfig } from '../../support/targets';

const LEASE_MS = 1000;

/** What a caller was told: the outcome's code, and the steps it reported as its own (null: none). */
interface Told {
  outcome: string;
  steps: [string, unknown, unknown][] | null;
}

/** Steps as (document, balance before, balance after): enough to tell two attempts apart. */
function balances(steps: readonly Step[]): [string, unknown, unknown][] {
  return steps.map((step) => [step.id, step.before?.balance ?? null, step.after?.balance ?? null]);
}

/** A replayed refusal as a caller sees it, without the transaction id (which differs per key). */
function replayed(err: TransactError<string>): { code: string; message: string; path: string | undefined; details: Record<string, unknown> } {
  const { transaction: _transaction, ...details } = err.details ?? {};
  return { code: err.code, message: err.message, path: err.path, details };
}

forEachPath('keyed outcomes', (target, adapter, protocol) => {
  const getApp = useApp(target, { migrate: 'drop', transact: { leaseMs: LEASE_MS, clockSkewMs: 0, recoveryIntervalMs: 0, instanceId: 'keyed', ...protocolConfig(protocol) } }, seedAccounts);
  let app: LoadedApp;
  let engine: Engine;
  beforeEach(function () {
    app = getApp();
    engine = app.hooks.transact.engine as Engine;
  });

  const balance = async (id: string): Promise<unknown> => (await app.models.account.findOne({ id }))?.balance;

  it('a plain Error thrown by a keyed callback is recorded: a repeat replays it as aborted, the callback never runs again', async function () {
    let runs = 0;
    const work = async (tx: Transaction): Promise<void> => {
      runs++;
      await tx.increment('account', IDS.alice, 'balance', 1);
      throw new Error('the callback gave up');
    };
    const first = await engine.interactive(work, { idempotencyKey: 'plain-error' }).then(() => null, (err: unknown) => err);
    expect(first, 'the first caller gets its own error').to.be.instanceOf(Error);
    expect((first as Error).message).to.equal('the callback gave up');
    const repeat = await rejection(engine.interactive(work, { idempotencyKey: 'plain-error' }));
    expect(replayed(repeat)).to.deep.equal({ code: 'aborted', message: 'the callback gave up', path: undefined, details: { replayed: true } });
    expect(runs, 'times the callback ran').to.equal(1);
    expect(await balance(IDS.alice), 'nothing of it remains').to.equal(1000);
  });

  it("a keyed refusal is replayed with its code, message, path and details, as the log protocol records them", async function () {
    let runs = 0;
    const refusal = new TransactError<string>('payout_refused', 'the payout exceeds the limit', { path: 'amount', details: { limit: 500, asked: 700 } });
    const work = async (tx: Transaction): Promise<void> => {
      runs++;
      await tx.increment('account', IDS.alice, 'balance', -700);
      throw refusal;
    };
    const first = await rejection(engine.interactive(work, { idempotencyKey: 'refused-payout' }));
    expect(first.code).to.equal('payout_refused');
    const repeat = await rejection(engine.interactive(work, { idempotencyKey: 'refused-payout' }));
    expect(replayed(repeat)).to.deep.equal({ code: 'payout_refused', message: 'the payout exceeds the limit', path: 'amount', details: { limit: 500, asked: 700, replayed: true } });
    expect(runs).to.equal(1);
    expect(await balance(IDS.alice)).to.equal(1000);
  });

  describe('a keyed owner that stalls or waits past its lease while recovery and a repeat of its key run', function () {
    // On the native path PostgreSQL's COMMIT is the commit point: nothing runs between it and the writes.
    const logOnly = protocol === 'log' ? it : it.skip;
    const [A, B, C] = LOAD_ACCOUNTS;
    beforeEach(async function () {
      await seedLoadAccounts(app);
    });

    /** Where the stalled owner stops: at its commit compare-and-set, or logged and before it takes its locks (and plans). */
    type StallPoint = 'commit:sending' | 'batch:logged';
    /** The store call a sails-disk owner is held at for each stall point (one process: a gate, not a signal). */
    const gateAt: Record<StallPoint, [method: string, match: (args: readonly unknown[]) => boolean]> = {
      'commit:sending': ['updateLog', (args) => (args[2] as LogPatch).state === 'committed'],
      'batch:logged': ['insertLocks', () => true],
    };

    /**
     * Starts the keyed transfer A → B in another instance and stalls it for real at `point`: a
     * frozen process (SIGSTOP) on the multi-process datastores, its store calls (heartbeats
     * included) held at a gate on sails-disk (one process). `resume` lets it go on and returns
     * what its caller was told.
     */
    async function stallAt(point: StallPoint, key: string, amount: number): Promise<() => Promise<Told>> {
      if (adapter === 'disk') {
        const store = Gate.wrap(engine.store);
        store.gate.closeWhen(...gateAt[point]);
        const owner = new Engine(store, (identity) => app.models[identity], { ...engine.options, instanceId: 'stalled-owner' });
        await owner.start();
        const told = owner.batch(transferOperations(A, B, amount), { label: 'load', idempotencyKey: key }).then(
          (result): Told => ({ outcome: 'committed', steps: balances(result.steps) }),
          (err: unknown): Told => ({ outcome: isTransactError(err) ? err.code : String(err), steps: null }),
        );
        await store.gate.held();
        return async () => {
          store.gate.open();
          return told;
        };
      }
      const env = { TRANSACT_PROTOCOL: 'log', TRANSACT_CRASH_SIGNAL: 'SIGSTOP', CHILD_MIGRATE: 'safe', TRANSACT_INSTANCE: 'stalled-owner', CHILD_LEASE_MS: String(LEASE_MS) };
      const child = startChild(target(), ['keyed-transfer', key, String(amount)], point, env, 90_000);
      await waitStopped(child.process.pid as number);
      return async () => {
        child.process.kill('SIGCONT');
        const result = await child.done;
        expect(result.code, result.stderr).to.equal(0);
        const steps = JSON.parse(result.lines.get('STEPS') as string) as Step[] | null;
        return { outcome: JSON.parse(result.lines.get('OUTCOME') as string) as string, steps: steps === null ? null : balances(steps) };
      };
    }

    logOnly("is told the key's one outcome, never its own rolled-back steps as a success", async function () {
      this.timeout(120_000);
      const key = `stalled-at-commit-${adapter}`;
      const resume = await stallAt('commit:sending', key, 10);
      // Its lease runs out; recovery rolls its attempt back (nothing of it was committed).
      await sleep(LEASE_MS + 500);
      const summary = await app.hooks.transact.recover();
      expect(summary.rolledBack, 'the stalled attempt, rolled back by recovery').to.equal(1);
      // A moves on, then a repeat of the key runs the transfer again, from A's new balance.
      await engine.batch(transferOperations(A, C, 5000), { label: 'load' });
      const repeat = await engine.batch(transferOperations(A, B, 10), { label: 'load', idempotencyKey: key });
      expect(balances(repeat.steps)).to.deep.equal([[A, 5000, 4990], [B, START_BALANCE, START_BALANCE + 10]]);
      // The stalled owner goes on: its commit is refused; it answers what the key decided, as every caller does.
      const told = await resume();
      expect(told, 'what the stalled caller was told').to.deep.equal({ outcome: 'committed', steps: balances(repeat.steps) });
      await expectConsistent(app);
      expect((await app.models.account.findOne({ id: A }))?.balance).to.equal(4990);
    });

    logOnly("a keyed batch stalled before it planned is told the key's one outcome, never a refusal planned on the repeat's commit", async function () {
      this.timeout(120_000);
      const key = `stalled-before-planning-${adapter}`;
      const amount = 10;
      const resume = await stallAt('batch:logged', key, amount);
      await sleep(LEASE_MS + 500);
      const summary = await app.hooks.transact.recover();
      expect(summary.rolledBack, 'the stalled attempt, rolled back by recovery (owner_died: it decided nothing)').to.equal(1);
      // A keeps exactly the amount; the repeat of the key moves it, so the same transfer planned now would go below 0.
      await engine.batch(transferOperations(A, C, START_BALANCE - amount), { label: 'load' });
      const repeat = await engine.batch(transferOperations(A, B, amount), { label: 'load', idempotencyKey: key });
      expect(balances(repeat.steps)).to.deep.equal([[A, amount, 0], [B, START_BALANCE, START_BALANCE + amount]]);
      // The stalled owner goes on: it takes its locks and plans on the repeat's commit (bound_violation), but the log is not its own any more.
      const told = await resume();
      expect(told, 'what the stalled caller was told').to.deep.equal({ outcome: 'committed', steps: balances(repeat.steps) });
      await expectConsistent(app);
    });

    logOnly('a keyed batch waiting for its locks past leaseMs keeps its log alive: recovery leaves it be, and it commits', async function () {
      this.timeout(60_000);
      // An instance of its own with a longer lease: its heartbeat (every third of it) has room on a loaded machine.
      const leaseMs = 4 * LEASE_MS;
      const waiterEngine = new Engine(engine.store, (identity) => app.models[identity], { ...engine.options, instanceId: 'waiter', leaseMs });
      await waiterEngine.start();
      let release = (): void => undefined;
      const released = new Promise<void>((resolve) => (release = resolve));
      let holding = (): void => undefined;
      const held = new Promise<void>((resolve) => (holding = resolve));
      const holder = waiterEngine.interactive(async (tx) => {
        await tx.increment('account', A, 'balance', -1);
        holding();
        await released;
      }, { label: 'load' });
      await held;
      const waiter = waiterEngine.batch(transferOperations(A, B, 10), { label: 'load', idempotencyKey: `waits-past-its-lease-${adapter}`, lockTimeoutMs: 10 * leaseMs });
      // Past the lease its log was inserted with: only a heartbeat keeps recovery from claiming it.
      await sleep(leaseMs + 1000);
      const summary = await app.hooks.transact.recover();
      expect(summary.rolledBack, 'transactions recovery rolled back while they waited for locks').to.equal(0);
      release();
      await holder;
      const result = await waiter;
      expect(balances(result.steps)).to.deep.equal([[A, START_BALANCE - 1, START_BALANCE - 11], [B, START_BALANCE, START_BALANCE + 10]]);
      const ledger = await checkLedger(app);
      expect(ledger.mismatched, 'accounts that differ from their committed history').to.deep.equal([]);
      expect([ledger.activeLogs, ledger.locks]).to.deep.equal([0, 0]);
    });
  });
});
