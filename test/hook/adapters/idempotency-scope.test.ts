/**
 * Idempotency keys scoped to their caller, per adapter and protocol: the same key under two
 * scopes names two independent transactions (neither ever gets the other's result), each still
 * runs at most once, and unscoped keys keep their old meaning.
 */
import { expect } from 'chai';
import type { Engine } from '../../../lib/engine';
import { keyedTransactionId } from '../../../lib/core/log-document';
import type { Operation } from '../../../lib/core/types';
import { type LoadedApp, useApp } from '../../support/app';
import { rejection } from '../../support/errors';
import { IDS, seedAccounts, snapshot } from '../../support/scenario';
import { forEachPath, protocolConfig } from '../../support/targets';

const transfer = (from: string, to: string, amount: number): Operation[] => [
  { op: 'increment', model: 'account', id: from, field: 'balance', by: -amount, min: 0 },
  { op: 'increment', model: 'account', id: to, field: 'balance', by: amount },
  { op: 'create', model: 'transfer', values: { from, to, amount } },
];

forEachPath('idempotency keys scoped to their caller', (target, _adapter, protocol) => {
  const getApp = useApp(target, { migrate: 'drop', transact: { leaseMs: 1000, clockSkewMs: 0, ...protocolConfig(protocol) } }, seedAccounts);
  let app: LoadedApp;
  let engine: Engine;
  const balance = async (id: string): Promise<unknown> => (await app.models.account.findOne({ id }))?.balance;
  beforeEach(function () {
    app = getApp();
    engine = app.hooks.transact.engine as Engine;
  });

  it("gives a second scope replaying the first one's key a transaction of its own; the first scope's repeat still replays", async function () {
    const first = await engine.batch(transfer(IDS.alice, IDS.bob, 100), { idempotencyKey: 'pay-1', idempotencyScope: 'user A' });
    const other = await engine.batch(transfer(IDS.alice, IDS.bob, 100), { idempotencyKey: 'pay-1', idempotencyScope: 'user B' });
    expect(other.id, "B's transaction is its own").to.not.equal(first.id);
    expect(other.steps[2].id, "B's created transfer is its own").to.not.equal(first.steps[2].id);
    expect(await balance(IDS.alice)).to.equal(800);
    expect(await app.models.transfer.count({})).to.equal(2);
    const again = await engine.batch(transfer(IDS.alice, IDS.bob, 100), { idempotencyKey: 'pay-1', idempotencyScope: 'user A' });
    expect(again).to.deep.equal(first);
    expect(await balance(IDS.alice)).to.equal(800);
    expect(await engine.getLog(first.id)).to.include({ idempotencyKey: 'pay-1', idempotencyScope: 'user A' });
    expect(await engine.getLog(other.id)).to.include({ idempotencyKey: 'pay-1', idempotencyScope: 'user B' });
    // Another scope's different operations under the same key are no conflict: the key is not theirs.
    const third = await engine.batch(transfer(IDS.alice, IDS.bob, 7), { idempotencyKey: 'pay-1', idempotencyScope: 'user C' });
    expect(third.id).to.not.equal(first.id);
    expect(await balance(IDS.alice)).to.equal(793);
  });

  it('replays an interactive transaction only to its own scope, and runs each scope once when copies arrive together', async function () {
    const runs: string[] = [];
    const work = (scope: string) => async (tx: Parameters<Parameters<Engine['interactive']>[0]>[0]): Promise<{ by: string }> => {
      runs.push(scope);
      await tx.increment('account', IDS.bob, 'balance', 10);
      return { by: scope };
    };
    const results = await Promise.all(['A', 'B', 'A', 'B', 'A', 'B'].map((scope) => engine.interactive(work(scope), { idempotencyKey: 'credit-1', idempotencyScope: scope })));
    expect(results.map((r) => r.by)).to.deep.equal(['A', 'B', 'A', 'B', 'A', 'B']);
    expect([...runs].sort()).to.deep.equal(['A', 'B']);
    expect(await balance(IDS.bob)).to.equal(520);
    const logs = (await snapshot(app)).logs.filter((log) => log.idempotencyKey === 'credit-1');
    expect(logs.map((log) => log.idempotencyScope).sort()).to.deep.equal(['A', 'B']);
  });

  it('refuses a scoped key whose unscoped twin exists (whose it was is unknown): idempotency_conflict, nothing written; unscoped keys replay as before', async function () {
    const legacy = await engine.batch(transfer(IDS.alice, IDS.bob, 100), { idempotencyKey: 'before-scopes' });
    expect(legacy.id, 'an unscoped key maps to the id it always did').to.equal(keyedTransactionId('before-scopes'));
    expect(await engine.getLog(legacy.id)).to.include({ idempotencyScope: null });
    const before = await snapshot(app);
    const refused = await rejection(engine.batch(transfer(IDS.alice, IDS.bob, 100), { idempotencyKey: 'before-scopes', idempotencyScope: 'user A' }));
    expect(refused.code).to.equal('idempotency_conflict');
    expect(refused.details, 'the other transaction is not named').to.not.have.property('transaction');
    const failed = await rejection(engine.interactive(async (tx) => tx.increment('account', IDS.bob, 'balance', 1), { idempotencyKey: 'before-scopes', idempotencyScope: 'user A' }));
    expect(failed.code).to.equal('idempotency_conflict');
    expect(await snapshot(app)).to.deep.equal(before);
    expect(await engine.batch(transfer(IDS.alice, IDS.bob, 100), { idempotencyKey: 'before-scopes' })).to.deep.equal(legacy);
    expect(await balance(IDS.alice)).to.equal(900);
  });

  it('refuses a scope without a key, and a bad scope, writing nothing', async function () {
    const before = await snapshot(app);
    for (const options of [{ idempotencyScope: 'user A' }, { idempotencyKey: 'k', idempotencyScope: '' }, { idempotencyKey: 'k', idempotencyScope: 'x'.repeat(201) }, { idempotencyKey: 'k', idempotencyScope: 7 }]) {
      const err = await rejection(engine.batch(transfer(IDS.alice, IDS.bob, 100), options as never));
      expect(err, JSON.stringify(options)).to.include({ code: 'validation_failed' });
      expect(err.path, JSON.stringify(options)).to.match(/^options(\.idempotencyScope)?$/);
    }
    expect(await snapshot(app)).to.deep.equal(before);
  });
});

