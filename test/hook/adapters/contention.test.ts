/**
 * Isolation under hot contention: 16 concurrent workers run 500 random transfers among 10
 * accounts with "balance never below 0". Afterwards no money was created or lost, no balance is
 * negative, and every transfer the engine reported committed is applied exactly once — checked
 * against the log, account by account.
 */
import { expect } from 'chai';
import type { Engine } from '../../../lib/engine';
import { type LoadedApp, loadApp, lowerApp } from '../../support/app';
import { checkLedger, LOAD_ACCOUNTS, runTransfers, seedLoadAccounts, START_BALANCE } from '../../support/load';
import { forEachAdapter } from '../../support/targets';

forEachAdapter('contention: 16 workers, 500 transfers, 10 accounts', (target, adapter) => {
  let app: LoadedApp;

  before(async function () {
    app = await loadApp(target(), { migrate: 'drop', transact: { lockTimeoutMs: 20_000 } });
    await seedLoadAccounts(app);
  });
  after(async function () {
    if (app !== undefined) await lowerApp(app);
  });

  it('keeps the sum, never goes negative, and applies each committed transfer exactly once', async function () {
    this.timeout(600_000);
    const engine = app.hooks.transact.engine as Engine;
    const started = Date.now();
    const outcome = await runTransfers(engine, 500, 16);
    const seconds = (Date.now() - started) / 1000;
    const ledger = await checkLedger(app);
    console.log(
      `      [${adapter}] committed ${outcome.committed}, refused (insufficient funds) ${outcome.insufficient}, ` +
        `lock timeouts ${outcome.lockTimeouts}, transient retries ${engine.retries.retried}, other errors ${outcome.otherErrors.length}; ` +
        `${seconds.toFixed(1)} s, ${(500 / seconds).toFixed(0)} tx/s`,
    );
    expect(outcome.otherErrors).to.deep.equal([]);
    expect(outcome.committed + outcome.insufficient + outcome.lockTimeouts).to.equal(500);
    expect(ledger.sum).to.equal(LOAD_ACCOUNTS.length * START_BALANCE);
    expect(ledger.negative).to.deep.equal([]);
    expect(ledger.committedLogs).to.equal(outcome.committed);
    expect(ledger.transfers).to.equal(outcome.committed);
    expect(ledger.unmatched).to.equal(0);
    expect(ledger.mismatched).to.deep.equal([]);
    expect(ledger.activeLogs).to.equal(0);
    expect(ledger.locks).to.equal(0);
  });
});
