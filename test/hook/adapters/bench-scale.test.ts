/**
 * The scale benchmark's generator (bench/scale-data.ts), kept honest at 500 ledger lines: the
 * fund it writes with bulk inserts passes the app's reconciliation and the fund's invariants, and
 * the history the log tells of its busiest investor and loan replays to their stored state.
 */
import { expect } from 'chai';
import { generateFund, mongoWriter, pgWriter } from '../../../bench/scale-data';
import type { LogCriteria } from '../../../lib/engine';
import { newLog } from '../../../lib/core/log-document';
import { listTransactions } from '../../../lib/operator/transactions';
import type { LogDocument } from '../../../lib/core/types';
import { type LoadedApp, loadApp, lowerApp } from '../../support/app';
import { asFund, engineOf, expectFundInvariants, reconciliationLib } from '../../support/fund';
import { forEachAdapter } from '../../support/targets';


describe('the transaction browser on a log that is never deleted', function () {
  /** A log of `size` documents, newest first, that refuses to be counted whole. */
  function fakeLog(size: number): { engine: Parameters<typeof listTransactions>[0]; reads: LogCriteria[] } {
    const reads: LogCriteria[] = [];
    const logs: LogDocument[] = Array.from({ length: size }, (_, i) => newLog({ id: String(size - i).padStart(24, '0'), state: 'committed', mode: 'batch', onCrash: 'rollback', owner: 'o', leaseUntil: 0, startedAt: size - i }));
    return {
      reads,
      engine: {
        findLogs: async (criteria: LogCriteria) => {
          reads.push(criteria);
          return logs.slice(criteria.skip ?? 0, (criteria.skip ?? 0) + (criteria.limit ?? size));
        },
        countLogs: async () => {
          if (size > 1_000) throw new Error('counted the whole log');
          return size;
        },
      },
    };
  }

  it('counts the matches only when at most countCap follow the page (one probe says), exact near the end, none beyond the cap', async function () {
    const small = fakeLog(120);
    const near = await listTransactions(small.engine, { limit: 50, skip: 50 }, { count: true, countCap: 100 });
    expect(near.total).to.equal(120);
    expect(near.items).to.have.length(50);
    expect(small.reads.some((r) => r.skip === 150 && r.limit === 1), 'the probe').to.equal(true);
    const big = fakeLog(10_000);
    const far = await listTransactions(big.engine, { limit: 50, skip: 0 }, { count: true, countCap: 100 });
    expect(far.total).to.equal(undefined);
    expect(far.items).to.have.length(50);
    expect(big.reads.every((r) => (r.skip ?? 0) + (r.limit ?? Infinity) <= 101), 'every read bounded').to.equal(true);
    const past = await listTransactions(small.engine, { limit: 50, skip: 500 }, { count: true, countCap: 100 });
    expect(past.total, 'past the end: still exact').to.equal(120);
  });
});

forEachAdapter('scale benchmark generator', (target, adapter) => {
  if (adapter === 'disk') return; // bulk inserts are PostgreSQL's and MongoDB's
  let app: LoadedApp | undefined;
  after(async function () {
    if (app !== undefined) await lowerApp(app);
  });

  it('writes a fund the app reconciles with no mismatch, whose history replays to the stored documents', async function () {
    this.timeout(60_000);
    app = await loadApp(target(), { migrate: 'drop', transact: { scheduler: false } });
    const writer = adapter === 'postgresql' ? await pgWriter(target().location) : await mongoWriter(target().location);
    let report;
    try {
      report = await generateFund(writer, { ledger: 500, logs: 600, benchPayments: 3 });
    } finally {
      await writer.close();
    }
    expect(report.rows.ledgerentry).to.be.at.least(500);
    expect(report.rows.transactlog).to.be.within(550, 650);
    const result = await reconciliationLib.reconcile(asFund(app));
    expect(result.mismatches).to.deep.equal([]);
    expect(result.stuck).to.deep.equal([]);
    expect(result.ok).to.equal(true);
    await expectFundInvariants(app);
    const engine = engineOf(app);
    for (const [model, id] of [['investor', report.fixtures.investor], ['loan', report.fixtures.loan]]) {
      const versions = await engine.history(model, id);
      expect(versions.length, `versions of ${model} ${id}`).to.be.greaterThan(1);
      const stored = (await app.models[model].findOne({ id })) as Record<string, unknown>;
      const last = versions[versions.length - 1].after as Record<string, unknown>;
      for (const field of model === 'investor' ? ['cash', 'invested', 'updatedAt'] : ['raised', 'updatedAt']) {
        expect(last[field], `${model}.${field} replayed from the log`).to.equal(stored[field]);
      }
    }
    expect(await engine.getLog(report.fixtures.transaction)).to.have.property('state', 'committed');
  });
});
