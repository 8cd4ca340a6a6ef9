/**
 * A committed read that straddles the reopening of a keyed transaction (issue 20, finding 5), for
 * real: the repeat reopens the transaction, locks and writes a document between the store's reads,
 * and the read must still answer the committed value. sails-mongo reads twice and compares the
 * rows' fences: the reopened attempt keeps the transaction id, so only the whole `txId.epoch`
 * token tells its write apart. PostgreSQL reads in one snapshot. (sails-disk reads under the mutex
 * every write takes: nothing can come between its reads, so it has no such case.)
 */
import { expect } from 'chai';
import type { Engine } from '../../../lib/engine';
import type { ModelInfo } from '../../../lib/core/model-info';
import { CommittedReads } from '../../../lib/reads';
import { createStore } from '../../../lib/store';
import type { WaterlineModel } from '../../../lib/core/waterline';
import { type LoadedApp, useApp } from '../../support/app';
import { transientError } from '../../support/flaky';
import { IDS, seedAccounts } from '../../support/scenario';
import { forEachAdapter } from '../../support/targets';

forEachAdapter('committed reads across a keyed reopen', (target, adapter) => {
  const getApp = useApp(target, { migrate: 'drop', transact: { leaseMs: 2_000, clockSkewMs: 0, instanceId: 'reopen-reads', protocol: 'log' } }, seedAccounts);
  let app: LoadedApp;
  let engine: Engine;
  beforeEach(function () {
    app = getApp();
    engine = app.hooks.transact.engine as Engine;
  });

  /** A keyed attempt that fails without deciding anything (the datastore failed), after `work`: a repeat runs it again. */
  const failOnce = (key: string, model: string, id: string): Promise<unknown> =>
    engine.interactive(async (tx) => {
      await tx.increment(model, id, 'balance', -1);
      throw transientError();
    }, { idempotencyKey: key }).then(() => 'committed', (err: { code?: string }) => err.code);

  if (adapter !== 'disk') it("answers Alice's committed balance, not the reopened attempt's write that landed between the store's two reads", async function () {
    const key = `reopen-${Date.now()}`;
    // Attempt 1 writes Alice and is rolled back (her document keeps its fence); attempt 2 writes only Bob, rolled back too.
    expect(await failOnce(key, 'account', IDS.alice)).to.equal('unavailable');
    expect(await failOnce(key, 'account', IDS.bob)).to.equal('unavailable');

    let resume: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (resume = resolve));
    let repeat: Promise<unknown> | undefined;
    /** Attempt 3, started between the reads: reopens the key, locks Alice and writes +50, then waits (uncommitted). */
    const reopenAndWrite = async (): Promise<void> => {
      let wrote: () => void = () => undefined;
      const written = new Promise<void>((resolve) => (wrote = resolve));
      repeat = engine.interactive(async (tx) => {
        await tx.increment('account', IDS.alice, 'balance', 50);
        wrote();
        await gate;
        return 'done';
      }, { idempotencyKey: key });
      await written;
    };
    // The store the read runs on, over the same datastore, whose read of accounts first lets attempt 3 in.
    let accountReads = 0;
    // sails-mongo reads the rows twice (attempt 3 comes before the second); PostgreSQL once, in a snapshot its first statement fixed.
    const reopenBefore = adapter === 'mongo' ? 1 : 0;
    const modelOf = (identity: string): WaterlineModel => {
      const model = app.models[identity] as WaterlineModel;
      if (identity !== 'account') return model;
      return new Proxy(model, {
        get(real, property, receiver) {
          if (property !== 'find') return Reflect.get(real, property, receiver) as unknown;
          return (criteria: unknown) => {
            const query = real.find(criteria as Record<string, unknown>) as unknown as Record<string, (arg: unknown) => PromiseLike<unknown>>;
            const run = (method: string) => async (arg: unknown) => {
              if (accountReads++ === reopenBefore) await reopenAndWrite();
              return query[method](arg);
            };
            return { meta: run('meta'), usingConnection: run('usingConnection') };
          };
        },
      });
    };
    const store = createStore(app.models.transactlog as WaterlineModel, app.models.transactlock as WaterlineModel, modelOf, 10_000);
    const reads = new CommittedReads(store, (identity) => engine.infoOf(identity) as ModelInfo | undefined);
    const [alice] = await reads.find('account', { id: IDS.alice });
    expect(repeat, 'attempt 3 ran between the reads').to.not.equal(undefined);
    expect(alice?.balance, 'committed: Alice as attempt 1 left her').to.equal(1000);
    resume();
    expect(await repeat).to.equal('done');
    expect((await reads.find('account', { id: IDS.alice }))[0]?.balance).to.equal(1050);
  });
});
