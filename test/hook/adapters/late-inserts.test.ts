/**
 * Late inserts (issue 20, finding 6): an insert sent by a transaction — its create, a roll-forward's
 * redo, the undo of a destroy — that arrives after a later committed transaction destroyed the
 * document. Each case delivers the very write the engine sent (redoPlan / compensationPlan of the
 * log, under the fence it was sent with) again, late, as a stalled request or a driver's retry
 * would. PostgreSQL and sails-disk check the lock row in the same atomic operation and refuse it;
 * MongoDB cannot (the document is absent: nothing carries a fence, and it is atomic per document
 * only), so there committed reads must leave the document out and report it, not show it.
 */
import { expect } from 'chai';
import { Engine } from '../../../lib/engine';
import { keyedTransactionId } from '../../../lib/core/log-document';
import { compensationPlan, redoPlan } from '../../../lib/core/operations';
import type { ModelInfo } from '../../../lib/core/model-info';
import type { Fence, LogDocument, Step } from '../../../lib/core/types';
import { type LoadedApp, useApp } from '../../support/app';
import { IDS, seedAccounts } from '../../support/scenario';
import { forEachAdapter } from '../../support/targets';

forEachAdapter('late inserts after a committed destroy', (target, adapter) => {
  const getApp = useApp(target, { migrate: 'drop', transact: { leaseMs: 2_000, clockSkewMs: 0, instanceId: 'late-inserts', protocol: 'log' } }, seedAccounts);
  let app: LoadedApp;
  let engine: Engine;
  let warnings: string[];
  beforeEach(function () {
    app = getApp();
    warnings = [];
    const hooked = app.hooks.transact.engine as Engine;
    // The hook's engine, with its warnings collected: what an operator would see in the log.
    engine = new Engine(hooked.store, (identity) => app.models[identity], hooked.options, (message) => warnings.push(message));
  });
  const infoOf = (model: string): ModelInfo => engine.infoOf(model) as ModelInfo;

  /** Delivers `steps`' writes again, under `fence`: 'refused' when the datastore fenced them out. */
  async function deliverLate(writes: ReturnType<typeof redoPlan>, fence: Fence): Promise<'landed' | 'refused'> {
    try {
      await engine.store.writeDocuments(writes, fence);
      return 'landed';
    } catch (err) {
      if ((err as { details?: { fenced?: unknown } }).details?.fenced === true) return 'refused';
      throw err;
    }
  }

  function expectRefusedOrReported(outcome: 'landed' | 'refused', key: string): void {
    if (adapter === 'mongo') {
      // MongoDB cannot refuse it (that is the limit); the read must not show it, and must say so.
      expect(outcome).to.equal('landed');
      expect(warnings.join('\n')).to.include(key);
    } else {
      expect(outcome, 'the lock row moved on: the datastore refuses the late write').to.equal('refused');
    }
  }

  it("hides a committed create's late insert that lands after a committed destroy, and reports it", async function () {
    const id = 'c00000000000000000000001';
    const created = await engine.batch([{ op: 'create', model: 'account', id, values: { owner: 'Eve', balance: 5 } }]);
    await engine.batch([{ op: 'destroy', model: 'account', id }]);
    // T's first insert request, stalled in the network while the driver's retry landed: it arrives now.
    const outcome = await deliverLate(redoPlan(created.steps, infoOf), { txId: created.id, epoch: 0 });
    expect(await engine.reads.find('account', { id }), 'destroyed, committed').to.deep.equal([]);
    expect(await engine.reads.count('account', { id })).to.equal(0);
    expectRefusedOrReported(outcome, `account:${id}`);
  });

  it("hides a stalled rollback's re-insert (the undo of a destroy) that lands after a later committed destroy", async function () {
    // T destroys Dave, then fails: its rollback re-inserts Dave, under epoch 1.
    const aborted = await engine.interactive(async (tx) => {
      await tx.destroy('account', IDS.dave);
      throw new Error('changed its mind');
    }).then(() => null, (err: Error) => err.message);
    expect(aborted).to.equal('changed its mind');
    const [failed] = (await logsTouching(`account:${IDS.dave}`)).filter((log) => log.state === 'rolled-back');
    expect(failed).to.include({ state: 'rolled-back', epoch: 1 });
    // Then X destroys Dave for good.
    await engine.batch([{ op: 'destroy', model: 'account', id: IDS.dave }]);
    // A second copy of the rollback's re-insert (a stalled request, or a recoverer that stalled at
    // that write while another one finished the rollback) arrives only now.
    const outcome = await deliverLate(compensationPlan(failed.steps, infoOf), { txId: failed.id, epoch: failed.epoch });
    expect(await engine.reads.find('account', { id: IDS.dave }), 'destroyed, committed').to.deep.equal([]);
    expect((await engine.reads.find('account', { id: { in: [IDS.alice, IDS.bob, IDS.carol, IDS.dave] } })).map((row) => row.id).sort()).to.deep.equal([IDS.alice, IDS.bob, IDS.carol]);
    expectRefusedOrReported(outcome, `account:${IDS.dave}`);
  });

  it("hides a stalled recoverer's late redo insert (roll-forward) after a later committed destroy", async function () {
    const id = 'c00000000000000000000002';
    // A batch that creates an account, rolled forward: recoverer R1 claimed it at epoch 1 and stalled
    // sending the redo insert. A real create step to copy: the engine's own, for another id.
    const model = await engine.batch([{ op: 'create', model: 'account', id: 'c00000000000000000000003', values: { owner: 'Frank', balance: 7 } }]);
    const step: Step = { ...model.steps[0], id, after: { ...(model.steps[0].after as Record<string, unknown>), id } };
    const txId = 'd00000000000000000000001';
    const expired = Date.now() - 60_000;
    await engine.store.insertLog({ ...((await engine.store.getLog(model.id)) as LogDocument), id: txId, state: 'pending', onCrash: 'rollforward', owner: 'r1#stalled', leaseUntil: expired, epoch: 1, recoveries: 1, steps: [step], documents: [`account:${id}`], endedAt: null });
    await engine.store.insertLocks([{ id: `account:${id}`, owner: txId, leaseUntil: expired, epoch: 1 }]);
    // R2 completes it (epoch 2): the account exists, committed.
    expect((await engine.recovery.runOnce()).rolledForward).to.equal(1);
    expect(await engine.store.getLog(txId)).to.include({ state: 'committed', epoch: 2 });
    expect(await engine.reads.find('account', { id })).to.have.length(1);
    // X destroys it; then R1's redo insert, fenced at epoch 1, arrives.
    await engine.batch([{ op: 'destroy', model: 'account', id }]);
    const outcome = await deliverLate(redoPlan([step], infoOf), { txId, epoch: 1 });
    expect(await engine.reads.find('account', { id }), 'destroyed, committed').to.deep.equal([]);
    expectRefusedOrReported(outcome, `account:${id}`);
  });

  it("a keyed create whose insert lands after its attempt rolled back: the key's repeat commits, the row counts as no document (sim seed 936)", async function () {
    const key = `late-keyed-${Date.now()}`;
    const ops = [
      { op: 'create', model: 'account', values: { owner: 'Gus', balance: 5 } },
      { op: 'increment', model: 'account', id: IDS.alice, field: 'balance', by: -5, min: 0 },
    ];
    // The first attempt's create lands; its next write fails on the network past every retry, so
    // it rolls back (at epoch 1) with `unavailable`, which decides nothing: the key may run again.
    const reset = (): Error => Object.assign(new Error('connect ECONNRESET'), { code: 'ECONNRESET' });
    const hooked = app.hooks.transact.engine as Engine;
    const flaky = new Proxy(hooked.store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (property === 'writeDocuments') {
          return (writes: ReturnType<typeof redoPlan>, fence: Fence) => (fence.epoch === 0 && writes.some(({ action }) => action.type === 'patch') ? Promise.reject(reset()) : target.writeDocuments(writes, fence));
        }
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const first = new Engine(flaky, (identity) => app.models[identity], { ...hooked.options, instanceId: 'late-keyed' });
    await first.start();
    const failed = await first.batch(ops, { idempotencyKey: key }).then(() => null, (err: { code?: string }) => err.code);
    expect(failed, 'the first attempt').to.equal('unavailable');
    const txId = keyedTransactionId(key, null);
    const log = (await engine.store.getLog(txId)) as LogDocument;
    expect(log.state, 'the first attempt rolled back').to.equal('rolled-back');
    const created = log.steps.filter((step) => step.kind === 'create');
    // Its insert request, stalled in the network, arrives only now, after the rollback removed the row.
    const outcome = await deliverLate(redoPlan(created, infoOf), { txId, epoch: 0 });
    const repeat = await engine.batch(ops, { idempotencyKey: key });
    expect(repeat.state, "the key's repeat: the late row is no committed document, so its create takes the id").to.equal('committed');
    const [gus] = await engine.reads.find('account', { id: created[0].id });
    expect(gus, 'the committed create').to.include({ owner: 'Gus', balance: 5 });
    expect((await engine.reads.find('account', { id: IDS.alice }))[0]?.balance).to.equal(995);
    if (adapter === 'mongo') expect(outcome, 'MongoDB cannot refuse it (the limit)').to.equal('landed');
    else expect(outcome, 'the lock row moved on: the datastore refuses the late write').to.equal('refused');
  });

  /** Every log (any state) whose steps touch `key`, newest first. */
  async function logsTouching(key: string): Promise<{ id: string; state: string; epoch: number; steps: Step[] }[]> {
    const rows = (await app.models.transactlog.find({})) as { id: string; state: string; epoch: number; steps: Step[]; documents: string[]; startedAt: number }[];
    return rows.filter((row) => row.documents.includes(key)).sort((a, b) => b.startedAt - a.startedAt).map((row) => ({ ...row, epoch: Number(row.epoch) }));
  }
});
