/**
 * retryingStore (lib/store/retrying.ts) is made from the AtomicStore contract, not restated method by
 * method: any async method of the store is retried on a transient error, the synchronous ones
 * (NOT_RETRIED) are called once, values and a method replaced on the store are the store's, and
 * one replaced on the retrying store (a test's counter) stays there, outside the retries.
 */
import { expect } from 'chai';
import { retryingStore, RetryPolicy } from '../../../lib/store/retrying';
import type { AtomicStore } from '../../../lib/store/contract';
import { transientError } from '../../support/flaky';

/** A store of which only the methods a case calls exist: each fails `failures` times (transiently), then answers. */
function failingStore(failures: number, calls: string[]): AtomicStore {
  let left = failures;
  const answer = <T>(name: string, value: T): Promise<T> => {
    calls.push(name);
    if (left-- > 0) return Promise.reject(transientError());
    return Promise.resolve(value);
  };
  const store = {
    kind: 'disk',
    multiProcess: false,
    fenceField: null,
    adopt: () => {
      calls.push('adopt');
    },
    serverTime: () => answer('serverTime', 42),
    findLocks: () => answer('findLocks', []),
    /** Not in the contract today: stands for a method the contract gains. */
    compact: () => answer('compact', 'done'),
  };
  return store as unknown as AtomicStore;
}

const policy = (): RetryPolicy => new RetryPolicy({ retries: 3, minTimeoutMs: 1, maxTimeoutMs: 2, factor: 1 });

describe('retryingStore: made from the contract (pure)', function () {
  it('retries every async method on a transient error, one it was never told of included', async function () {
    const calls: string[] = [];
    const store = retryingStore(failingStore(2, calls), policy());
    expect(await store.serverTime()).to.equal(42);
    expect(calls).to.deep.equal(['serverTime', 'serverTime', 'serverTime']);
    calls.length = 0;
    const grown = retryingStore(failingStore(1, calls), policy()) as AtomicStore & { compact(): Promise<string> };
    expect(await grown.compact()).to.equal('done');
    expect(calls).to.deep.equal(['compact', 'compact']);
  });

  it("calls a synchronous method once, and answers the store's values as its own", function () {
    const calls: string[] = [];
    const store = retryingStore(failingStore(0, calls), policy());
    expect(store.adopt([])).to.equal(undefined);
    expect(calls).to.deep.equal(['adopt']);
    expect([store.kind, store.multiProcess, store.fenceField]).to.deep.equal(['disk', false, null]);
  });

  it('gives up after its retries with the last error, and fails a non-transient error at once', async function () {
    const calls: string[] = [];
    const store = retryingStore(failingStore(10, calls), policy());
    const err = await store.findLocks(['a']).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(Error);
    expect(calls.length).to.equal(4);
    const inner = failingStore(0, []);
    (inner as unknown as { serverTime(): Promise<number> }).serverTime = () => Promise.reject(new Error('not transient'));
    const refused = await retryingStore(inner, policy()).serverTime().catch((e: unknown) => (e as Error).message);
    expect(refused).to.equal('not transient');
  });

  it('runs a method replaced on the store after wrapping (a counter), through the policy', async function () {
    const inner = failingStore(0, []);
    const store = retryingStore(inner, policy());
    let counted = 0;
    const original = store.serverTime;
    (inner as unknown as { serverTime(): Promise<number> }).serverTime = () => {
      counted++;
      return original();
    };
    expect(await store.serverTime()).to.equal(42);
    expect(counted).to.equal(1);
  });

  it('keeps a method set on the retrying store to itself: around the retries, the store untouched', async function () {
    const calls: string[] = [];
    const inner = failingStore(1, calls);
    const own = inner.serverTime;
    const store = retryingStore(inner, policy());
    const original = store.serverTime;
    let counted = 0;
    store.serverTime = () => {
      counted++;
      return original();
    };
    expect(await store.serverTime()).to.equal(42);
    expect({ counted, calls }).to.deep.equal({ counted: 1, calls: ['serverTime', 'serverTime'] });
    expect(inner.serverTime).to.equal(own);
  });
});
