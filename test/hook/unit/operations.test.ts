/**
 * Operations and their inverses, and recovery's decision: pure functions, tested without a database.
 */
import { expect } from 'chai';
import type { ModelInfo } from '../../../lib/core/model-info';
import { changedFields, compensationPlan, forwardAction, inverseAction, netActions, planBatch, redoPlan } from '../../../lib/core/operations';
import { canTransition, decideRecovery, isTerminal } from '../../../lib/core/state';
import type { Image, Operation, TxState } from '../../../lib/core/types';
import { modelInfo } from '../../support/model-info';

const account: ModelInfo = modelInfo(
  'account',
  { id: { type: 'string' }, owner: { type: 'string' }, balance: { type: 'number' }, meta: { type: 'json' }, createdAt: { type: 'number' }, updatedAt: { type: 'number' } },
  { createdAt: 'createdAt', updatedAt: 'updatedAt' },
);
const infoOf = (): ModelInfo => account;
const alice: Image = { id: 'a1', owner: 'Alice', balance: 100, meta: { tags: ['x'] }, createdAt: 1, updatedAt: 2 };
const bob: Image = { id: 'b1', owner: 'Bob', balance: 5, meta: null, createdAt: 3, updatedAt: 4 };
const images = new Map<string, Image | null>([['account:a1', alice], ['account:b1', bob], ['account:new', null]]);
const NOW = 1_000;

describe('operations (pure)', function () {
  it('plans each kind with exact before- and after-images, timestamps set by the engine', function () {
    const ops: Operation[] = [
      { op: 'increment', model: 'account', id: 'a1', field: 'balance', by: -30, min: 0 },
      { op: 'update', model: 'account', id: 'b1', set: { owner: 'Robert' } },
      { op: 'create', model: 'account', id: 'new', values: { owner: 'Nia', balance: 0 } },
      { op: 'destroy', model: 'account', id: 'b1' },
    ];
    const steps = planBatch(ops, images, infoOf, NOW);
    expect(steps[0]).to.deep.equal({ seq: 0, kind: 'increment', model: 'account', id: 'a1', before: alice, after: { ...alice, balance: 70, updatedAt: NOW }, delta: { field: 'balance', by: -30, min: 0 } });
    expect(steps[1].after).to.deep.equal({ ...bob, owner: 'Robert', updatedAt: NOW });
    // a create's after-image is the whole record Waterline will store: omitted attributes get their base values
    expect(steps[2]).to.deep.include({ kind: 'create', before: null, after: { id: 'new', owner: 'Nia', balance: 0, meta: null, createdAt: NOW, updatedAt: NOW } });
    // the destroy sees the update before it: its before-image is the updated document
    expect(steps[3]).to.deep.include({ kind: 'destroy', before: steps[1].after, after: null });
  });

  it('refuses an increment that leaves its bounds, naming the operation', function () {
    const plan = (): unknown => planBatch([{ op: 'increment', model: 'account', id: 'b1', field: 'balance', by: -6, min: 0 }], images, infoOf, NOW);
    expect(plan).to.throw().with.property('code', 'bound_violation');
    expect(plan).to.throw().with.property('path', 'ops.0');
    const above = (): unknown => planBatch([{ op: 'increment', model: 'account', id: 'b1', field: 'balance', by: 6, max: 10 }], images, infoOf, NOW);
    expect(above).to.throw().with.property('code', 'bound_violation');
  });

  it('refuses writes to absent documents and creates over existing ones', function () {
    expect(() => planBatch([{ op: 'update', model: 'account', id: 'new', set: { owner: 'x' } }], images, infoOf, NOW)).to.throw().with.property('code', 'not_found');
    expect(() => planBatch([{ op: 'create', model: 'account', id: 'a1', values: {} }], images, infoOf, NOW)).to.throw().with.property('code', 'already_exists');
  });

  it('inverts each step: remove the created, restore every attribute of the updated, re-insert the destroyed', function () {
    const [increment, update, create, destroy] = planBatch(
      [
        { op: 'increment', model: 'account', id: 'a1', field: 'balance', by: 1 },
        { op: 'update', model: 'account', id: 'b1', set: { meta: { a: 1 } } },
        { op: 'create', model: 'account', id: 'new', values: { owner: 'Nia' } },
        { op: 'destroy', model: 'account', id: 'a1' },
      ],
      images,
      infoOf,
      NOW,
    );
    const { id: _a, ...aliceRest } = alice;
    const { id: _b, ...bobRest } = bob;
    expect(inverseAction(increment, account)).to.deep.equal({ type: 'patch', model: 'account', id: 'a1', values: aliceRest });
    expect(inverseAction(update, account)).to.deep.equal({ type: 'patch', model: 'account', id: 'b1', values: bobRest });
    expect(inverseAction(create, account)).to.deep.equal({ type: 'remove', model: 'account', id: 'new' });
    expect(forwardAction(create, account)).to.deep.equal({ type: 'insert', model: 'account', id: 'new', values: { owner: 'Nia', balance: 0, meta: null, createdAt: NOW, updatedAt: NOW } });
    expect(inverseAction(destroy, account)).to.deep.equal({ type: 'insert', model: 'account', id: 'a1', values: { ...aliceRest, balance: 101, updatedAt: NOW } });
  });

  it('nets a transaction to one write per document: steps on one document collapse, create-then-destroy vanishes', function () {
    const steps = planBatch(
      [
        { op: 'increment', model: 'account', id: 'a1', field: 'balance', by: 1 },
        { op: 'create', model: 'account', id: 'tmp', values: { owner: 'Tim' } },
        { op: 'increment', model: 'account', id: 'a1', field: 'balance', by: 2 },
        { op: 'destroy', model: 'account', id: 'tmp' },
        { op: 'create', model: 'account', id: 'new', values: { owner: 'Nia' } },
        { op: 'update', model: 'account', id: 'new', set: { owner: 'Nina' } },
      ],
      images,
      infoOf,
      NOW,
    );
    const actions = netActions(steps, infoOf);
    expect(actions.map((a) => [a.type, a.id])).to.deep.equal([['patch', 'a1'], ['insert', 'new']]);
    expect(actions[0]).to.deep.include({ values: { balance: 103, updatedAt: NOW } });
    expect((actions[1] as { values: Record<string, unknown> }).values).to.include({ owner: 'Nina' });
  });

  it('redoes only what changed, and compensates last step first', function () {
    const steps = planBatch(
      [
        { op: 'increment', model: 'account', id: 'a1', field: 'balance', by: 1 },
        { op: 'create', model: 'account', id: 'new', values: { owner: 'Nia' } },
      ],
      images,
      infoOf,
      NOW,
    );
    expect(forwardAction(steps[0], account)).to.deep.equal({ type: 'patch', model: 'account', id: 'a1', values: { balance: 101, updatedAt: NOW } });
    expect(redoPlan(steps, infoOf).map((w) => w.action.type)).to.deep.equal(['patch', 'insert']);
    expect(compensationPlan(steps, infoOf).map((w) => [w.action.type, w.action.id])).to.deep.equal([['remove', 'new'], ['patch', 'a1']]);
  });

  it('writes the after-image\'s updatedAt even when a step in the same millisecond left it unchanged (else Waterline stamps its own)', function () {
    const steps = planBatch(
      [
        { op: 'increment', model: 'account', id: 'a1', field: 'balance', by: -5 },
        { op: 'increment', model: 'account', id: 'a1', field: 'balance', by: 2 },
      ],
      images,
      infoOf,
      NOW,
    );
    expect(steps[1].before?.updatedAt).to.equal(NOW);
    expect(forwardAction(steps[1], account)).to.deep.equal({ type: 'patch', model: 'account', id: 'a1', values: { balance: 97, updatedAt: NOW } });
    const touched = { ...alice, updatedAt: NOW };
    const same = planBatch([{ op: 'update', model: 'account', id: 'a1', set: { owner: 'Al' } }], new Map([['account:a1', touched]]), infoOf, NOW);
    expect(netActions(same, infoOf)).to.deep.equal([{ type: 'patch', model: 'account', id: 'a1', values: { owner: 'Al', updatedAt: NOW } }]);
  });

  it('compares attributes deeply when finding what changed', function () {
    expect(changedFields({ a: { x: [1] }, b: 1 }, { a: { x: [1] }, b: 2 })).to.deep.equal({ b: 2 });
    expect(changedFields({ a: null }, { a: {} })).to.deep.equal({ a: {} });
  });
});

describe('log state machine and recovery decision (pure)', function () {
  it('allows only pending → committed | rolling-back, and rolling-back → rolled-back', function () {
    const states: TxState[] = ['pending', 'committed', 'rolling-back', 'rolled-back'];
    const allowed = states.flatMap((from) => states.filter((to) => canTransition(from, to)).map((to) => `${from}→${to}`));
    expect(allowed).to.deep.equal(['pending→committed', 'pending→rolling-back', 'rolling-back→rolled-back']);
    expect(states.filter(isTerminal)).to.deep.equal(['committed', 'rolled-back']);
  });

  it('waits while a lease (plus the skew allowance) runs, then rolls back or forward by policy', function () {
    const log = { state: 'pending' as TxState, mode: 'batch' as const, onCrash: 'rollback' as const, leaseUntil: 1_000 };
    expect(decideRecovery(log, 1_500, 1_000)).to.equal('wait');
    expect(decideRecovery(log, 2_001, 1_000)).to.equal('rollback');
    expect(decideRecovery({ ...log, onCrash: 'rollforward' }, 2_001, 1_000)).to.equal('rollforward');
    expect(decideRecovery({ ...log, mode: 'interactive', onCrash: 'rollforward' }, 2_001, 1_000)).to.equal('rollback');
    expect(decideRecovery({ ...log, state: 'rolling-back', onCrash: 'rollforward' }, 2_001, 0)).to.equal('rollback');
    expect(decideRecovery({ ...log, state: 'committed' }, 0, 0)).to.equal('release-locks');
    expect(decideRecovery({ ...log, state: 'rolled-back' }, 0, 0)).to.equal('release-locks');
  });
});
