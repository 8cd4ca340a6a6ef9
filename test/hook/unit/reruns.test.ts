/**
 * withReruns (lib/engine/reruns.ts) and the hook runner (lib/engine/outcome-hooks.ts), pure: which
 * failures run again, the jittered pauses, the budget (each run's lock wait cut to what is left),
 * outcome_unknown never run again even if listed; hooks in order, each failure reported once.
 */
import { expect } from 'chai';
import { withReruns } from '../../../lib/engine/reruns';
import { TransactError } from '../../../lib/core/errors';
import { CallerRun, type HookFailure, OutcomeHooks, withOutcomeHooks } from '../../../lib/engine/outcome-hooks';
import type { TransactionOptions } from '../../../lib/core/validation';

describe('withReruns (pure)', function () {
  const failing = (code: string, runs: TransactionOptions[]) => async (options: TransactionOptions): Promise<never> => {
    runs.push(options);
    throw new TransactError(code as 'lock_timeout', code);
  };

  it('runs once without retry, with the options as given', async function () {
    const runs: TransactionOptions[] = [];
    const err = await withReruns({ lockTimeoutMs: 50 }, 10_000, { transactionRetries: 0 }, failing('lock_timeout', runs)).catch((e: unknown) => e);
    expect((err as TransactError).code).to.equal('lock_timeout');
    expect(runs).to.deep.equal([{ lockTimeoutMs: 50 }]);
  });

  it('runs again up to `attempts` on a listed code, without `retry` in each run\'s options, and counts the re-runs', async function () {
    const runs: TransactionOptions[] = [];
    const counter = { transactionRetries: 0 };
    const err = await withReruns({ label: 'x', retry: { attempts: 4 } }, 10_000, counter, failing('lock_timeout', runs), () => 0).catch((e: unknown) => e);
    expect((err as TransactError).code).to.equal('lock_timeout');
    expect(runs).to.deep.equal([{ label: 'x' }, { label: 'x' }, { label: 'x' }, { label: 'x' }]);
    expect(counter.transactionRetries).to.equal(3);
  });

  it('never runs outcome_unknown again, even listed (validation refuses it; this checks anyway), nor an unlisted code', async function () {
    for (const code of ['outcome_unknown', 'bound_violation', 'unavailable']) {
      const runs: TransactionOptions[] = [];
      await withReruns({ retry: { attempts: 5, on: ['lock_timeout', 'outcome_unknown' as 'lock_timeout'] } }, 10_000, { transactionRetries: 0 }, failing(code, runs), () => 0).catch(() => undefined);
      expect(runs, code).to.have.length(1);
    }
  });

  it('stops at the first success', async function () {
    let runs = 0;
    const value = await withReruns({ retry: { attempts: 5 } }, 10_000, { transactionRetries: 0 }, async () => {
      runs++;
      if (runs < 3) throw new TransactError('lock_timeout', 'busy');
      return 'ok';
    }, () => 0);
    expect({ value, runs }).to.deep.equal({ value: 'ok', runs: 3 });
  });

  it('pauses with full jitter under a doubling ceiling (20 ms, 40 ms, …, at most 1 s)', async function () {
    const starts: number[] = [];
    await withReruns({ retry: { attempts: 4 } }, 10_000, { transactionRetries: 0 }, async () => {
      starts.push(Date.now());
      throw new TransactError('lock_timeout', 'busy');
    }, () => 0.999).catch(() => undefined);
    const pauses = starts.slice(1).map((start, i) => start - starts[i]);
    // At the top of each ceiling (random ≈ 1): never shorter; longer only by the timers' lateness.
    expect(pauses[0]).to.be.within(18, 20 + 150);
    expect(pauses[1]).to.be.within(38, 40 + 150);
    expect(pauses[2]).to.be.within(78, 80 + 150);
  });

  it('keeps the budget: each run\'s lock wait is cut to what is left, and no pause ends past it', async function () {
    const runs: TransactionOptions[] = [];
    const started = Date.now();
    await withReruns({ retry: { attempts: 20, budgetMs: 120 } }, 10_000, { transactionRetries: 0 }, async (options) => {
      runs.push(options);
      await new Promise((resolve) => setTimeout(resolve, 30));
      throw new TransactError('lock_timeout', 'busy');
    }, () => 0.5).catch(() => undefined);
    // Past the budget by at most the last run's own 30 ms and the timers' lateness.
    expect(Date.now() - started).to.be.below(120 + 150);
    expect(runs.length).to.be.within(2, 5);
    expect(runs[0].lockTimeoutMs).to.be.within(100, 120);
    for (const [i, run] of runs.entries()) if (i > 0) expect(run.lockTimeoutMs as number).to.be.below(runs[i - 1].lockTimeoutMs as number);
  });
});

describe('outcome hooks (pure)', function () {
  const handle = (id: string): { id: string; hooks: OutcomeHooks } => ({ id, hooks: new OutcomeHooks() });

  it('runs the own run\'s afterCommit hooks in order, reporting each failure and going on', async function () {
    const run = new CallerRun();
    const seen: string[] = [];
    const failures: HookFailure[] = [];
    const tx = handle('t1');
    const work = run.track(async (h: typeof tx) => {
      h.hooks.add('afterCommit', () => void seen.push('a'));
      h.hooks.add('afterCommit', () => {
        throw new Error('b failed');
      });
      h.hooks.add('afterCommit', async () => void seen.push('c'));
      h.hooks.add('afterRollback', () => void seen.push('never'));
      return 42;
    });
    const value = await withOutcomeHooks(run, run.own(() => work(tx)), (failure) => failures.push(failure));
    expect(value).to.equal(42);
    expect(seen).to.deep.equal(['a', 'c']);
    expect(failures.map(({ kind, txId, index }) => ({ kind, txId, index }))).to.deep.equal([{ kind: 'afterCommit', txId: 't1', index: 1 }]);
  });

  it('runs nothing for an outcome that is not the run\'s own (a replay), nor on outcome_unknown', async function () {
    const seen: string[] = [];
    // A replay: the attempt that ran the callback failed (it lost its key), the caller gets the key's committed result.
    const replayed = new CallerRun();
    const tx = handle('t2');
    const work = replayed.track(async (h: typeof tx) => {
      h.hooks.add('afterCommit', () => void seen.push('commit'));
      h.hooks.add('afterRollback', () => void seen.push('rollback'));
      throw new TransactError('lease_lost', 'taken over');
    });
    const answer = replayed.own(() => work(tx)).catch(() => 'replayed result');
    expect(await withOutcomeHooks(replayed, answer, () => undefined)).to.equal('replayed result');

    const unknown = new CallerRun();
    const tx3 = handle('t3');
    const lost = unknown.track(async (h: typeof tx3) => {
      h.hooks.add('afterCommit', () => void seen.push('commit'));
      h.hooks.add('afterRollback', () => void seen.push('rollback'));
      throw new TransactError('outcome_unknown', 'reply lost');
    });
    const err = await withOutcomeHooks(unknown, unknown.own(() => lost(tx3)), () => undefined).catch((e: unknown) => e);
    expect((err as TransactError).code).to.equal('outcome_unknown');
    expect(seen).to.deep.equal([]);
  });

  it('refuses a hook that is not a function', function () {
    expect(() => new OutcomeHooks().add('afterCommit', 'later')).to.throw(/afterCommit takes a function/).with.property('code', 'validation_failed');
  });
});
