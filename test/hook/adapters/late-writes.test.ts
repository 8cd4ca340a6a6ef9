/**
 * Issue 21, property 3, on the MongoDB wire: an owner whose network stalls (Toxiproxy, 8 s of
 * latency) while its batch of one debit and 60 creates is on the way, past its lease. Recovery
 * settles the batch meanwhile; then what the owner sent arrives. On log protocol v2 the create
 * it had sent lands after the rollback (an insert carries no fence): a document no committed
 * transaction created, which `Model.find` returns. On v3 the only insert is a stub's, before the
 * commit point, held by the dead attempt and hidden from every read; the next pass frees it as a
 * tombstone. Nothing in the argument depends on the 8 s being shorter or longer than anything.
 *
 * MongoDB only: sails-disk lives in one process (no second process, no wire), and PostgreSQL
 * checks the lock row in the insert's own transaction (test/hook/adapters/late-inserts.test.ts).
 */
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Engine } from '../../../lib/engine';
import type { RecordStore } from '../../../lib/store/records';
import { type LoadedApp, loadApp, lowerApp } from '../../support/app';
import { startChild, waitStopped } from '../../support/child';
import { LOAD_ACCOUNTS, lateIds, recoverAll, seedLoadAccounts, START_BALANCE } from '../../support/load';
import { forEachAdapter, required } from '../../support/targets';
import { addToxic, createProxy, deleteProxy, proxiedUrl, removeToxic, toxiproxyUrl } from '../../support/toxiproxy';

const LEASE_MS = 1000;
const STALL_MS = 8000;
const CREATES = 60;


forEachAdapter('late writes from an owner whose network stalled past its lease', (target, adapter) => {
  if (adapter !== 'mongo') return;
  // v2 is what v3 fixes: LATE_WRITES_PROTOCOLS=log,redo runs both (v2 fails: its create lands).
  const protocols = (process.env.LATE_WRITES_PROTOCOLS ?? 'redo').split(',') as ('log' | 'redo')[];
  for (const protocol of protocols) {
    describe(`log protocol ${protocol === 'redo' ? 'v3' : 'v2'}`, function () {
      let app: LoadedApp;
      let engine: Engine;

      before(async function () {
        app = await loadApp(target(), { migrate: 'drop', transact: { protocol, leaseMs: LEASE_MS, clockSkewMs: 0, recoveryIntervalMs: 0, instanceId: 'observer' } });
        engine = app.hooks.transact.engine as Engine;
      });
      after(async function () {
        if (app !== undefined) await lowerApp(app);
      });

      it(`a batch of a debit and ${CREATES} creates, its requests delayed ${STALL_MS / 1000} s, settled by recovery meanwhile: no document that no committed transaction created, money as committed`, async function () {
        this.timeout(180_000);
        if (toxiproxyUrl() === undefined) {
          if (required(adapter)) throw new Error('TOXIPROXY_URL is not set (scripts/test-env.sh starts Toxiproxy)');
          this.skip();
        }
        await seedLoadAccounts(app);
        const ids = lateIds(CREATES);
        const proxy = await createProxy(`late-writes-${protocol}-${Date.now()}`, new URL(target().location).host);
        try {
          // Frozen before any create is sent: v2 after its debit's write (each document written on
          // its own), v3 after its keyed log (grant and stubs come next). SIGSTOP, then the stall.
          const key = protocol === 'redo' ? `late-${Date.now()}` : '-';
          const owner = startChild({ adapter, location: proxiedUrl(target().location, proxy) }, ['create-batch', String(CREATES), key], protocol === 'redo' ? 'batch:logged' : 'batch:writing#2', { TRANSACT_CRASH_SIGNAL: 'SIGSTOP', CHILD_MIGRATE: 'safe', TRANSACT_INSTANCE: 'late-owner', TRANSACT_PROTOCOL: protocol }, 150_000);
          await waitStopped(owner.process.pid as number);
          const toxic = await addToxic(proxy, { type: 'latency', stream: 'upstream', attributes: { latency: STALL_MS, jitter: 0 } });
          const resumed = Date.now();
          owner.process.kill('SIGCONT');
          // Its lease ends while its requests are on the way: recovery settles the batch.
          await sleep(LEASE_MS + 1500);
          await recoverAll(app);
          // The link heals: what the owner sent meanwhile arrives now.
          await sleep(Math.max(0, resumed + STALL_MS + 1000 - Date.now()));
          await removeToxic(proxy, toxic);
          const result = await owner.done;
          const outcome = JSON.parse(result.lines.get('OUTCOME') ?? 'null') as string | null;
          expect(outcome, `the owner's outcome: ${result.stderr.slice(-2000)}`).to.be.a('string');
          await recoverAll(app);
          // v3: what the owner sent may land after its end (its stubs, its lease renewals); recovery
          // frees each stub once its lease is over (bounded passes).
          const heldStubs = async (): Promise<string[]> => (engine.records === undefined ? [] : (await engine.records.read('transfer', ids)).filter((record) => record.lock !== null).map((record) => record.id));
          for (const deadline = Date.now() + 20_000; (await heldStubs()).length > 0 && Date.now() < deadline; ) {
            await sleep(250);
            await app.hooks.transact.recover();
          }
          const committed = outcome === 'committed';
          const plain = (await app.models.transfer.find({ id: ids })).map((row) => row.id);
          console.log(`      ${protocol}: owner ${outcome}; ${plain.length} of ${CREATES} created transfers in a plain find`);
          expect(plain, 'plain find: only what a committed transaction created').to.have.length(committed ? CREATES : 0);
          expect(await engine.reads.find('transfer', { id: ids }), 'committed reads').to.have.length(committed ? CREATES : 0);
          expect((await app.models.account.findOne({ id: LOAD_ACCOUNTS[0] }))?.balance).to.equal(START_BALANCE - (committed ? CREATES : 0));
          if (engine.records !== undefined) {
            const records = await (engine.records as RecordStore).read('transfer', ids);
            const stuck = records.filter((record) => record.lock !== null).map(({ id, lock, version, state }) => ({ id, lock, version, state }));
            expect(stuck, `every stub freed by recovery (now ${Date.now()})`).to.deep.equal([]);
            expect(records.filter((record) => record.state === 'live'), 'no stub became a document').to.have.length(committed ? CREATES : 0);
          }
        } finally {
          await deleteProxy(proxy);
        }
      });
    });
  }
});
