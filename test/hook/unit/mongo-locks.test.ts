/**
 * MongoStore.insertLocks over a stubbed driver: only a bulk write error whose write errors are all
 * duplicate keys is a partial success; a failure that leaves unknown which locks landed (a network
 * timeout, before or after the server inserted some) is thrown, and retryingStore's retry then
 * counts as ours exactly the locks our transaction holds at our epoch — nothing another holds.
 */
import { expect } from 'chai';
import { retryingStore, RetryPolicy } from '../../../lib/store/retrying';
import { type MongoDb, MongoStore } from '../../../lib/store/mongo/store';
import type { AtomicStore } from '../../../lib/store/contract';
import type { LockDocument } from '../../../lib/core/types';

type Doc = Record<string, unknown>;

/** What the driver throws when the socket times out: a MongoNetworkTimeoutError, which carries no writeErrors. */
function networkTimeout(): Error {
  return Object.assign(new Error('connection 3 to 127.0.0.1:27017 timed out'), { name: 'MongoNetworkTimeoutError' });
}

/**
 * The lock collection as the server keeps it (a unique _id), behind a driver that fails as told:
 * `fail` is asked before each insertMany whether to throw a network timeout, and whether the
 * server had inserted the documents by then (the reply was lost) or not (the request was).
 */
class StubLocks {
  readonly docs = new Map<string, Doc>();
  insertManyCalls = 0;
  /** Per call: a network timeout before or after the server applied it, or an error the server answers instead. */
  fail: (call: number) => 'before' | 'after' | Error | null = () => null;

  db(): MongoDb {
    const collection = {
      insertMany: async (docs: Doc[]) => {
        const call = this.insertManyCalls++;
        const fault = this.fail(call);
        if (fault === 'before') throw networkTimeout();
        if (fault instanceof Error) throw fault;
        const writeErrors: { index: number; code: number }[] = [];
        docs.forEach((doc, index) => {
          if (this.docs.has(String(doc._id))) writeErrors.push({ index, code: 11000 });
          else this.docs.set(String(doc._id), { ...doc });
        });
        if (fault === 'after') throw networkTimeout();
        if (writeErrors.length > 0) {
          throw Object.assign(new Error('E11000 duplicate key error'), { name: 'MongoBulkWriteError', code: 11000, writeErrors, insertedCount: docs.length - writeErrors.length });
        }
        return { insertedCount: docs.length };
      },
      find: (filter: { _id: { $in: string[] } }) => {
        const found = filter._id.$in.flatMap((id) => (this.docs.has(id) ? [{ ...this.docs.get(id) }] : []));
        return { toArray: async () => found, close: async () => undefined, [Symbol.asyncIterator]: () => found.values() };
      },
    };
    return { collection: () => collection, command: async () => ({}) } as unknown as MongoDb;
  }
}

function storeOver(stub: StubLocks): MongoStore {
  return new MongoStore(stub.db(), 'transact_log', 'transact_lock', () => {
    throw new Error('no documents in these tests');
  });
}

function retrying(inner: MongoStore): AtomicStore {
  return retryingStore(inner, new RetryPolicy({ retries: 3, minTimeoutMs: 1, maxTimeoutMs: 2, factor: 1 }));
}

const lock = (id: string, owner = 'tx-1', epoch = 0): LockDocument => ({ id, owner, leaseUntil: 1_000, epoch });

describe('MongoStore.insertLocks over a failing driver (pure)', function () {
  it('throws a network timeout instead of reporting every lock acquired', async function () {
    const stub = new StubLocks();
    stub.fail = () => 'before';
    const outcome = await storeOver(stub).insertLocks([lock('account:a'), lock('account:b')]).then((got) => [...got], (err: Error) => err.name);
    expect(outcome, 'the locks were never inserted').to.equal('MongoNetworkTimeoutError');
    expect(stub.docs.size).to.equal(0);
  });

  it('throws a network timeout that came after the server inserted the locks (the reply was lost)', async function () {
    const stub = new StubLocks();
    stub.fail = () => 'after';
    const outcome = await storeOver(stub).insertLocks([lock('account:a')]).then((got) => [...got], (err: Error) => err.name);
    expect(outcome).to.equal('MongoNetworkTimeoutError');
  });

  it('answers the locks a bulk write error refused as duplicate keys as not acquired, the rest as acquired', async function () {
    const stub = new StubLocks();
    stub.docs.set('account:b', { _id: 'account:b', owner: 'tx-other', leaseUntil: 1_000, epoch: 0 });
    expect([...(await storeOver(stub).insertLocks([lock('account:a'), lock('account:b'), lock('account:c')]))]).to.deep.equal(['account:a', 'account:c']);
  });

  it('throws a bulk write error with any other write error, or one that does not account for every lock', async function () {
    const stub = new StubLocks();
    const store = storeOver(stub);
    stub.fail = () => Object.assign(new Error('Document failed validation'), { name: 'MongoBulkWriteError', code: 121, writeErrors: [{ index: 0, code: 121 }] });
    expect(await store.insertLocks([lock('account:a')]).then(() => 'acquired', (err: Error) => err.message)).to.equal('Document failed validation');
    stub.fail = () => Object.assign(new Error('E11000 duplicate key error'), { name: 'MongoBulkWriteError', code: 11000, writeErrors: [{ index: 0, code: 11000 }], insertedCount: 0 });
    expect(await store.insertLocks([lock('account:a'), lock('account:b')]).then(() => 'acquired', (err: Error) => err.message), 'one duplicate, and the other not inserted either').to.equal('E11000 duplicate key error');
  });

  it('through retryingStore: retries a lost request, and gets every lock once', async function () {
    const stub = new StubLocks();
    stub.fail = (call) => (call === 0 ? 'before' : null);
    const got = await retrying(storeOver(stub)).insertLocks([lock('account:a'), lock('account:b')]);
    expect([...got].sort()).to.deep.equal(['account:a', 'account:b']);
    expect(stub.insertManyCalls).to.equal(2);
  });

  it('through retryingStore: after a lost reply, counts the locks it inserted as ours, and none another transaction (or an older attempt of ours) holds', async function () {
    const stub = new StubLocks();
    stub.docs.set('account:c', { _id: 'account:c', owner: 'tx-other', leaseUntil: 1_000, epoch: 0 });
    // A lock of the same (keyed) transaction id left by its earlier attempt, at epoch 0: not this attempt's.
    stub.docs.set('account:d', { _id: 'account:d', owner: 'tx-1', leaseUntil: 1_000, epoch: 0 });
    stub.fail = (call) => (call === 0 ? 'after' : null);
    const got = await retrying(storeOver(stub)).insertLocks([lock('account:a', 'tx-1', 1), lock('account:b', 'tx-1', 1), lock('account:c', 'tx-1', 1), lock('account:d', 'tx-1', 1)]);
    expect([...got].sort()).to.deep.equal(['account:a', 'account:b']);
    expect(stub.docs.get('account:c')).to.include({ owner: 'tx-other' });
  });
});
