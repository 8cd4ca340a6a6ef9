/**
 * MongoDB committed reads over a stubbed driver: the read stands only when every row's whole fence
 * token (`txId.epoch`) is the same in the first and the second read. A keyed transaction reopened
 * between the two reads keeps its id but writes at a new epoch: comparing ids alone let a read that
 * straddled the reopen return the new attempt's uncommitted value.
 */
import { expect } from 'chai';
import { newLog } from '../../../lib/core/log-document';
import { CommittedReads } from '../../../lib/reads';
import { FENCE_FIELD, type MongoDb, MongoStore } from '../../../lib/store/mongo/store';
import type { LogDocument } from '../../../lib/core/types';
import type { WaterlineModel } from '../../../lib/core/waterline';
import { modelInfo } from '../../support/model-info';

type Doc = Record<string, unknown>;

/** The datastore as the stubbed driver and model answer it: what each read finds now. */
interface World {
  account: Doc[];
  locks: Doc[];
  logs: Map<string, LogDocument>;
}

function cursor(docs: Doc[]): unknown {
  return { toArray: async () => docs.map((doc) => ({ ...doc })), close: async () => undefined, [Symbol.asyncIterator]: () => docs.values() };
}

/** A MongoStore over `world`; `beforeRead(n)` runs before the n-th read of the account rows (what happens meanwhile). */
function storeOver(world: World, beforeRead: (n: number) => void): MongoStore {
  let reads = 0;
  const collection = (name: string): unknown => ({
    find: (filter: { _id?: string | { $in: string[] } }) => {
      if (name === 'transact_lock') return cursor(world.locks);
      const ids = typeof filter._id === 'string' ? [filter._id] : filter._id?.$in ?? [];
      return cursor(ids.flatMap((id) => {
        const log = world.logs.get(id);
        if (log === undefined) return [];
        const { id: _id, ...rest } = structuredClone(log);
        return [{ _id, ...rest }];
      }));
    },
  });
  const db = { collection, command: async () => ({}) } as unknown as MongoDb;
  const account = {
    primaryKey: 'id',
    attributes: { id: {}, balance: {} },
    find: () => ({
      meta: async () => {
        beforeRead(reads++);
        return world.account.map((doc) => ({ ...doc }));
      },
    }),
  } as unknown as WaterlineModel;
  return new MongoStore(db, 'transact_log', 'transact_lock', () => account);
}

const info = modelInfo('account', { id: { type: 'string' }, balance: { type: 'number' } });

describe('MongoDB committed reads across a keyed reopen (pure)', function () {
  it('does not keep a read whose rows changed fence epoch under the same transaction id: 100, not the reopened attempt\'s 150', async function () {
    // Keyed transaction T's first attempt was rolled back: its compensation left A at 100, fenced T.1.
    const rolledBack = newLog({ id: 'T', state: 'rolled-back', mode: 'batch', onCrash: 'rollback', owner: 'i#1', leaseUntil: 0, startedAt: 0, epoch: 1, steps: [] });
    const world: World = { account: [{ id: 'a', balance: 100, [FENCE_FIELD]: 'T.1' }], locks: [], logs: new Map([['T', rolledBack]]) };
    const store = storeOver(world, (n) => {
      if (n !== 1) return;
      // Between the first read and the second (after the logs were read): a repeat of the key reopens
      // T at epoch 2, which locks A, logs its step and writes A = 150 — uncommitted.
      world.logs.set('T', {
        ...rolledBack,
        state: 'pending',
        epoch: 2,
        steps: [{ seq: 0, kind: 'increment', model: 'account', id: 'a', before: { id: 'a', balance: 100 }, after: { id: 'a', balance: 150 }, fence: 'T.1' }],
      });
      world.locks = [{ _id: 'account:a', owner: 'T', leaseUntil: 0, epoch: 2 }];
      world.account = [{ id: 'a', balance: 150, [FENCE_FIELD]: 'T.2' }];
    });
    const rows = await new CommittedReads(store, () => info).find('account');
    expect(rows.map((row) => row.balance), 'A is committed at 100 throughout').to.deep.equal([100]);
    expect(store.viewStats.rowsChanged, 'the straddling read was discarded').to.equal(1);
  });
});
