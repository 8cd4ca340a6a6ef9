/**
 * Several app instances on one database: all state (log, locks, leases) lives in the datastore.
 * Two real processes run transfers against the same accounts while this process runs its own
 * recovery timer; one of them is killed (SIGKILL) in the middle of a transaction. Its
 * unfinished transactions are each claimed by exactly one surviving instance, and afterwards the
 * money adds up. sails-disk is single-process and is not part of this suite.
 */
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { type LoadedApp, loadApp, lowerApp } from './support/app';
import { runChild } from './support/child';
import { checkLedger, LOAD_ACCOUNTS, seedLoadAccounts, START_BALANCE } from './support/load';
import { forEachPath, freshTarget, protocolConfig } from './support/targets';

forEachPath('several instances, one killed mid-load', (target, adapter, protocol) => {
  if (adapter === 'disk') return;
  // Leases long enough that the survivor keeps its own under two loaded processes on FerretDB
  // (losing them there would be safe, but is not what this test is about).
  const env = { TRANSACT_PROTOCOL: protocol, CHILD_LEASE_MS: '3000' };
  let app: LoadedApp;

  before(async function () {
    app = await loadApp(target(), { migrate: 'drop', transact: { leaseMs: 3000, clockSkewMs: 0, recoveryIntervalMs: 150, instanceId: 'observer', ...protocolConfig(protocol) } });
    await seedLoadAccounts(app);
  });
  after(async function () {
    if (app !== undefined) await lowerApp(app);
  });

  it('recovers the killed instance\'s transactions exactly once each, and the money adds up', async function () {
    this.timeout(300_000);
    const [killed, survivor] = await Promise.all([
      runChild(target(), ['load', '200'], 'batch:applied#25', { ...env, TRANSACT_INSTANCE: 'instance-a' }),
      runChild(target(), ['load', '60'], undefined, { ...env, TRANSACT_INSTANCE: 'instance-b' }),
    ]);
    expect(killed.signal, killed.stderr).to.equal('SIGKILL');
    expect(killed.lines.has('LOADED'), 'instance a died mid-load').to.equal(false);
    expect(survivor.code, survivor.stderr).to.equal(0);
    expect(JSON.parse(survivor.lines.get('LOADED') as string).otherErrors).to.deep.equal([]);

    const deadline = Date.now() + 20_000;
    let ledger = await checkLedger(app);
    while ((ledger.activeLogs > 0 || ledger.locks > 0) && Date.now() < deadline) {
      await sleep(100);
      ledger = await checkLedger(app);
    }
    const logs = await app.models.transactlog.find({});
    const recovered = logs.filter((log) => (log.recoveries as number) > 0);
    console.log(`      [${adapter}] ${logs.length} transactions, ${recovered.length} recovered: ${recovered.map((log) => `${String(log.owner).split('#')[0]}→${log.state}`).join(', ')}`);
    // On the native path PostgreSQL rolled the killed transaction back itself: nothing to recover.
    if (protocol === 'log') expect(recovered.length, 'the transaction instance a died in').to.be.at.least(1);
    else expect(recovered.length).to.equal(0);
    for (const log of recovered) {
      expect(log.recoveries, `${log.id} claimed by exactly one instance`).to.equal(1);
      expect(String(log.owner)).to.match(/^(instance-b|observer)#/);
      expect(log.state).to.equal('rolled-back');
    }
    expect(ledger.activeLogs).to.equal(0);
    expect(ledger.locks).to.equal(0);
    expect(ledger.sum).to.equal(LOAD_ACCOUNTS.length * START_BALANCE);
    expect(ledger.negative).to.deep.equal([]);
    expect(ledger.unmatched).to.equal(0);
    expect(ledger.mismatched).to.deep.equal([]);
  });
});

describe('sails-disk is single-process', function () {
  it('warns at start when another live process already uses the same sails-disk directory', async function () {
    const target = await freshTarget('disk');
    const first = await loadApp(target, { migrate: 'drop' });
    try {
      const second = await runChild(target, ['recover'], undefined, { SAILS_LOG_LEVEL: 'warn' });
      expect(second.code, second.stderr).to.equal(0);
      expect(second.stdout + second.stderr).to.match(/process \d+ also uses the sails-disk directory .*single-process/);
    } finally {
      await lowerApp(first);
    }
    const alone = await runChild(target, ['recover'], undefined, { SAILS_LOG_LEVEL: 'warn' });
    expect(alone.code, alone.stderr).to.equal(0);
    expect(alone.stdout + alone.stderr).to.not.match(/also uses the sails-disk directory/);
  });
});
