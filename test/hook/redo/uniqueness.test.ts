/**
 * Uniqueness on log protocol v3 (docs/protocol-v3.md R9): a create's stub reserves the values of
 * its model's unique keys (a `unique: true` attribute, a declared unique index) when its lock is
 * granted, so the question is decided before the commit point — never by an apply that meets a
 * duplicate after it. The loser writes nothing.
 */
import { expect } from 'chai';
import type { Engine } from '../../../lib/engine';
import { rawDestroy } from '../../../lib/models/destroy-guard';
import { type LoadedApp, loadApp, lowerApp } from '../../support/app';
import { rejection } from '../../support/errors';
import { isFerretDb, skipWhereRecordsUnsafe } from '../../support/records';
import { forEachRedoAdapter, type Target } from '../../support/targets';

type Row = Record<string, unknown>;

forEachRedoAdapter('log protocol v3: unique values are decided before the commit point', (target: () => Target, adapter) => {
  let app: LoadedApp;
  let engine: Engine;

  before(async function () {
    app = await loadApp(target(), { migrate: 'drop', transact: { protocol: 'redo', leaseMs: 2000, lockTimeoutMs: 5000 } });
    engine = app.hooks.transact.engine as Engine;
  });

  after(async function () {
    if (app !== undefined) await lowerApp(app);
  });

  beforeEach(async function () {
    for (const identity of ['user', 'transactlog']) await rawDestroy(app.models[identity])({});
  });

  const user = (id: string, username: string): unknown[] => [{ op: 'create', model: 'user', id, values: { username, passwordHash: 'x', role: 'readonly' } }];

  it('a create of a taken unique value is refused before the commit point: no log, no document', async function () {
    await engine.batch(user('u1', 'ada'));
    const err = await rejection(engine.batch(user('u2', 'ada')));
    expect(err).to.include({ code: 'already_exists' });
    expect(err.details).to.deep.include({ model: 'user', attributes: ['username'] });
    expect(((await app.models.user.find({})) as Row[]).map((row) => row.id)).to.deep.equal(['u1']);
    expect(await app.models.transactlog.count({})).to.equal(1);
  });

  it('of concurrent creates with one unique value, exactly one commits; the others are already_exists and write nothing', async function () {
    await skipWhereRecordsUnsafe(this, app);
    const settled = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => engine.batch(user(`c${i}`, 'grace'))));
    const won = settled.filter((outcome) => outcome.status === 'fulfilled');
    const lost = settled.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    expect(won).to.have.length(1);
    expect(lost.map((outcome) => (outcome.reason as { code?: string }).code)).to.deep.equal(lost.map(() => 'already_exists'));
    expect(await app.models.user.count({ username: 'grace' })).to.equal(1);
    expect(await app.models.transactlog.count({})).to.equal(1);
  });

  it('a destroyed document frees its unique value, and its id created again claims its values too', async function () {
    // FerretDB answers an update that breaks a unique index with an internal error, not MongoDB's duplicate key (11000).
    if (adapter === 'mongo' && process.env.TRANSACT_RUN_KNOWN_GAPS !== '1' && (await isFerretDb(app))) this.skip();
    await engine.batch(user('u1', 'linus'));
    await engine.batch([{ op: 'destroy', model: 'user', id: 'u1' }]);
    await engine.batch(user('u2', 'linus'));
    expect(((await app.models.user.find({ username: 'linus' })) as Row[]).map((row) => row.id)).to.deep.equal(['u2']);
    // A tombstone's id, created again, claims its values too.
    expect(await rejection(engine.batch(user('u1', 'linus')))).to.include({ code: 'already_exists' });
  });

  describe('an update that changes a unique value claims the new one before the commit point', function () {
    const rename = (id: string, username: string): unknown[] => [{ op: 'update', model: 'user', id, set: { username } }];
    const usernames = async (): Promise<Row[]> => ((await app.models.user.find({ sort: 'id ASC' })) as Row[]).map((row) => ({ id: row.id, username: row.username }));

    beforeEach(function () {
      expect(engine.records?.claimUnique, 'every v3 store claims unique values for updates (R9)').to.be.a('function');
    });

    it('to a free value: committed, and the old value is free once applied', async function () {
      await engine.batch(user('u1', 'ada'));
      await engine.batch(rename('u1', 'lovelace'));
      await engine.batch(user('u2', 'ada'));
      expect(await usernames()).to.deep.equal([{ id: 'u1', username: 'lovelace' }, { id: 'u2', username: 'ada' }]);
    });

    it("to a live document's value: already_exists, no log, nothing changed", async function () {
      await engine.batch([...user('u1', 'ada'), ...user('u2', 'grace')]);
      const err = await rejection(engine.batch(rename('u1', 'grace')));
      expect(err).to.include({ code: 'already_exists' });
      expect(err.details).to.deep.include({ model: 'user', attributes: ['username'] });
      expect(await usernames()).to.deep.equal([{ id: 'u1', username: 'ada' }, { id: 'u2', username: 'grace' }]);
      expect(await app.models.transactlog.count({})).to.equal(1);
      // The failed claim ended with its attempt: the value it asked for is as taken as before, nothing more.
      await engine.batch(rename('u1', 'hopper'));
      expect(await usernames()).to.deep.equal([{ id: 'u1', username: 'hopper' }, { id: 'u2', username: 'grace' }]);
    });

    it('an update and a create racing for one value: exactly one commits, the other is already_exists and writes nothing', async function () {
      await engine.batch(user('u1', 'ada'));
      for (let round = 0; round < 10; round++) {
        const wanted = `name-${round}`;
        const settled = await Promise.allSettled([engine.batch(rename('u1', wanted)), engine.batch(user(`c${round}`, wanted))]);
        expect(settled.filter((outcome) => outcome.status === 'fulfilled'), `round ${round}`).to.have.length(1);
        for (const outcome of settled) if (outcome.status === 'rejected') expect((outcome.reason as { code?: string }).code).to.equal('already_exists');
        expect(await app.models.user.count({ username: wanted }), `round ${round}`).to.equal(1);
      }
    });

    it('two updates racing for one value: exactly one commits', async function () {
      await engine.batch([...user('u1', 'ada'), ...user('u2', 'grace')]);
      for (let round = 0; round < 10; round++) {
        const wanted = `both-${round}`;
        const settled = await Promise.allSettled([engine.batch(rename('u1', wanted)), engine.batch(rename('u2', wanted))]);
        expect(settled.filter((outcome) => outcome.status === 'fulfilled'), `round ${round}`).to.have.length(1);
        // Committed: one holds the value. Stored: never two (a commit not applied yet shows the value before, R5 applies it).
        expect(await engine.reads.count('user', { username: wanted }), `round ${round}: committed`).to.equal(1);
        expect(await app.models.user.count({ username: wanted }), `round ${round}: stored`).to.be.at.most(1);
      }
    });

    it('a transaction that claims a value and then fails gives it back', async function () {
      await engine.batch(user('u1', 'ada'));
      const err = await rejection(engine.batch([...rename('u1', 'countess'), { op: 'update', model: 'user', id: 'missing', set: { role: 'admin' } }]));
      expect(err).to.include({ code: 'not_found' });
      expect(await usernames()).to.deep.equal([{ id: 'u1', username: 'ada' }]);
      await engine.batch(user('u2', 'countess'));
      expect(await app.models.user.count({ username: 'countess' })).to.equal(1);
    });
  });

  it('a declared unique index (Payment.paymentId) is reserved the same way', async function () {
    await app.models.investor.create({ id: 'i1', name: 'Ines' });
    const payment = (id: string): unknown[] => [{ op: 'create', model: 'payment', id, values: { paymentId: 'gw-1', investor: 'i1', amount: 100 } }];
    const settled = await Promise.allSettled([engine.batch(payment('p1')), engine.batch(payment('p2'))]);
    expect(settled.map((outcome) => outcome.status).sort()).to.deep.equal(['fulfilled', 'rejected']);
    expect(await app.models.payment.count({ paymentId: 'gw-1' })).to.equal(1);
  });
});
