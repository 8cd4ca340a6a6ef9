/**
 * Log protocol v3's recovery at a start (lib/protocol/redo/recovery.ts, R7): the first pass after a start
 * rolls back at once only what this instance's earlier incarnation left; another instance's
 * pending transaction keeps its lease, on a datastore several processes share.
 * Pure: the simulated store and records, applying every call at once.
 */
import { expect } from 'chai';
import { Engine } from '../../../lib/engine';
import { newLog } from '../../../lib/core/log-document';
import { ownerToken } from '../../../lib/protocol/recovery';
import { ENGINE_OPTIONS, MODELS } from '../../sim/cluster';
import { SimulatedRecords } from '../../sim/simulated-records';
import { createSimulatedStore } from '../../sim/simulated-store';

describe('log protocol v3: recovery at a start (pure)', function () {
  it("rolls back its own earlier incarnation's pending log at once, and leaves another instance's until its lease ends", async function () {
    const { store, db, modelOf } = createSimulatedStore(MODELS);
    const engine = new Engine(store, modelOf, { ...ENGINE_OPTIONS, instanceId: 'inst-b' }, () => undefined, undefined, () => MODELS.map((m) => m.identity), new SimulatedRecords(db, { call: async (_label, _refs, apply) => apply() }));
    const leaseUntil = Date.now() + 60_000;
    const pending = (id: string, instance: string) => newLog({ id, state: 'pending', mode: 'batch', onCrash: 'rollback', owner: ownerToken(instance), leaseUntil, startedAt: Date.now(), idempotencyKey: id });
    expect(await store.insertLog(pending('ours', 'inst-b'))).to.equal(true);
    expect(await store.insertLog(pending('theirs', 'inst-a'))).to.equal(true);

    await engine.recovery.runOnce(true);

    expect((await store.getLog('ours'))?.state, "this instance's earlier incarnation died with it").to.equal('rolled-back');
    expect((await store.getLog('theirs'))?.state, "inst-a is alive: its lease still runs").to.equal('pending');
  });
});
