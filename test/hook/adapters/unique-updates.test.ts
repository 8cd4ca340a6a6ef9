/**
 * An update to a unique value another document holds, on every path (sails-disk and MongoDB on
 * the log protocol v2 and on v3, PostgreSQL on its native path, v2 and v3): a typed
 * `already_exists` naming the model, and nothing changed — neither document, and no committed log.
 * On v3 this is decided before the commit point (R9, redo/uniqueness.test); on v2 and the native
 * path the datastore's unique index refuses the write, which the hook must still answer typed.
 */
import { expect } from 'chai';
import type { Engine } from '../../../lib/engine';
import { rawDestroy } from '../../../lib/models/destroy-guard';
import { type LoadedApp, loadApp, lowerApp } from '../../support/app';
import { rejection } from '../../support/errors';
import { forEachAdapter, type Protocol, protocolConfig, type Target } from '../../support/targets';

type Row = Record<string, unknown>;

forEachAdapter('an update to a taken unique value', (target: () => Target, adapter) => {
  const protocols: Protocol[] = adapter === 'postgresql' ? ['native', 'log', 'redo'] : ['log', 'redo'];
  for (const protocol of protocols) {
    describe(`protocol ${protocol}`, function () {
      let app: LoadedApp;
      let engine: Engine;

      before(async function () {
        app = await loadApp(target(), { migrate: 'drop', transact: { ...protocolConfig(protocol), leaseMs: 2000, lockTimeoutMs: 5000 } });
        engine = app.hooks.transact.engine as Engine;
      });

      after(async function () {
        if (app !== undefined) await lowerApp(app);
      });

      beforeEach(async function () {
        for (const identity of ['user', 'transactlog']) await rawDestroy(app.models[identity])({});
        await engine.batch(['ada', 'grace'].map((username) => ({ op: 'create', model: 'user', id: `u-${username}`, values: { username, passwordHash: 'x', role: 'readonly' } })));
      });

      async function expectUnchanged(): Promise<void> {
        const rows = (await app.models.user.find({ where: {}, sort: 'id ASC' })) as Row[];
        expect(rows.map((row) => [row.id, row.username])).to.deep.equal([['u-ada', 'ada'], ['u-grace', 'grace']]);
        expect(await app.models.transactlog.count({ state: 'committed' }), 'only the creates committed').to.equal(1);
      }

      it('in a batch: already_exists, typed, and nothing changed', async function () {
        const err = await rejection(engine.batch([{ op: 'update', model: 'user', id: 'u-grace', set: { username: 'ada' } }]));
        expect(err).to.include({ code: 'already_exists' });
        // The native batch's own SQL knows the table and the index's columns; the others name the model.
        if (protocol === 'native') expect(err.details).to.deep.include({ table: 'user', columns: ['username'] });
        else expect(err.details).to.deep.include({ model: 'user' });
        await expectUnchanged();
      });

      it('in an interactive transaction: already_exists, typed, and nothing changed', async function () {
        const err = await rejection(engine.interactive(async (tx) => {
          await tx.update('user', 'u-grace', { username: 'ada' });
        }));
        expect(err).to.include({ code: 'already_exists' });
        await expectUnchanged();
      });
    });
  }
});
