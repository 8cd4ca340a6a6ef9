/**
 * The pure parts of the finance rules, without a database: reversal planning, history
 * reading, the transient-error classifier, and the keys behind idempotency.
 */
import { expect } from 'chai';
import { stateAt, versionsOf } from '../../../lib/engine/history';
import { fingerprint, keyedTransactionId } from '../../../lib/core/log-document';
import type { ModelInfo } from '../../../lib/core/model-info';
import { planReversal } from '../../../lib/engine/reversal';
import { isTransient } from '../../../lib/store/retrying';
import type { Image, LogDocument, Step } from '../../../lib/core/types';
import { newLog } from '../../../lib/core/log-document';
import { modelInfo } from '../../support/model-info';

const info = (identity: string, extra: Partial<ModelInfo> = {}): ModelInfo =>
  modelInfo(identity, { id: { type: 'string' }, balance: { type: 'number' }, owner: { type: 'string' }, status: { type: 'string' }, updatedAt: { type: 'number' } }, {
    updatedAt: 'updatedAt',
    ...extra,
  });
const models: Record<string, ModelInfo> = {
  account: info('account'),
  transfer: info('transfer', { financial: true, reverseCreate: { status: 'reversed' } }),
  receipt: info('receipt', { financial: true }),
};
const infoOf = (model: string): ModelInfo => models[model];

const a0: Image = { id: 'a', balance: 100, owner: 'A', updatedAt: 1 };
const a1: Image = { ...a0, balance: 70, updatedAt: 2 };
const t1: Image = { id: 't', status: 'done', updatedAt: 2 };
const steps: Step[] = [
  { seq: 0, kind: 'increment', model: 'account', id: 'a', before: a0, after: a1, delta: { field: 'balance', by: -30, min: 0 } },
  { seq: 1, kind: 'create', model: 'transfer', id: 't', before: null, after: t1 },
  { seq: 2, kind: 'update', model: 'account', id: 'b', before: { id: 'b', owner: 'B', updatedAt: 1 }, after: { id: 'b', owner: 'Bee', updatedAt: 2 } },
];

describe('reversal planning (pure)', function () {
  it('decrements increments, marks financial creates, restores updated attributes — last document first', function () {
    const now = new Map<string, Image | null>([['account:a', { ...a1, balance: 5, updatedAt: 9 }], ['transfer:t', t1], ['account:b', steps[2].after]]);
    expect(planReversal({ steps }, now, infoOf)).to.deep.equal({
      operations: [
        { op: 'update', model: 'account', id: 'b', set: { owner: 'B' } },
        { op: 'update', model: 'transfer', id: 't', set: { status: 'reversed' } },
        { op: 'increment', model: 'account', id: 'a', field: 'balance', by: 30, min: 0 },
      ],
      conflicts: [],
      irreversible: [],
    });
  });

  it('reports every document changed since, and financial creates with no way back', function () {
    const receipt: Step = { seq: 3, kind: 'create', model: 'receipt', id: 'r', before: null, after: { id: 'r' } };
    const now = new Map<string, Image | null>([['account:a', null], ['transfer:t', { ...t1, status: 'done', updatedAt: 3 }], ['account:b', steps[2].after], ['receipt:r', { id: 'r' }]]);
    const plan = planReversal({ steps: [...steps, receipt] }, now, infoOf);
    expect(plan.conflicts).to.deep.equal(['transfer:t', 'account:a']);
    expect(plan.irreversible).to.deep.equal(['receipt:r']);
  });

  it('re-creates a destroyed document with its before-image, and destroys a created plain one', function () {
    const destroyed: Step = { seq: 0, kind: 'destroy', model: 'account', id: 'a', before: a0, after: null };
    const created: Step = { seq: 1, kind: 'create', model: 'account', id: 'n', before: null, after: { id: 'n', owner: 'N' } };
    const plan = planReversal({ steps: [destroyed, created] }, new Map([['account:a', null], ['account:n', { id: 'n', owner: 'N' }]]), infoOf);
    expect(plan.operations).to.deep.equal([
      { op: 'destroy', model: 'account', id: 'n' },
      { op: 'create', model: 'account', id: 'a', values: { balance: 100, owner: 'A', updatedAt: 1 } },
    ]);
  });
});

describe('history (pure)', function () {
  const log = (id: string, endedAt: number, before: Image | null, after: Image | null, state: LogDocument['state'] = 'committed'): LogDocument =>
    newLog({ id, state, mode: 'batch', onCrash: 'rollback', owner: 'o', leaseUntil: 0, startedAt: endedAt - 1, endedAt, steps: [{ seq: 0, kind: 'update', model: 'account', id: 'a', before, after }] });
  const v1 = { id: 'a', n: 1 };
  const v2 = { id: 'a', n: 2 };
  const v3 = { id: 'a', n: 3 };
  const logs = [log('t2', 20, v2, v3), log('t1', 10, v1, v2), log('tx', 15, v2, { id: 'a', n: 99 }, 'rolled-back')];

  it('lists committed versions in commit order, skipping rolled-back transactions', function () {
    expect(versionsOf(logs, 'account', 'a').map((v) => [v.transaction, v.before, v.after])).to.deep.equal([['t1', v1, v2], ['t2', v2, v3]]);
    expect(versionsOf(logs, 'account', 'other')).to.deep.equal([]);
  });

  it('answers the state at a time: before the first version, between versions, after the last', function () {
    const versions = versionsOf(logs, 'account', 'a');
    expect(stateAt(versions, 5, v3)).to.deep.equal(v1);
    expect(stateAt(versions, 10, v3)).to.deep.equal(v2);
    expect(stateAt(versions, 19, v3)).to.deep.equal(v2);
    expect(stateAt(versions, 25, v3)).to.deep.equal(v3);
    expect(stateAt([], 25, v3)).to.deep.equal(v3);
  });
});

describe('transient errors and idempotency keys (pure)', function () {
  it('retries connection, pool and conflict errors, wrapped or not, and nothing else', function () {
    const transient = [
      Object.assign(new Error('x'), { code: 'ECONNRESET' }),
      Object.assign(new Error('x'), { code: '40001' }),
      Object.assign(new Error('x'), { code: 112 }),
      Object.assign(new Error('x'), { name: 'MongoNetworkError' }),
      Object.assign(new Error('x'), { errorLabels: ['TransientTransactionError'] }),
      new Error('timeout exceeded when trying to connect'),
      Object.assign(new Error('AdapterError'), { raw: Object.assign(new Error('x'), { code: '40P01' }) }),
    ];
    const permanent = [new Error('syntax error'), Object.assign(new Error('x'), { code: 'E_UNIQUE' }), Object.assign(new Error('x'), { code: 11000 }), null, 'ECONNRESET'];
    expect(transient.map((e) => isTransient(e))).to.deep.equal(transient.map(() => true));
    expect(permanent.map((e) => isTransient(e))).to.deep.equal(permanent.map(() => false));
  });

  it('maps a key to one transaction id, and hashes operations whatever their key order', function () {
    expect(keyedTransactionId('pay-1')).to.equal(keyedTransactionId('pay-1')).and.match(/^[0-9a-f]{24}$/);
    expect(keyedTransactionId('pay-1')).to.not.equal(keyedTransactionId('pay-2'));
  });

  it("maps a key to one transaction id per scope: an unscoped key's id is unchanged, and no scope names another's or an unscoped key's", function () {
    // The id an unscoped key had before scopes existed: logs already written under it still replay.
    expect(keyedTransactionId('pay-1')).to.equal('5e490ba60ba4b6b5686d2b9e').and.equal(keyedTransactionId('pay-1', null));
    expect(keyedTransactionId('pay-1', 'user A')).to.match(/^[0-9a-f]{24}$/).and.not.equal(keyedTransactionId('pay-1'));
    expect(keyedTransactionId('pay-1', 'user A')).to.equal(keyedTransactionId('pay-1', 'user A'));
    expect(keyedTransactionId('pay-1', 'user A')).to.not.equal(keyedTransactionId('pay-1', 'user B'));
    // Scope and key never run together: ('a', 'b:c') and ('a:b', 'c') are different keys.
    expect(keyedTransactionId('b:c', 'a')).to.not.equal(keyedTransactionId('c', 'a:b'));
    expect(keyedTransactionId('', 'a')).to.not.equal(keyedTransactionId('a', ''));
    expect(fingerprint([{ op: 'update', set: { a: 1, b: 2 } }])).to.equal(fingerprint([{ set: { b: 2, a: 1 }, op: 'update' }]));
    expect(fingerprint([{ by: 1 }])).to.not.equal(fingerprint([{ by: 2 }]));
  });
});
