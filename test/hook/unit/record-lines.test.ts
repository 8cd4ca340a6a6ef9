/**
 * RecordLocks' in-process lines (lib/protocol/redo/locks.ts): requests of one process for a record held
 * here wait in line, first come first served, and send nothing to the datastore until the
 * holder's write through RecordLocks lets the next one look; a holder that left without a word is
 * passed after a slice of the lease; a request that times out leaves its line. Pure: the
 * simulated records and log store, applying every call at once.
 */
import { expect } from 'chai';
import { ServerClock } from '../../../lib/protocol/clock';
import { TransactError } from '../../../lib/core/errors';
import { RecordLocks } from '../../../lib/protocol/redo/locks';
import { type DocRecord, lockToken, type RecordLock } from '../../../lib/store/records';
import { directTransport, SimDatabase } from '../../sim/database';
import { SimulatedRecords } from '../../sim/simulated-records';
import { createSimulatedStore } from '../../sim/simulated-store';

function setup(leaseMs = 60_000): { locks: RecordLocks; records: SimulatedRecords; grants: () => number } {
  const db = new SimDatabase();
  for (const id of ['a', 'b']) db.table('account').set(id, { id, balance: 100 });
  const { store } = createSimulatedStore([], db);
  const records = new SimulatedRecords(db, directTransport);
  let grants = 0;
  const grant = records.grant.bind(records);
  records.grant = async (...args) => {
    grants++;
    return grant(...args);
  };
  const locks = new RecordLocks(records, store, new ServerClock(() => store.serverTime(), 60_000), { instanceId: 'here', leaseMs, clockSkewMs: 0, pollMs: 1 });
  return { locks, records, grants: () => grants };
}

const lockOf = (tx: string): RecordLock => ({ token: lockToken(tx, 0), until: Date.now() + 60_000 });
const account = (id: string): { model: string; id: string } => ({ model: 'account', id });
const settleTimers = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('RecordLocks: in-process lines (pure)', function () {
  it('waiters behind a holder of this process are served in the order they came, and ask the datastore once each', async function () {
    const { locks, grants } = setup();
    const first = await locks.acquire([account('a')], lockOf('tx-0'), 5_000);
    const served: string[] = [];
    const waiters = ['tx-1', 'tx-2', 'tx-3', 'tx-4', 'tx-5'].map(async (tx) => {
      const { held } = await locks.acquire([account('a')], lockOf(tx), 5_000);
      served.push(tx);
      await settleTimers(2); // holds it a moment: the others keep waiting, silently
      await locks.free(held);
    });
    await settleTimers(30);
    expect(grants(), 'while tx-0 holds account a, its five waiters send nothing').to.equal(1);
    await locks.free(first.held);
    await Promise.all(waiters);
    expect(served, 'first come, first served').to.deep.equal(['tx-1', 'tx-2', 'tx-3', 'tx-4', 'tx-5']);
    expect(grants(), 'one grant per transaction: no waiter polled').to.equal(6);
  });

  it('a batch of two records waits in both lines at once: a later request for either is served after it', async function () {
    const { locks } = setup();
    const holder = await locks.acquire([account('a')], lockOf('tx-0'), 5_000);
    const served: string[] = [];
    const both = locks.acquire([account('a'), account('b')], lockOf('tx-1'), 5_000).then(async ({ held }) => {
      served.push('tx-1');
      await locks.free(held);
    });
    const onlyB = locks.acquire([account('b')], lockOf('tx-2'), 5_000).then(async ({ held }) => {
      served.push('tx-2');
      await locks.free(held);
    });
    await settleTimers(20);
    expect(served, 'tx-2 came after tx-1, which waits for a: b is kept for tx-1').to.deep.equal([]);
    await locks.free(holder.held);
    await Promise.all([both, onlyB]);
    expect(served).to.deep.equal(['tx-1', 'tx-2']);
  });

  it('a holder freed behind its back (another process, recovery) is passed after a slice of the lease, not at the timeout', async function () {
    const { locks, records } = setup(300);
    const { held } = await locks.acquire([account('a')], lockOf('tx-0'), 5_000);
    // Freed in the datastore without a word to this process's lines.
    await records.write(held.map((record: DocRecord) => ({ model: record.model, id: record.id, token: (record.lock as RecordLock).token, version: record.version, transition: { kind: 'free' as const } })));
    const started = Date.now();
    const next = await locks.acquire([account('a')], lockOf('tx-1'), 5_000);
    expect(next.held.map((record) => record.lock?.token)).to.deep.equal([lockToken('tx-1', 0)]);
    expect(Date.now() - started, 'within a few slices (100 ms each), far below the 5 s timeout').to.be.below(1_000);
  });

  it('a waiter that times out leaves its line and holds nothing: the next request is served at the release', async function () {
    const { locks } = setup();
    const holder = await locks.acquire([account('a'), account('b')], lockOf('tx-0'), 5_000);
    const refused = await locks.acquire([account('b'), account('a')], lockOf('tx-1'), 50).then(
      () => null,
      (err: unknown) => err,
    );
    expect(refused).to.be.instanceOf(TransactError);
    expect((refused as TransactError).code).to.equal('lock_timeout');
    const later = locks.acquire([account('a')], lockOf('tx-2'), 5_000);
    await locks.free(holder.held);
    const { held } = await later;
    expect(held.map((record) => record.lock?.token)).to.deep.equal([lockToken('tx-2', 0)]);
  });
});
