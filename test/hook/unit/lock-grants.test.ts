/**
 * Locks.acquire's give-back (lib/protocol/locks.ts): a batch that must wait for one document gives back
 * the locks it got past it, and later inserts those very ids again under the same owner and
 * epoch. The give-back may be delivered again later (a network duplicate, a request still queued
 * when retryingStore re-sent it: sim seed 886), and must then free nothing of the later round.
 * Pure: the simulated store, applying every call at once.
 */
import { expect } from 'chai';
import { ServerClock } from '../../../lib/protocol/clock';
import { Locks } from '../../../lib/protocol/locks';
import type { AtomicStore } from '../../../lib/store';
import { createSimulatedStore } from '../../sim/simulated-store';

describe('Locks.acquire give-back (pure)', function () {
  it("a give-back delivered again after the next round took the same ids leaves that round's locks", async function () {
    const { store } = createSimulatedStore([]);
    const far = Date.now() + 60_000;
    await store.insertLocks([{ id: 'account:a', owner: 'other', leaseUntil: far, epoch: 0 }]);
    const gaveBack: Parameters<AtomicStore['deleteLocks']>[] = [];
    const deleteLocks = store.deleteLocks.bind(store);
    store.deleteLocks = async (...args) => {
      await deleteLocks(...args);
      // A give-back names its ids; a release does not.
      if (args[0] !== 'tx-1' || args[2] === undefined) return;
      gaveBack.push(args);
      // The holder of account:a lets go once tx-1 waits for it: tx-1's next round takes all three.
      await deleteLocks('other', 0);
    };
    const locks = new Locks(store, new ServerClock(() => store.serverTime(), 60_000), { leaseMs: 60_000, timeoutMs: 5_000, pollMs: 1 }, async () => false);

    await locks.acquire(['account:c', 'account:b', 'account:a'], 'tx-1', 0);
    expect(gaveBack.map(([, , ids]) => ids), 'setup: the first round gave back b and c (it must wait for a)').to.deep.equal([['account:b', 'account:c']]);

    await deleteLocks(...gaveBack[0]);
    const held = (await store.findLocks(['account:a', 'account:b', 'account:c'])).map((lock) => `${lock.id} ${lock.owner}`).sort();
    expect(held, 'the give-back delivered again: every lock of the next round stays').to.deep.equal(['account:a tx-1', 'account:b tx-1', 'account:c tx-1']);
  });
});
