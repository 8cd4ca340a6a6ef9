/**
 * The hook's HTTP layer in a minimal Sails app (test/support/minimal-app.ts), not the fund:
 * transactional blueprints for the models the app marks (logged, strictly validated, nothing
 * written on refusal), Sails' own blueprints for the others, the hook's models closed, the REST
 * endpoints off by default and on under a prefix, and the app's policies on the hook's actions.
 */
import { expect } from 'chai';
import type { Response } from 'supertest';
import { resolveConfig } from '../../../lib/config';
import { newId } from '../../../lib/core/ids';
import { newLog } from '../../../lib/core/log-document';
import type { LogDocument } from '../../../lib/core/types';
import { liftMinimal, type MinimalApp } from '../../support/minimal-app';
import { forEachAdapter } from '../../support/targets';

type Doc = Record<string, unknown>;

function expectError(res: Response, status: number, code: string, path?: string): void {
  expect(res.status, JSON.stringify(res.body)).to.equal(status);
  const { error } = res.body as { error: { code: string; message: string; path?: string } };
  expect(error, JSON.stringify(res.body)).to.be.an('object');
  expect(error.code).to.equal(code);
  expect(error.message).to.be.a('string');
  if (path !== undefined) expect(error.path).to.equal(path);
}

/** A policy the app names: only requests that say they are alice. */
function isAlice(req: { get(h: string): string | undefined }, res: { status(n: number): { json(b: unknown): void } }, next: () => void): void {
  if (req.get('x-user') === 'alice') return next();
  res.status(403).json({ error: { code: 'forbidden', message: 'alice only (the app\'s policy)' } });
}

describe('the hook\'s HTTP settings and codes', function () {
  it('keeps the REST endpoints off by default; checks a configured prefix', function () {
    expect(resolveConfig({}).routes).to.equal(false);
    expect(resolveConfig({ routes: { prefix: '/api/v2' } }).routes).to.deep.equal({ prefix: '/api/v2' });
    expect(resolveConfig({ routes: { prefix: '' } }).routes).to.deep.equal({ prefix: '' });
    for (const routes of [{ prefix: 'api' }, { prefix: '/api/' }, { prefix: '/:model' }, {}, true, { prefix: '/api', extra: 1 }, { prefix: '/api', who: 'me' }, { prefix: '/api', maySeeAllKeys: true }]) {
      expect(() => resolveConfig({ routes } as never), JSON.stringify(routes)).to.throw(/invalid config.transact/);
    }
  });

});

forEachAdapter('the hook\'s HTTP layer in a minimal app', (target) => {
  async function counts(app: MinimalApp): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const identity of ['wallet', 'receipt', 'note', 'transactlog', 'transactlock']) out[identity] = await app.models[identity].count({});
    return out;
  }

  describe('REST endpoints off (the default)', function () {
    let app: MinimalApp;
    before(async function () {
      app = await liftMinimal(target());
    });
    after(async function () {
      await app?.lower();
    });

    it('runs POST, PATCH and DELETE of a transactional model through the engine: logged, in its history', async function () {
      const created = await app.http().post('/wallet').send({ owner: 'ann', balance: 500 });
      expect(created.status, JSON.stringify(created.body)).to.equal(201);
      const wallet = created.body as Doc;
      expect(wallet).to.include({ owner: 'ann', balance: 500 });
      const createLog = (await app.engine.getLog(created.get('X-Transaction-Id') as string)) as LogDocument;
      expect(createLog).to.include({ state: 'committed', label: 'POST /wallet' });
      expect(createLog.steps.map((s) => s.kind)).to.deep.equal(['create']);

      const patched = await app.http().patch(`/wallet/${wallet.id as string}`).send({ owner: 'bob', tags: ['x'] });
      expect(patched.status, JSON.stringify(patched.body)).to.equal(200);
      expect(patched.body).to.include({ owner: 'bob', balance: 500 });
      expect(await app.engine.getLog(patched.get('X-Transaction-Id') as string)).to.include({ state: 'committed', label: 'PATCH /wallet' });

      const destroyed = await app.http().delete(`/wallet/${wallet.id as string}`);
      expect(destroyed.status, JSON.stringify(destroyed.body)).to.equal(200);
      expect(destroyed.body).to.include({ id: wallet.id, owner: 'bob' });
      expect(await app.models.wallet.findOne({ id: wallet.id })).to.equal(undefined);

      const versions = await app.engine.history('wallet', wallet.id as string);
      expect(versions.map((v) => v.kinds)).to.deep.equal([['create'], ['update'], ['destroy']]);
      expect(versions[1].after).to.include({ owner: 'bob' });
    });

    it('refuses bad input with a 4xx code and its path, writing nothing', async function () {
      const { body: wallet } = await app.http().post('/wallet').send({ owner: 'cat' }).expect(201);
      const { body: receipt } = await app.http().post('/receipt').send({ amount: 10 }).expect(201);
      const before = await counts(app);
      const snapshot = await app.models.wallet.findOne({ id: wallet.id });
      const refusals: [Promise<Response>, number, string, string?][] = [
        [app.http().post('/wallet').send({ owner: 'dan', id: 'chosen' }), 400, 'validation_failed', 'body.id'],
        [app.http().post('/wallet').send({ owner: 'dan', createdAt: 1 }), 400, 'validation_failed', 'body.createdAt'],
        [app.http().post('/wallet').send({ balance: 5 }), 400, 'validation_failed', 'body.owner'],
        [app.http().post('/wallet').send({ owner: 'dan', balance: '5' }), 400, 'validation_failed', 'body.balance'],
        [app.http().post('/wallet').send({ owner: 'dan', balance: 1.5 }), 400, 'validation_failed', 'body.balance'],
        [app.http().post('/wallet').send({ owner: 'dan', balance: -1 }), 400, 'validation_failed', 'body.balance'],
        [app.http().post('/wallet').send({ owner: 'x'.repeat(51) }), 400, 'validation_failed', 'body.owner'],
        [app.http().post('/wallet').send({ owner: { $ne: null } }), 400, 'validation_failed', 'body.owner'],
        [app.http().patch(`/wallet/${wallet.id as string}`).send({ balance: 1_000_000 }), 400, 'validation_failed', 'body.balance'],
        [app.http().patch(`/wallet/${wallet.id as string}`).send({}), 400, 'validation_failed', 'body'],
        [app.http().patch('/wallet/no-such-wallet').send({ owner: 'eve' }), 404, 'not_found', 'id'],
        [app.http().patch('/wallet/bad%20id').send({ owner: 'eve' }), 400, 'validation_failed', 'id'],
        [app.http().put(`/wallet/${wallet.id as string}`).send({ owner: 7 }), 400, 'validation_failed', 'body.owner'],
        [app.http().delete('/wallet/no-such-wallet'), 404, 'not_found', 'id'],
        [app.http().delete(`/receipt/${receipt.id as string}`), 405, 'destroy_forbidden', 'model'],
        [app.http().patch(`/receipt/${receipt.id as string}`).send({ amount: 1 }), 400, 'validation_failed', 'body.amount'],
        [app.http().post('/nosuchmodel').send({ a: 1 }), 404, 'unknown_model', 'model'],
        [app.http().patch('/nosuchmodel/abc').send({ a: 1 }), 404, 'unknown_model', 'model'],
        [app.http().post('/transactlog').send({ state: 'committed' }), 405, 'method_not_allowed'],
        [app.http().patch('/transactlock/x').send({ owner: 'me' }), 405, 'method_not_allowed'],
        [app.http().get('/transactlog'), 403, 'forbidden'],
        [app.http().put(`/wallet/${wallet.id as string}/receipts/${receipt.id as string}`), 405, 'method_not_allowed'],
        [app.http().put(`/wallet/${wallet.id as string}/receipts`).send([receipt.id]), 405, 'method_not_allowed'],
        [app.http().delete(`/wallet/${wallet.id as string}/receipts/${receipt.id as string}`), 405, 'method_not_allowed'],
      ];
      for (const [pending, status, code, path] of refusals) expectError(await pending, status, code, path);
      expect(await counts(app)).to.deep.equal(before);
      expect(await app.models.wallet.findOne({ id: wallet.id })).to.deep.equal(snapshot);
    });

    it('refuses, in any app, prototype keys in a body, JSON too deep, a limit over 1000 and malformed criteria (issue 19), writing nothing', async function () {
      const { body: wallet } = await app.http().post('/wallet').send({ owner: 'fay' }).expect(201);
      const before = await counts(app);
      let deep: unknown = 1;
      for (let i = 0; i < 40; i++) deep = [deep];
      const raw = (url: string, method: 'post' | 'patch', text: string) => app.http()[method](url).set('Content-Type', 'application/json').send(text);
      const refusals: [Promise<Response>, number, string, string?][] = [
        [raw('/wallet', 'post', '{"owner":"dan","__proto__":{"balance":5}}'), 400, 'validation_failed', 'body.__proto__'],
        [raw(`/wallet/${wallet.id as string}`, 'patch', '{"tags":[{"constructor":{"prototype":1}}]}'), 400, 'validation_failed', 'body.tags.0.constructor'],
        [app.http().patch(`/wallet/${wallet.id as string}`).send({ tags: deep }), 400, 'validation_failed', 'body.tags'],
        [app.http().get('/wallet?limit=1001'), 400, 'validation_failed', 'limit'],
        [app.http().get(`/wallet?where=${encodeURIComponent('{"or":[null]}')}`), 400, 'validation_failed', 'where.or.0'],
        [app.http().get(`/wallet?where=${encodeURIComponent('{"balance":{"in":[1,"a"]}}')}`), 400, 'validation_failed', 'where.balance.in.1'],
      ];
      for (const [pending, status, code, path] of refusals) expectError(await pending, status, code, path);
      expect(await counts(app)).to.deep.equal(before);
    });

    it('leaves unmarked models to Sails\' own blueprints (nothing logged)', async function () {
      const before = await counts(app);
      const created = await app.http().post('/note').send({ id: 'n1', text: 'plain' });
      expect(created.status, JSON.stringify(created.body)).to.equal(200); // Sails' create: 200, no X-Transaction-Id
      expect(created.get('X-Transaction-Id')).to.equal(undefined);
      await app.http().patch('/note/n1').send({ text: 'changed', surprise: true }).expect((res) => expect(res.status).to.be.oneOf([200, 400]));
      expect(await counts(app)).to.deep.include({ transactlog: before.transactlog });
      expect((await app.http().get('/note/n1').expect(200)).body).to.include({ id: 'n1' });
      await app.http().delete('/note/n1').expect(200);
      expect(await counts(app)).to.deep.equal(before);
    });

    it('binds no REST endpoint over the log', async function () {
      for (const path of ['/transaction', '/api/transaction', '/history/wallet/x', '/transaction/stuck']) {
        const res = await app.http().get(path);
        expect(res.status, path).to.equal(404);
        expect(res.body?.error?.code, path).to.not.equal('not_found');
      }
      expect((await app.http().post('/transaction').send({ ops: [] })).status).to.equal(404);
    });
  });

  describe('REST endpoints on, under a prefix, behind the app\'s policies', function () {
    let app: MinimalApp;
    const alice = { 'x-user': 'alice' };
    before(async function () {
      app = await liftMinimal(target(), {
        transact: {
          routes: {
            prefix: '/tx',
            who: (req: { get(h: string): string | undefined }) => req.get('x-user') ?? 'nobody',
            maySeeAllKeys: async (req: { get(h: string): string | undefined }) => req.get('x-user') === 'ops',
          },
        },
        policies: { moduleDefinitions: { isalice: isAlice }, 'transact/reverse': 'isAlice', 'transact/settle': 'isAlice', 'wallet/destroy': 'isAlice' },
      });
    });
    after(async function () {
      await app?.lower();
    });

    it('lists transactions newest first without steps, filtered, and gets one whole', async function () {
      const first = await app.http().post('/wallet').send({ owner: 'fay' }).expect(201);
      await app.http().post('/receipt').send({ amount: 3 }).expect(201);
      const list = await app.http().get('/tx/transaction?limit=2').expect(200);
      expect(list.body).to.include({ limit: 2, skip: 0 });
      const items = list.body.items as Doc[];
      expect(items).to.have.length(2);
      expect(items[0]).to.include({ label: 'POST /receipt', state: 'committed' });
      expect(items[0]).to.not.have.property('steps');
      const wallets = await app.http().get('/tx/transaction?model=wallet&state=committed').expect(200);
      expect((wallets.body.items as Doc[]).map((i) => i.id)).to.include(first.get('X-Transaction-Id'));
      expect((wallets.body.items as Doc[]).every((i) => (i.documents as string[]).some((d) => d.startsWith('wallet:')))).to.equal(true);
      expectError(await app.http().get('/tx/transaction?state=done'), 400, 'validation_failed', 'query.state');
      expectError(await app.http().get('/tx/transaction?limit=0'), 400, 'validation_failed', 'query.limit');

      const one = await app.http().get(`/tx/transaction/${first.get('X-Transaction-Id') as string}`).expect(200);
      expect(one.body.steps).to.have.length(1);
      expectError(await app.http().get(`/tx/transaction/${newId()}`), 404, 'not_found', 'id');
    });

    it("scopes an Idempotency-Key to who asks: bob replaying alice's key runs his own batch, each repeat replays its own; a listing by key finds one's own", async function () {
      const ops = [{ op: 'create', model: 'receipt', values: { amount: 11 } }];
      const asUser = (user: string) => ({ 'x-user': user });
      const run = (user: string) => app.http().post('/tx/transaction').set(asUser(user)).set('Idempotency-Key', 'shared-key').send({ ops });
      const hers = (await run('alice').expect(201)).body as { id: string; steps: Doc[] };
      const his = (await run('bob').expect(201)).body as { id: string; steps: Doc[] };
      expect(his.id).to.not.equal(hers.id);
      expect(his.steps[0].id).to.not.equal(hers.steps[0].id);
      expect((await run('alice').expect(201)).body).to.deep.equal(hers);
      expect((await run('bob').expect(201)).body).to.deep.equal(his);
      expect(await app.models.receipt.count({ amount: 11 })).to.equal(2);
      expect(await app.engine.getLog(his.id)).to.include({ idempotencyKey: 'http:shared-key', idempotencyScope: 'bob' });
      const byKey = async (user: string): Promise<string[]> => {
        const res = await app.http().get('/tx/transaction?idempotencyKey=http:shared-key').set(asUser(user)).expect(200);
        return (res.body.items as Doc[]).map((item) => item.id as string).sort();
      };
      expect(await byKey('alice')).to.deep.equal([hers.id]);
      expect(await byKey('carol')).to.deep.equal([]);
      expect(await byKey('ops')).to.deep.equal([hers.id, his.id].sort());
      const seen = await app.http().get(`/tx/transaction/${his.id}`).set(asUser('alice')).expect(200);
      expect(seen.body).to.include({ idempotencyKey: null, idempotencyScope: 'bob' });
    });

    it('runs a batch once per Idempotency-Key, only of what the allowlists permit', async function () {
      const ops = [
        { op: 'create', model: 'wallet', values: { owner: 'gus', balance: 7 } },
        { op: 'create', model: 'receipt', values: { amount: 7 } },
      ];
      const before = await counts(app);
      const run = await app.http().post('/tx/transaction').set('Idempotency-Key', 'k-1').send({ label: 'onboard', ops }).expect(201);
      expect(run.body).to.include({ state: 'committed' });
      const again = await app.http().post('/tx/transaction').set('Idempotency-Key', 'k-1').send({ label: 'onboard', ops }).expect(201);
      expect(again.body.id).to.equal(run.body.id);
      expect(await counts(app)).to.deep.include({ wallet: before.wallet + 1, receipt: before.receipt + 1 });
      expect(await app.engine.getLog(run.body.id as string)).to.include({ label: 'onboard', idempotencyKey: 'http:k-1' });

      const walletId = (run.body.steps as Doc[])[0].id as string;
      const after = await counts(app);
      expectError(await app.http().post('/tx/transaction').send({ ops: [{ op: 'create', model: 'note', values: { text: 'x' } }] }), 403, 'forbidden', 'ops.0.model');
      expectError(await app.http().post('/tx/transaction').send({ ops: [{ op: 'increment', model: 'wallet', id: walletId, field: 'balance', by: 5 }] }), 403, 'forbidden', 'ops.0.op');
      expectError(await app.http().post('/tx/transaction').send({ ops: [{ op: 'update', model: 'wallet', id: walletId, set: { balance: 0 } }] }), 403, 'forbidden', 'ops.0.set.balance');
      expectError(await app.http().post('/tx/transaction').send({ ops: [{ op: 'destroy', model: 'receipt', id: walletId }] }), 405, 'destroy_forbidden', 'ops.0.op');
      expectError(await app.http().post('/tx/transaction').send({ ops: [{ op: 'create', model: 'wallet', values: { owner: 1 } }] }), 400, 'validation_failed', 'ops.0.values.owner');
      expectError(await app.http().post('/tx/transaction').send({ ops: [{ op: 'update', model: 'wallet', id: 'missing', set: { owner: 'x' } }] }), 404, 'not_found');
      expectError(await app.http().post('/tx/transaction').set('Idempotency-Key', 'k-1').send({ ops: [ops[0]] }), 409, 'idempotency_conflict');
      expectError(await app.http().post('/tx/transaction').set('Idempotency-Key', 'bad key').send({ ops }), 400, 'validation_failed', 'headers.idempotency-key');
      expect(await counts(app)).to.deep.equal(after);
    });

    it('applies the policies the app names to the hook\'s actions (REST and blueprints)', async function () {
      const created = await app.http().post('/wallet').send({ owner: 'hal' }).expect(201);
      const tx = created.get('X-Transaction-Id') as string;
      const before = await counts(app);
      expectError(await app.http().post(`/tx/transaction/${tx}/reverse`).send({ reason: 'test' }), 403, 'forbidden');
      expectError(await app.http().delete(`/wallet/${created.body.id as string}`), 403, 'forbidden');
      expect(await counts(app)).to.deep.equal(before);
      expect(await app.engine.getLog(tx)).to.include({ reversedBy: null });

      const reversed = await app.http().post(`/tx/transaction/${tx}/reverse`).set(alice).send({ reason: 'created by mistake' }).expect(201);
      expect(reversed.body).to.include({ reverses: tx });
      expect(await app.models.wallet.findOne({ id: created.body.id })).to.equal(undefined);
      expectError(await app.http().post(`/tx/transaction/${tx}/reverse`).set(alice).send({ reason: 'again' }), 409, 'already_reversed');
      expectError(await app.http().post(`/tx/transaction/${tx}/reverse`).set(alice).send({}), 400, 'validation_failed', 'body.reason');
    });

    it('answers a document\'s history and its state at a time, only for transactional models', async function () {
      const created = await app.http().post('/wallet').send({ owner: 'ida' }).expect(201);
      const id = created.body.id as string;
      await new Promise((resolve) => setTimeout(resolve, 20));
      const between = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 20));
      await app.http().patch(`/wallet/${id}`).send({ owner: 'ivy' }).expect(200);
      const history = await app.http().get(`/tx/history/wallet/${id}`).expect(200);
      expect((history.body.versions as Doc[]).map((v) => v.kinds)).to.deep.equal([['create'], ['update']]);
      const then = await app.http().get(`/tx/history/wallet/${id}?at=${new Date(between).toISOString()}`).expect(200);
      expect(then.body.state).to.include({ owner: 'ida' });
      expectError(await app.http().get(`/tx/history/wallet/${id}?at=yesterday`), 400, 'validation_failed', 'query.at');
      expectError(await app.http().get('/tx/history/note/n1'), 403, 'forbidden', 'model');
      expectError(await app.http().get('/tx/history/transactlog/x'), 403, 'forbidden', 'model');
      expectError(await app.http().get('/tx/history/nosuch/x'), 404, 'unknown_model', 'model');
    });

    it('keeps its actions over the blueprints\' after sails.reloadActions()', async function () {
      await app.reloadActions();
      const created = await app.http().post('/wallet').send({ owner: 'jan' }).expect(201);
      expect(await app.engine.getLog(created.get('X-Transaction-Id') as string)).to.include({ state: 'committed' });
      expectError(await app.http().delete(`/wallet/${created.body.id as string}`), 403, 'forbidden');
      await app.http().get('/tx/transaction?limit=1').expect(200);
    });

    it('lists stuck transactions and settles one through recovery, recording who and why', async function () {
      const now = Date.now();
      const stuckId = newId();
      const liveId = newId();
      await app.engine.store.insertLog(newLog({ id: stuckId, state: 'pending', mode: 'batch', onCrash: 'rollback', owner: 'dead-instance', leaseUntil: now - 120_000, startedAt: now - 180_000, label: 'died' }));
      await app.engine.store.insertLog(newLog({ id: liveId, state: 'pending', mode: 'batch', onCrash: 'rollback', owner: 'live-instance', leaseUntil: now + 120_000, startedAt: now, label: 'running' }));
      try {
        const stuck = await app.http().get('/tx/transaction/stuck').expect(200);
        const items = stuck.body.items as Doc[];
        expect(items.map((i) => i.id)).to.deep.equal([stuckId]);
        expect(items[0]).to.include({ state: 'pending', label: 'died' });

        expectError(await app.http().post(`/tx/transaction/${stuckId}/settle`).send({ reason: 'operator' }), 403, 'forbidden');
        expectError(await app.http().post(`/tx/transaction/${liveId}/settle`).set(alice).send({ reason: 'too early' }), 409, 'not_stuck');
        const settled = await app.http().post(`/tx/transaction/${stuckId}/settle`).set(alice).send({ reason: 'its process is gone' }).expect(200);
        expect(settled.body).to.include({ id: stuckId, state: 'rolled-back' });
        const log = (await app.engine.getLog(stuckId)) as LogDocument;
        expect(log.state).to.equal('rolled-back');
        expect(log.error?.settled).to.include({ by: 'alice', reason: 'its process is gone' });
        expectError(await app.http().post(`/tx/transaction/${stuckId}/settle`).set(alice).send({}), 409, 'not_stuck');
        expectError(await app.http().post(`/tx/transaction/${newId()}/settle`).set(alice).send({}), 404, 'not_found', 'id');
        expect((await app.http().get('/tx/transaction/stuck').expect(200)).body.items).to.deep.equal([]);
      } finally {
        await app.engine.store.updateLog(liveId, { states: ['pending'] }, { state: 'rolled-back', endedAt: Date.now() });
      }
    });
  });
});
