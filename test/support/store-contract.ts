/**
 * The AtomicStore contract (lib/store/contract.ts) as one suite over a store factory: every real
 * store (test/hook/adapters/store-contract.test.ts) and the simulated one run the same cases, so
 * that none of them drifts from what the engine relies on — the way waterline-adapter-tests
 * holds every Waterline adapter to one behaviour. Each assertion names the contract sentence it
 * checks. Faults are the contract's own three: a call that fails, a reply that is lost (applied,
 * the caller saw an error), and a call delivered twice (right after, or later than other calls).
 */
import { expect } from 'chai';
import { isTransactError } from '../../lib/core/errors';
import { newId } from '../../lib/core/ids';
import { newLog } from '../../lib/core/log-document';
import { type Action, documentKey } from '../../lib/core/operations';
import { retryingStore, RetryPolicy } from '../../lib/store/retrying';
import type { AtomicStore, FencedWrite } from '../../lib/store';
import type { Fence, Image, LockDocument, LogDocument, LogPatch, Step, Values } from '../../lib/core/types';
import { rejection } from './errors';
import { FlakyStore } from './flaky';

/** The documents the cases write, as the store's datastore holds them: one model with `owner` (string) and `balance` (number). */
export interface ContractDocuments {
  readonly model: string;
  /** Creates a document directly (no transaction, no fence). */
  put(id: string, values: Values): Promise<void>;
  /** The document as stored, its fence apart (null where the store keeps none in documents), or null if there is none. */
  get(id: string): Promise<{ image: Image; fence: string | null } | null>;
}

/** Where the next lock insert's driver call fails (ContractSubject.failNextLockInsert), or null. */
export type LockInsertFault = 'before' | 'after' | null;

/**
 * A subject over an `account` model on the server's own clock: documents created through
 * `create`, read back by `read` (the raw row, its fence under `fenceField` when the store keeps
 * fences in documents, else null), the next lock insert failing as `fault.next` says.
 */
export function accountSubject(
  store: AtomicStore,
  create: (values: Values) => PromiseLike<unknown>,
  read: (id: string) => PromiseLike<Record<string, unknown> | undefined>,
  fenceField: string | null,
  fault: { next: LockInsertFault },
): ContractSubject {
  return {
    store,
    documents: {
      model: 'account',
      put: async (id, values) => {
        await create({ id, ...values });
      },
      get: async (id) => {
        const row = await read(id);
        if (row === undefined) return null;
        if (fenceField === null) return { image: row, fence: null };
        const { [fenceField]: fence, ...image } = row;
        return { image, fence: typeof fence === 'string' ? fence : null };
      },
    },
    failNextLockInsert: (when) => {
      fault.next = when;
    },
    clock: () => Date.now(),
    close: async () => undefined,
  };
}

/** One fresh store for one case: no logs, no locks, no documents of the model. */
export interface ContractSubject {
  store: AtomicStore;
  documents: ContractDocuments;
  /**
   * Makes the next lock insert this store sends to its driver fail as a dropped connection does:
   * `before` it reached the datastore, or `after` it applied (the reply is lost). Absent where
   * the store has no driver to stub; the cases that need it are then skipped, saying so.
   */
  failNextLockInsert?: (when: 'before' | 'after') => void;
  /** The clock the store's server keeps (epoch ms): Date.now for a server on this machine, the scheduler's for a simulated one. */
  clock(): number;
  close(): Promise<void>;
}


/** What a store does not meet today (a finding), by case: those cases are pending on it, with the reason. */
export type KnownGap = 'fenceLocksFencesUnwrittenDocuments' | 'writesCheckTheLock';

/** Releases `owner`'s locks (only `ids`, when given; only those of `grant`, when given) as a release made at `epoch`. */
export function releaseLocks(store: AtomicStore, owner: string, epoch: number, ids?: readonly string[], grant?: string): Promise<void> {
  return store.deleteLocks(owner, epoch, ids, grant);
}

/** Renews `owner`'s locks as a renewal made at `epoch`. */
export function renewLocks(store: AtomicStore, owner: string, epoch: number, leaseUntil: number): Promise<void> {
  return store.renewLocks(owner, epoch, leaseUntil);
}

/** `TRANSACT_CONTRACT_ALL=1` runs the known gaps too, to show how a store fails them. */
const RUN_EVERYTHING = process.env.TRANSACT_CONTRACT_ALL === '1';

/** A retryingStore with short waits: the path every engine call takes. */
function retrying(store: AtomicStore): AtomicStore {
  return retryingStore(store, new RetryPolicy({ retries: 3, minTimeoutMs: 1, maxTimeoutMs: 5, factor: 1 }));
}

/** retryingStore over a store whose next call of `method` applies and then loses its reply. */
function afterLostReply(store: AtomicStore, method: keyof AtomicStore): AtomicStore {
  return retrying(FlakyStore.wrap(store, 1, { lostReply: true, methods: [method] }));
}

function pendingLog(fields: Partial<LogDocument> = {}): LogDocument {
  return newLog({ id: newId(), state: 'pending', mode: 'batch', onCrash: 'rollback', owner: `owner-${newId()}`, leaseUntil: 5_000, startedAt: 1_000, ...fields });
}

function lockOf(id: string, owner: string, fields: Partial<LockDocument> = {}): LockDocument {
  return { id, owner, leaseUntil: 5_000, epoch: 0, ...fields };
}

function sortedLocks(locks: readonly LockDocument[]): LockDocument[] {
  return [...locks].sort((a, b) => a.id.localeCompare(b.id));
}

/**
 * Defines every case, inside the caller's describe block.
 * @param gaps cases this store fails today (findings), pending on it with the reason given
 */
export function defineStoreContract(open: () => Promise<ContractSubject>, gaps: Partial<Record<KnownGap, string>> = {}): void {
  let subject: ContractSubject | undefined;
  beforeEach(async function () {
    subject = await open();
  });
  afterEach(async function () {
    await subject?.close();
    subject = undefined;
  });
  const current = (): ContractSubject => {
    if (subject === undefined) throw new Error('no store open');
    return subject;
  };

  type Body = (s: ContractSubject, store: AtomicStore) => Promise<void>;
  function check(title: string, body: Body, gate: { gap?: KnownGap } = {}): void {
    const gap = gate.gap === undefined || RUN_EVERYTHING ? undefined : gaps[gate.gap];
    if (gap !== undefined) {
      it.skip(`${title} (known gap: ${gap})`, () => undefined);
      return;
    }
    it(title, async function () {
      const s = current();
      await body(s, s.store);
    });
  }

  const key = (id: string): string => documentKey(current().documents.model, id);
  /** A fresh document of the model, stored without a fence. */
  const seeded = async (balance = 100): Promise<string> => {
    const id = newId();
    await current().documents.put(id, { owner: 'Alice', balance });
    return id;
  };
  const balanceOf = async (id: string): Promise<unknown> => (await current().documents.get(id))?.image.balance;
  /** The fence a document carried before `fence`'s transaction first wrote it (null for a store without fences in documents). */
  const fenceBefore = async (id: string): Promise<string | null> => (await current().documents.get(id))?.fence ?? null;
  const patch = (id: string, values: Values, before: string | null): FencedWrite => ({ action: { type: 'patch', model: current().documents.model, id, values }, fenceBefore: before });
  const write = (action: Action, before: string | null): FencedWrite => ({ action, fenceBefore: before });
  /** A transaction holding the lock on every document of `ids`, at `epoch`. */
  const holding = async (store: AtomicStore, ids: readonly string[], epoch = 0): Promise<Fence> => {
    const txId = newId();
    const got = await store.insertLocks(ids.map((id) => lockOf(key(id), txId, { epoch })));
    expect(got.size, 'setup: insertLocks acquires free locks').to.equal(ids.length);
    return { txId, epoch };
  };

  describe('insertLog / getLog', function () {
    check('insertLog inserts the whole document and getLog returns it as given', async (_s, store) => {
      const log = pendingLog({
        label: 'contract',
        idempotencyKey: 'key-1',
        idempotencyScope: 'scope-1',
        steps: [{ seq: 0, kind: 'increment', model: 'account', id: 'x', before: { id: 'x', balance: 1 }, after: { id: 'x', balance: 2 }, delta: { field: 'balance', by: 1 }, fence: null }],
        documents: ['account:x'],
        result: { nested: [1, 'two', null] },
        error: { code: 'c', message: 'm', details: { a: 1 } },
        epoch: 2,
        recoveries: 1,
        attention: { code: 'c', message: 'm', at: 7 },
      });
      expect(await store.insertLog(log), 'insertLog: true when this call inserted the log').to.equal(true);
      expect(await store.getLog(log.id), 'getLog: the log as inserted, every field').to.deep.equal(log);
    });

    check('getLog answers null for an id never inserted', async (_s, store) => {
      expect(await store.getLog(newId()), 'getLog: null when there is no such log').to.equal(null);
    });

    check('insertLog refuses a taken id (false) and leaves the stored log as it was', async (_s, store) => {
      const first = pendingLog();
      await store.insertLog(first);
      expect(await store.insertLog({ ...first, owner: 'someone-else', state: 'rolled-back' }), 'insertLog: false when the id is taken').to.equal(false);
      expect(await store.getLog(first.id), 'insertLog: a refused insert never overwrites the stored log').to.deep.equal(first);
    });

    check('insertLog delivered twice: the second delivery is refused, also after another caller updated the log in between', async (_s, store) => {
      const log = pendingLog();
      expect(await store.insertLog(log), 'setup: insertLog of a fresh id').to.equal(true);
      expect(await store.insertLog(log), 'insertLog twice in a row: the duplicate is refused').to.equal(false);
      expect(await store.updateLog(log.id, { owner: log.owner }, { state: 'committed', endedAt: 9 })).to.equal(true);
      expect(await store.insertLog(log), 'insertLog delivered late: the duplicate is refused').to.equal(false);
      expect((await store.getLog(log.id))?.state, 'insertLog delivered late: it never undoes what came after the first delivery').to.equal('committed');
    });

    check('insertLog whose reply was lost: retryingStore reports true, the log inserted once', async (_s, store) => {
      const log = pendingLog();
      expect(await afterLostReply(store, 'insertLog').insertLog(log), 'insertLog lost reply: the retry is refused, and retryingStore recognises its own log (owner, startedAt)').to.equal(true);
      expect(await store.getLog(log.id), 'insertLog lost reply: the log stored once, as given').to.deep.equal(log);
    });

    check("insertLog that failed before applying, the id then taken by another: retryingStore reports false", async (_s, store) => {
      const log = pendingLog();
      const other = { ...log, owner: 'another-owner' };
      // The first try fails before it reaches the datastore; the id is taken meanwhile (recovery's tombstone).
      const flaky = FlakyStore.wrap(store, 1, { methods: ['insertLog'] });
      const failedOnce = retrying(
        new Proxy(flaky, {
          get(target, property, receiver) {
            if (property !== 'insertLog') return Reflect.get(target, property, receiver) as unknown;
            return async (doc: LogDocument) => {
              if (flaky.flaky.remaining === 0) return flaky.insertLog(doc);
              await store.insertLog(other);
              return flaky.insertLog(doc);
            };
          },
        }),
      );
      expect(await failedOnce.insertLog(log), "insertLog after a failed try: another owner's log under the id is not ours").to.equal(false);
      expect((await store.getLog(log.id))?.owner, 'insertLog after a failed try: the other owner’s log stands').to.equal('another-owner');
    });
  });

  describe('updateLog', function () {
    check('updateLog applies the patch when every guard matches, and changes only the patched fields', async (_s, store) => {
      const log = pendingLog({ epoch: 1, reversedBy: null });
      await store.insertLog(log);
      const steps = [{ seq: 0, kind: 'create' as const, model: 'account', id: 'y', before: null, after: { id: 'y' } }];
      const applied = await store.updateLog(log.id, { states: ['pending', 'rolling-back'], owner: log.owner, leaseUntil: log.leaseUntil, epoch: 1, reversedBy: null }, { steps, documents: ['account:y'], leaseUntil: 6_000 });
      expect(applied, 'updateLog: true when every guard matched and the patch was applied').to.equal(true);
      expect(await store.getLog(log.id), 'updateLog: sets exactly the patched fields').to.deep.equal({ ...log, steps, documents: ['account:y'], leaseUntil: 6_000 });
    });

    check('updateLog refuses (false, nothing changed) when any one guard field differs: states, owner, leaseUntil, epoch, reversedBy; or the log does not exist', async (_s, store) => {
      const log = pendingLog({ epoch: 1, reversedBy: 'r1' });
      await store.insertLog(log);
      const mismatches = [
        { states: ['committed' as const] },
        { owner: 'not-the-owner' },
        { leaseUntil: log.leaseUntil + 1 },
        { epoch: 0 },
        { reversedBy: 'r2' },
        { reversedBy: null },
      ];
      for (const guard of mismatches) {
        expect(await store.updateLog(log.id, guard, { state: 'committed' }), `updateLog: refused on a mismatched guard ${JSON.stringify(guard)}`).to.equal(false);
      }
      expect(await store.getLog(log.id), 'updateLog: a refused compare-and-set changes nothing').to.deep.equal(log);
      expect(await store.updateLog(newId(), {}, { state: 'committed' }), 'updateLog: false for a log that does not exist').to.equal(false);
      expect(await store.updateLog(log.id, { reversedBy: 'r1' }, { state: 'committed' }), 'updateLog: a matching reversedBy guard applies').to.equal(true);
    });

    check('updateLog with the guard reversedBy: null matches only a log no reversal has claimed', async (_s, store) => {
      const log = pendingLog({ state: 'committed' });
      await store.insertLog(log);
      expect(await store.updateLog(log.id, { states: ['committed'], reversedBy: null }, { reversedBy: 'rev-1' }), 'updateLog: reversedBy null matches a null field').to.equal(true);
      expect(await store.updateLog(log.id, { states: ['committed'], reversedBy: null }, { reversedBy: 'rev-2' }), 'updateLog: reversedBy null refuses a claimed one').to.equal(false);
      expect((await store.getLog(log.id))?.reversedBy, 'updateLog: the first reversal’s claim stands').to.equal('rev-1');
    });

    check('updateLog delivered twice: refused the second time when the patch changed a guarded field; re-applied when it did not, and a late duplicate then sets its older values back', async (_s, store) => {
      const log = pendingLog();
      await store.insertLog(log);
      const commit = { states: ['pending' as const], owner: log.owner };
      expect(await store.updateLog(log.id, commit, { state: 'committed', endedAt: 10 })).to.equal(true);
      expect(await store.updateLog(log.id, commit, { state: 'committed', endedAt: 10 }), 'updateLog twice: the duplicate of a state change is refused by its own guard').to.equal(false);

      const other = pendingLog();
      await store.insertLog(other);
      const guard = { states: ['pending' as const], owner: other.owner };
      expect(await store.updateLog(other.id, guard, { leaseUntil: 7_000 }), 'setup: updateLog under a matching guard').to.equal(true);
      expect(await store.updateLog(other.id, guard, { leaseUntil: 7_000 }), 'updateLog twice in a row: a patch its guard does not name applies again, to the same values').to.equal(true);
      expect(await store.updateLog(other.id, guard, { leaseUntil: 8_000 }), 'setup: a later patch under the same guard').to.equal(true);
      expect(await store.updateLog(other.id, guard, { leaseUntil: 7_000 }), 'updateLog delivered late under an unchanged guard: applies').to.equal(true);
      expect((await store.getLog(other.id))?.leaseUntil, 'updateLog delivered late under an unchanged guard: its older values replace the later patch').to.equal(7_000);
    });

    check("updateLog delivered late, after another caller's claim (owner and epoch moved): refused, the claim stands", async (_s, store) => {
      const log = pendingLog();
      await store.insertLog(log);
      const ownerGuard = { states: ['pending' as const], owner: log.owner, epoch: 0 };
      expect(await store.updateLog(log.id, ownerGuard, { leaseUntil: 6_000 }), 'setup: updateLog under a matching guard').to.equal(true);
      expect(await store.updateLog(log.id, { states: ['pending'], owner: log.owner, epoch: 0 }, { state: 'rolling-back', owner: 'recoverer', epoch: 1 })).to.equal(true);
      expect(await store.updateLog(log.id, ownerGuard, { leaseUntil: 6_000 }), "updateLog delivered late: refused once another caller's patch changed a guarded field").to.equal(false);
      const stored = await store.getLog(log.id);
      expect([stored?.owner, stored?.epoch, stored?.state]).to.deep.equal(['recoverer', 1, 'rolling-back']);
    });

    check('updateLog guarded by stepCount applies only while the log holds exactly that many steps: a late duplicate of an older step append is refused, the longer list stands', async (_s, store) => {
      const log = pendingLog();
      await store.insertLog(log);
      const lease = { states: ['pending' as const], owner: log.owner };
      const step = (seq: number): Step => ({ seq, kind: 'create', model: 'account', id: `d${seq}`, before: null, after: { id: `d${seq}` } });
      const append = (steps: Step[]): LogPatch => ({ steps, documents: steps.map((s) => `account:${s.id}`) });
      const one = [step(0)];
      const two = [step(0), step(1)];
      const three = [step(0), step(1), step(2)];
      expect(await store.updateLog(log.id, { ...lease, stepCount: 0 }, append(one)), 'updateLog stepCount: applies while the log holds exactly that many steps').to.equal(true);
      expect(await store.updateLog(log.id, { ...lease, stepCount: 0 }, append(two)), 'updateLog stepCount: refused when the log holds more steps').to.equal(false);
      expect(await store.updateLog(log.id, { ...lease, stepCount: 2 }, append(three)), 'updateLog stepCount: refused when the log holds fewer steps').to.equal(false);
      expect(await store.updateLog(log.id, { ...lease, stepCount: 1 }, append(two)), 'setup: the next append, guarded by the count it extends').to.equal(true);
      expect(await store.updateLog(log.id, { ...lease, stepCount: 0 }, append(one)), 'updateLog stepCount delivered late: the older append is refused').to.equal(false);
      expect((await store.getLog(log.id))?.steps, 'updateLog stepCount delivered late: the longer step list stands').to.deep.equal(two);
      const landed = await afterLostReply(store, 'updateLog').updateLog(log.id, { ...lease, stepCount: 2 }, append(three));
      expect(landed, 'updateLog stepCount, reply lost: the re-send is refused by the count the first delivery raised; retryingStore finds the steps as patched').to.equal(true);
      expect((await store.getLog(log.id))?.steps, 'updateLog stepCount, reply lost: appended once').to.deep.equal(three);
    });

    check('updateLog whose reply was lost: retryingStore reports true once its patch is found landed', async (_s, store) => {
      const log = pendingLog();
      await store.insertLog(log);
      const landed = await afterLostReply(store, 'updateLog').updateLog(log.id, { states: ['pending'], owner: log.owner }, { state: 'committed', endedAt: 42 });
      expect(landed, 'updateLog lost reply: the retry is refused by the guard the first delivery changed; retryingStore finds every patched field as patched').to.equal(true);
      expect((await store.getLog(log.id))?.state, 'updateLog lost reply: applied once').to.equal('committed');
    });

    check("updateLog that failed before applying, another caller's patch landing first: retryingStore reports false", async (_s, store) => {
      const log = pendingLog();
      await store.insertLog(log);
      const flaky = FlakyStore.wrap(store, 1, { methods: ['updateLog'] });
      let claimed = false;
      const racing = retrying(
        new Proxy(flaky, {
          get(target, property, receiver) {
            if (property !== 'updateLog') return Reflect.get(target, property, receiver) as unknown;
            return async (...args: Parameters<AtomicStore['updateLog']>) => {
              if (!claimed) {
                claimed = true;
                await store.updateLog(log.id, { states: ['pending'] }, { state: 'rolling-back', owner: 'recoverer', epoch: 1 });
              }
              return flaky.updateLog(...args);
            };
          },
        }),
      );
      expect(await racing.updateLog(log.id, { states: ['pending'], owner: log.owner }, { state: 'committed', endedAt: 42 }), 'updateLog after a failed try: refused, and the patch is not found landed').to.equal(false);
      expect((await store.getLog(log.id))?.state, 'updateLog after a failed try: the other caller’s patch stands').to.equal('rolling-back');
    });
  });

  describe('findExpiredLogs / findCommittedTouching', function () {
    check('findExpiredLogs: only the given states, lease strictly before the bound, oldest lease first, at most limit', async (_s, store) => {
      const logs = [
        pendingLog({ leaseUntil: 3_000 }),
        pendingLog({ leaseUntil: 1_000, state: 'rolling-back' }),
        pendingLog({ leaseUntil: 2_000 }),
        pendingLog({ leaseUntil: 2_500, state: 'committed' }),
        pendingLog({ leaseUntil: 4_000 }),
      ];
      for (const log of logs) await store.insertLog(log);
      const ids = async (limit: number): Promise<number[]> => (await store.findExpiredLogs(['pending', 'rolling-back'], 4_000, limit)).map((log) => log.leaseUntil);
      expect(await ids(10), 'findExpiredLogs: states filtered, lease < bound (strict), ascending lease').to.deep.equal([1_000, 2_000, 3_000]);
      expect(await ids(2), 'findExpiredLogs: at most limit, the oldest leases').to.deep.equal([1_000, 2_000]);
    });

    check('findCommittedTouching: committed logs that name exactly that document, by end time', async (_s, store) => {
      const late = pendingLog({ state: 'committed', endedAt: 20, documents: ['account:1', 'transfer:9'] });
      const early = pendingLog({ state: 'committed', endedAt: 10, documents: ['account:1'] });
      const prefixOnly = pendingLog({ state: 'committed', endedAt: 5, documents: ['account:10'] });
      const pending = pendingLog({ documents: ['account:1'] });
      for (const log of [late, early, prefixOnly, pending]) await store.insertLog(log);
      expect((await store.findCommittedTouching('account:1')).map((log) => log.id), 'findCommittedTouching: committed only, exact key, ascending endedAt').to.deep.equal([early.id, late.id]);
    });
  });

  describe('insertLocks / findLocks', function () {
    check('insertLocks takes every free lock and returns their ids; findLocks returns them as inserted', async (_s, store) => {
      const locks = [lockOf('account:a', 'tx-1', { epoch: 2, leaseUntil: 1_234 }), lockOf('account:b', 'tx-1', { epoch: 2, leaseUntil: 1_234 })];
      expect([...(await store.insertLocks(locks))].sort(), 'insertLocks: returns exactly the ids this call inserted').to.deep.equal(['account:a', 'account:b']);
      expect(sortedLocks(await store.findLocks(['account:a', 'account:b', 'account:missing'])), 'findLocks: the locks among the ids, as inserted; a missing id is left out').to.deep.equal(locks);
      expect(await store.findLocks([]), 'findLocks: none for no ids').to.deep.equal([]);
      expect((await store.insertLocks([])).size, 'insertLocks: nothing for no locks').to.equal(0);
    });

    check("insertLocks takes the free locks only (no all-or-nothing): a lock held by another owner, or already by the caller, is not returned and not changed", async (_s, store) => {
      await store.insertLocks([lockOf('account:b', 'holder', { epoch: 3, leaseUntil: 999 }), lockOf('account:c', 'tx-1')]);
      const got = await store.insertLocks(['account:a', 'account:b', 'account:c', 'account:d'].map((id) => lockOf(id, 'tx-1', { leaseUntil: 7_777 })));
      expect([...got].sort(), 'insertLocks: the free ids only, whoever holds the others').to.deep.equal(['account:a', 'account:d']);
      expect(await store.findLocks(['account:b']), 'insertLocks: a held lock is left exactly as it was').to.deep.equal([lockOf('account:b', 'holder', { epoch: 3, leaseUntil: 999 })]);
      expect((await store.findLocks(['account:c']))[0].leaseUntil, "insertLocks: the caller's own held lock is not re-inserted (its lease unchanged)").to.equal(5_000);
    });

    check('insertLocks delivered twice: the duplicate takes nothing; delivered late after the owner released, it takes the lock again with its original lease; after another owner took it, nothing', async (_s, store) => {
      const locks = [lockOf('account:a', 'tx-1', { leaseUntil: 1_000 })];
      expect((await store.insertLocks(locks)).size, 'setup: insertLocks of a free lock').to.equal(1);
      expect((await store.insertLocks(locks)).size, 'insertLocks twice in a row: the duplicate inserts nothing').to.equal(0);
      await releaseLocks(store, 'tx-1', 0);
      expect([...(await store.insertLocks(locks))], 'insertLocks delivered late, after the release: the lock is taken again').to.deep.equal(['account:a']);
      expect(await store.findLocks(['account:a']), 'insertLocks delivered late: the lock carries the original lease (recovery frees it once that lease is over)').to.deep.equal(locks);
      await releaseLocks(store, 'tx-1', 0);
      await store.insertLocks([lockOf('account:a', 'tx-2')]);
      expect((await store.insertLocks(locks)).size, 'insertLocks delivered late, after another owner took the lock: nothing').to.equal(0);
      expect((await store.findLocks(['account:a']))[0].owner).to.equal('tx-2');
    });

    check("insertLocks whose reply was lost: retryingStore counts the caller's own locks found after the retry, and no other owner's", async (_s, store) => {
      await store.insertLocks([lockOf('account:b', 'holder')]);
      const got = await afterLostReply(store, 'insertLocks').insertLocks(['account:a', 'account:b', 'account:c'].map((id) => lockOf(id, 'tx-1')));
      expect([...got].sort(), 'insertLocks lost reply: the retry inserts nothing; retryingStore finds account:a and account:c held by tx-1, account:b by another').to.deep.equal(['account:a', 'account:c']);
    });

    check(
      'insertLocks whose driver call failed (before or after applying) rejects, never reporting a lock acquired',
      async (s, store) => {
        if (s.failNextLockInsert === undefined) throw new Error('the subject has no driver to fail');
        s.failNextLockInsert('before');
        const before = await store.insertLocks([lockOf('account:a', 'tx-1'), lockOf('account:b', 'tx-1')]).then((got) => [...got], (err: unknown) => err);
        expect(before, 'insertLocks failure: rejects when the driver failed before applying (no lock was taken)').to.be.instanceOf(Error);
        expect(await store.findLocks(['account:a', 'account:b'])).to.deep.equal([]);
        s.failNextLockInsert('after');
        const after = await store.insertLocks([lockOf('account:a', 'tx-1'), lockOf('account:b', 'tx-1')]).then((got) => [...got], (err: unknown) => err);
        expect(after, 'insertLocks lost reply: rejects (the caller cannot tell which locks it took)').to.be.instanceOf(Error);
      },
    );

    check(
      "insertLocks whose driver call failed before applying, one lock held by another: retryingStore reports only the caller's",
      async (s, store) => {
        if (s.failNextLockInsert === undefined) throw new Error('the subject has no driver to fail');
        await store.insertLocks([lockOf('account:b', 'holder')]);
        s.failNextLockInsert('before');
        const got = await retrying(store).insertLocks(['account:a', 'account:b'].map((id) => lockOf(id, 'tx-1')));
        expect([...got], "insertLocks failure: the lock another owner holds is never reported acquired").to.deep.equal(['account:a']);
        expect((await store.findLocks(['account:b']))[0].owner).to.equal('holder');
      },
    );
  });

  describe('renewLocks / findExpiredLocks', function () {
    check("renewLocks sets the lease of every lock of the owner, and no other owner's; it sets (a later renewal may lower it), so a late duplicate moves a lease back", async (_s, store) => {
      await store.insertLocks([lockOf('account:a', 'tx-1'), lockOf('account:b', 'tx-1'), lockOf('account:c', 'tx-2')]);
      await renewLocks(store, 'tx-1', 0, 9_000);
      await renewLocks(store, 'tx-1', 0, 9_000);
      const leases = async (): Promise<number[]> => sortedLocks(await store.findLocks(['account:a', 'account:b', 'account:c'])).map((lock) => lock.leaseUntil);
      expect(await leases(), "renewLocks (twice in a row): every lock of the owner at the lease, other owners' untouched").to.deep.equal([9_000, 9_000, 5_000]);
      await renewLocks(store, 'tx-1', 0, 10_000);
      await renewLocks(store, 'tx-1', 0, 9_000);
      expect(await leases(), 'renewLocks delivered late: sets its older lease back').to.deep.equal([9_000, 9_000, 5_000]);
    });

    check(
      'renewLocks at epoch e moves the leases of the owner’s locks at epoch ≤ e, and leaves those at a later epoch (a stale renewer cannot keep a later attempt’s locks alive)',
      async (_s, store) => {
        await store.insertLocks([lockOf('account:a', 'tx-1', { epoch: 1 }), lockOf('account:b', 'tx-1', { epoch: 3 })]);
        await renewLocks(store, 'tx-1', 2, 9_000);
        const leases = sortedLocks(await store.findLocks(['account:a', 'account:b'])).map((lock) => lock.leaseUntil);
        expect(leases, 'renewLocks at epoch 2: the lock at epoch 1 renewed, the one at epoch 3 left as it was').to.deep.equal([9_000, 5_000]);
      },
    );

    check('findExpiredLocks: lease strictly before the bound, oldest first, at most limit, ids under skipPrefix left out (a literal prefix)', async (_s, store) => {
      await store.insertLocks([
        lockOf('account:a', 'tx-1', { leaseUntil: 3_000 }),
        lockOf('account:b', 'tx-2', { leaseUntil: 1_000 }),
        lockOf('~job:recovery', 'job', { leaseUntil: 500 }),
        lockOf('~jobXrecovery', 'job', { leaseUntil: 600 }),
        lockOf('account:c', 'tx-3', { leaseUntil: 4_000 }),
        lockOf('account:d', 'tx-4', { leaseUntil: 2_000 }),
      ]);
      const ids = async (limit: number, skip?: string): Promise<string[]> => (await store.findExpiredLocks(4_000, limit, skip)).map((lock) => lock.id);
      expect(await ids(10), 'findExpiredLocks: lease < bound (strict), ascending lease').to.deep.equal(['~job:recovery', '~jobXrecovery', 'account:b', 'account:d', 'account:a']);
      expect(await ids(10, '~job:'), 'findExpiredLocks: skipPrefix is a literal prefix').to.deep.equal(['~jobXrecovery', 'account:b', 'account:d', 'account:a']);
      expect(await ids(2, '~job'), 'findExpiredLocks: at most limit, after skipping').to.deep.equal(['account:b', 'account:d']);
    });
  });

  describe('deleteLocks', function () {
    check("deleteLocks deletes the owner's locks (only those named, when given) and no other owner's; delivered twice it changes nothing more", async (_s, store) => {
      await store.insertLocks([lockOf('account:a', 'tx-1'), lockOf('account:b', 'tx-1'), lockOf('account:c', 'tx-1'), lockOf('account:d', 'tx-2')]);
      await releaseLocks(store, 'tx-1', 0, ['account:a', 'account:d']);
      const ids = async (): Promise<string[]> => sortedLocks(await store.findLocks(['account:a', 'account:b', 'account:c', 'account:d'])).map((lock) => lock.id);
      expect(await ids(), "deleteLocks with ids: only the owner's locks among them").to.deep.equal(['account:b', 'account:c', 'account:d']);
      await releaseLocks(store, 'tx-1', 0);
      await releaseLocks(store, 'tx-1', 0);
      expect(await ids(), "deleteLocks (twice in a row): every lock of the owner, no other owner's").to.deep.equal(['account:d']);
    });

    check(
      'deleteLocks at epoch e deletes the locks of the owner at epoch ≤ e, and leaves those at a later epoch (a late release cannot free a reopened attempt)',
      async (_s, store) => {
        await store.insertLocks([lockOf('account:a', 'tx-1', { epoch: 0 }), lockOf('account:b', 'tx-1', { epoch: 0 })]);
        await store.fenceLocks('tx-1', 1);
        await releaseLocks(store, 'tx-1', 1);
        expect(await store.findLocks(['account:a', 'account:b']), 'deleteLocks: a release at the epoch the locks were fenced to deletes them').to.deep.equal([]);
        // The keyed attempt is reopened under the same id and locks again, at epoch 3.
        await store.insertLocks([lockOf('account:a', 'tx-1', { epoch: 3 })]);
        await releaseLocks(store, 'tx-1', 1);
        await releaseLocks(store, 'tx-1', 2, ['account:a']);
        expect(await store.findLocks(['account:a']), 'deleteLocks delivered late (epoch 1, 2): the lock taken at epoch 3 stays').to.deep.equal([lockOf('account:a', 'tx-1', { epoch: 3 })]);
      },
    );

    check(
      'deleteLocks with a grant deletes only the locks of that grant: a late delivery after the same owner and epoch re-inserted the ids under a new grant leaves them',
      async (_s, store) => {
        // One acquisition round takes a, b and c, and gives b and c back (it must wait before them).
        await store.insertLocks(['account:a', 'account:b', 'account:c'].map((id) => lockOf(id, 'tx-1', { grant: 'round-1' })));
        await releaseLocks(store, 'tx-1', 0, ['account:b', 'account:c'], 'round-1');
        const ids = async (): Promise<string[]> => sortedLocks(await store.findLocks(['account:a', 'account:b', 'account:c', 'account:d'])).map((lock) => lock.id);
        expect(await ids(), "deleteLocks with a grant: the grant's locks among the ids").to.deep.equal(['account:a']);
        // The next round takes b and c again, under the same owner and epoch.
        const again = ['account:b', 'account:c'].map((id) => lockOf(id, 'tx-1', { grant: 'round-2' }));
        expect([...(await store.insertLocks(again))].sort(), 'setup: the next round takes b and c again').to.deep.equal(['account:b', 'account:c']);
        await releaseLocks(store, 'tx-1', 0, ['account:b', 'account:c'], 'round-1');
        expect(sortedLocks(await store.findLocks(['account:b', 'account:c'])), "deleteLocks delivered late: the next round's locks stay, carrying their grant").to.deep.equal(again);
        await store.insertLocks([lockOf('account:d', 'tx-1')]);
        await releaseLocks(store, 'tx-1', 0, ['account:d'], 'round-1');
        expect(await ids(), 'deleteLocks with a grant: a lock of the owner without a grant is spared').to.deep.equal(['account:a', 'account:b', 'account:c', 'account:d']);
        await releaseLocks(store, 'tx-1', 0);
        expect(await ids(), 'deleteLocks without a grant: every lock of the owner, whatever its grant').to.deep.equal([]);
      },
    );
  });

  describe('fenceLocks', function () {
    check("fenceLocks raises the epoch of every lock of the transaction below it, never lowers one, never touches another's; twice or late it changes nothing more", async (_s, store) => {
      await store.insertLocks([lockOf('account:a', 'tx-1', { epoch: 0 }), lockOf('account:b', 'tx-1', { epoch: 5 }), lockOf('account:c', 'tx-2', { epoch: 0 })]);
      await store.fenceLocks('tx-1', 3);
      await store.fenceLocks('tx-1', 3);
      const epochs = async (): Promise<number[]> => sortedLocks(await store.findLocks(['account:a', 'account:b', 'account:c'])).map((lock) => lock.epoch);
      expect(await epochs(), "fenceLocks (twice in a row): raised to the epoch, a higher one kept, another transaction's untouched").to.deep.equal([3, 5, 0]);
      await store.fenceLocks('tx-1', 4);
      await store.fenceLocks('tx-1', 2);
      expect(await epochs(), 'fenceLocks delivered late with a lower epoch: never lowers').to.deep.equal([4, 5, 0]);
    });
  });

  describe('writeDocuments', function () {
    check('writeDocuments applies insert, patch and remove, in order, while the fence holds the locks', async (s, store) => {
      const [patched, removed, created] = [await seeded(100), await seeded(50), newId()];
      const fence = await holding(store, [patched, removed, created]);
      await store.writeDocuments(
        [
          write({ type: 'insert', model: s.documents.model, id: created, values: { owner: 'Carol', balance: 7 } }, null),
          patch(patched, { balance: 90 }, await fenceBefore(patched)),
          patch(patched, { balance: 80 }, await fenceBefore(patched)),
          write({ type: 'remove', model: s.documents.model, id: removed }, await fenceBefore(removed)),
        ],
        fence,
      );
      expect(await balanceOf(created), 'writeDocuments: an insert creates the document').to.equal(7);
      expect(await balanceOf(patched), 'writeDocuments: writes apply in order (the last patch wins)').to.equal(80);
      expect(await s.documents.get(removed), 'writeDocuments: a remove deletes the document').to.equal(null);
    });

    check('writeDocuments re-applied under the same fence is harmless: insert, patch and remove twice in a row give the same documents', async (s, store) => {
      const [patched, removed, created] = [await seeded(100), await seeded(50), newId()];
      const fence = await holding(store, [patched, removed, created]);
      const writes = [
        write({ type: 'insert', model: s.documents.model, id: created, values: { owner: 'Carol', balance: 7 } }, null),
        patch(patched, { balance: 90 }, await fenceBefore(patched)),
        write({ type: 'remove', model: s.documents.model, id: removed }, await fenceBefore(removed)),
      ];
      await store.writeDocuments(writes, fence);
      await store.writeDocuments(writes, fence);
      expect([await balanceOf(created), await balanceOf(patched), await s.documents.get(removed)], 'writeDocuments twice: the same documents as once').to.deep.equal([7, 90, null]);
    });

    check('writeDocuments: an insert of a document that exists is accepted under a fence that owns it; a remove of a missing one is a no-op; a patch of a missing one creates nothing', async (s, store) => {
      const [existing, missing, absent] = [await seeded(100), newId(), newId()];
      const fence = await holding(store, [existing, missing, absent]);
      await store.writeDocuments([write({ type: 'insert', model: s.documents.model, id: existing, values: { owner: 'Alice', balance: 100 } }, await fenceBefore(existing))], fence);
      expect(await balanceOf(existing), 'writeDocuments: an insert of an existing document is accepted, and it stays one document').to.equal(100);
      await store.writeDocuments([write({ type: 'remove', model: s.documents.model, id: missing }, null)], fence);
      // MongoStore refuses the patch (lease_lost: "or is gone"), the others accept it as a no-op: either way nothing is created.
      await store.writeDocuments([patch(absent, { balance: 5 }, null)], fence).catch((err: unknown) => {
        if (!isTransactError(err, 'lease_lost')) throw err;
      });
      expect([await s.documents.get(missing), await s.documents.get(absent)], 'writeDocuments: a remove or a patch of a missing document creates nothing').to.deep.equal([null, null]);
    });

    check('writeDocuments whose reply was lost: retryingStore re-sends it, and the documents are as written once', async (s, store) => {
      const [patched, created] = [await seeded(100), newId()];
      const fence = await holding(store, [patched, created]);
      await afterLostReply(store, 'writeDocuments').writeDocuments(
        [write({ type: 'insert', model: s.documents.model, id: created, values: { owner: 'Carol', balance: 7 } }, null), patch(patched, { balance: 90 }, await fenceBefore(patched))],
        fence,
      );
      expect([await balanceOf(created), await balanceOf(patched)], 'writeDocuments lost reply: the re-send under the same fence lands as a no-op').to.deep.equal([7, 90]);
    });

    check("writeDocuments at an old epoch is refused (lease_lost, details.fenced) once a writer at the new epoch wrote the document; the newer image stays (also for a late duplicate)", async (_s, store) => {
      const id = await seeded(100);
      const original = await holding(store, [id]);
      const before = await fenceBefore(id);
      await store.writeDocuments([patch(id, { balance: 90 }, before)], original);
      await store.fenceLocks(original.txId, 1);
      const recoverer = { txId: original.txId, epoch: 1 };
      await store.writeDocuments([patch(id, { balance: 100 }, before)], recoverer);
      const err = await rejection(store.writeDocuments([patch(id, { balance: 90 }, before)], original));
      expect(isTransactError(err, 'lease_lost') && err.details?.fenced, 'writeDocuments: a refused write throws lease_lost with details.fenced').to.equal(true);
      expect(await balanceOf(id), 'writeDocuments delivered late at an old epoch: the newer owner’s image stays').to.equal(100);
    });

    check(
      'writeDocuments at an old epoch is refused right after fenceLocks, before any write at the new epoch; nothing of it is written',
      async (_s, store) => {
        const [first, second] = [await seeded(100), await seeded(200)];
        const fence = await holding(store, [first, second]);
        await store.fenceLocks(fence.txId, 1);
        const err = await rejection(store.writeDocuments([patch(first, { balance: 1 }, await fenceBefore(first)), patch(second, { balance: 2 }, await fenceBefore(second))], fence));
        expect(isTransactError(err, 'lease_lost') && err.details?.fenced, 'fenceLocks: from then on only writes at that epoch land').to.equal(true);
        expect([await balanceOf(first), await balanceOf(second)], 'fenceLocks: a write at an older epoch lands on no document').to.deep.equal([100, 200]);
      },
      { gap: 'fenceLocksFencesUnwrittenDocuments' },
    );

    check(
      "writeDocuments is refused for a transaction that holds no lock on the document, or whose lock another transaction holds",
      async (_s, store) => {
        const [unlocked, othersLock] = [await seeded(100), await seeded(200)];
        await holding(store, [othersLock]);
        const intruder = { txId: newId(), epoch: 0 };
        const noLock = await rejection(store.writeDocuments([patch(unlocked, { balance: 1 }, await fenceBefore(unlocked))], intruder));
        expect(isTransactError(noLock, 'lease_lost'), 'writeDocuments: refused unless the fence holds the lock').to.equal(true);
        const taken = await rejection(store.writeDocuments([patch(othersLock, { balance: 2 }, await fenceBefore(othersLock))], intruder));
        expect(isTransactError(taken, 'lease_lost'), "writeDocuments: refused on another transaction's lock").to.equal(true);
        expect([await balanceOf(unlocked), await balanceOf(othersLock)], 'writeDocuments: a refused write changes nothing').to.deep.equal([100, 200]);
      },
      { gap: 'writesCheckTheLock' },
    );
    check(
      "writeDocuments is refused at an epoch its transaction's log has moved past, even under a lock at that epoch (one a late insertLocks delivery put back after the takeover released)",
      async (_s, store) => {
        const doc = await seeded(100);
        const log = pendingLog();
        await store.insertLog(log);
        expect(await store.updateLog(log.id, { states: ['pending'], epoch: 0 }, { state: 'rolling-back', epoch: 1 }), 'setup: the takeover moves the log to epoch 1').to.equal(true);
        expect((await store.insertLocks([lockOf(key(doc), log.id, { epoch: 0 })])).size, 'setup: the late lock insert of epoch 0 lands').to.equal(1);
        const late = await rejection(store.writeDocuments([patch(doc, { balance: 1 }, await fenceBefore(doc))], { txId: log.id, epoch: 0 }));
        expect(isTransactError(late, 'lease_lost'), 'writeDocuments: refused once the log is past the fence epoch').to.equal(true);
        expect(await balanceOf(doc), 'writeDocuments: a refused write changes nothing').to.equal(100);
      },
      { gap: 'fenceLocksFencesUnwrittenDocuments' },
    );
  });

  describe('readView / serverTime', function () {
    check("readView returns each request's rows in order, names the transaction that holds and wrote a document, and that writer's log", async (s, store) => {
      const [a, b] = [await seeded(100), await seeded(200)];
      const log = pendingLog();
      await store.insertLog(log);
      expect((await store.insertLocks([lockOf(key(b), log.id)])).size, 'setup: insertLocks of a free lock').to.equal(1);
      await store.writeDocuments([patch(b, { balance: 150 }, await fenceBefore(b))], { txId: log.id, epoch: 0 });
      const view = await store.readView([
        { model: s.documents.model, where: {}, sort: [{ balance: 'DESC' }] },
        { model: s.documents.model, where: { id: a }, sort: [{ id: 'ASC' }] },
      ]);
      expect(view.rows.map((rows) => rows.map((row) => row.balance)), 'readView: the rows of every request, as stored, in its sort order').to.deep.equal([[150, 100], [100]]);
      expect(view.rows[0].every((row) => Object.keys(row).every((field) => field !== store.fenceField)), 'readView: rows come without the fence field').to.equal(true);
      expect(view.writers.get(key(b)), 'readView: writers names the unfinished transaction that holds (and wrote) the document').to.equal(log.id);
      expect(view.logs.get(log.id)?.state, "readView: the logs include that writer's, as of the same instant").to.equal('pending');
    });

    check('serverTime is the server clock in epoch ms, and does not go back between calls', async (s, store) => {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) times.push(await store.serverTime());
      expect(Math.abs(times[0] - s.clock()), "serverTime: epoch ms, the server's clock (within a minute of the subject's)").to.be.below(60_000);
      expect(times, 'serverTime: non-decreasing over consecutive calls').to.deep.equal([...times].sort((x, y) => x - y));
    });
  });
}
