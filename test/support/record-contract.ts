/**
 * The RecordStore contract (lib/store/records.ts; docs/protocol-v3.md R1, R2, R4, R6, R7, R9) as
 * one suite over a record store factory, the way test/support/store-contract.ts holds every
 * AtomicStore to one behaviour: DiskRecords, MongoRecords and PostgresRecords run the same cases
 * (test/hook/adapters/record-contract.test.ts). Two models: `account` (no unique attribute) and
 * `user` (`username` unique).
 */
import { expect } from 'chai';
import { isTransactError } from '../../lib/core/errors';
import { newId } from '../../lib/core/ids';
import { documentKey } from '../../lib/core/operations';
import { type DocRecord, type GuardedWrite, lockToken, type RecordLock, type RecordStore } from '../../lib/store/records';
import type { Values } from '../../lib/core/types';
import { rejection } from './errors';

export interface RecordSubject {
  records: RecordStore;
  /** Creates a live document with a plain Waterline create (no record: version 0, free). */
  put(model: string, id: string, values: Values): Promise<void>;
  /** What the app's plain queries see: `Model.find({})` and `Model.count({})`. */
  plain(model: string): Promise<{ rows: Record<string, unknown>[]; count: number }>;
  /** The datastore's clock (ms). */
  now(): number;
}

/** Cases a store does not meet today, pending on it with the reason. */
export type RecordGap = 'uniqueValuesReserved';

const RUN_EVERYTHING = process.env.TRANSACT_RUN_KNOWN_GAPS === '1';

export function defineRecordContract(open: () => Promise<RecordSubject>, gaps: Partial<Record<RecordGap, string>> = {}): void {
  let subject: RecordSubject | undefined;
  beforeEach(async function () {
    subject = await open();
  });
  const s = (): RecordSubject => subject as RecordSubject;

  function check(title: string, body: (records: RecordStore) => Promise<void>, gate: { gap?: RecordGap } = {}): void {
    const gap = gate.gap === undefined || RUN_EVERYTHING ? undefined : gaps[gate.gap];
    if (gap !== undefined) {
      it.skip(`${title} (known gap: ${gap})`, () => undefined);
      return;
    }
    it(title, async function () {
      await body(s().records);
    });
  }

  const lock = (until = s().now() + 60_000): RecordLock => ({ token: lockToken(newId(), 0), until });
  const account = async (balance = 100): Promise<string> => {
    const id = newId();
    await s().put('account', id, { owner: 'Alice', balance });
    return id;
  };
  const one = async (records: RecordStore, model: string, id: string): Promise<DocRecord> => (await records.read(model, [id]))[0];
  const write = (record: DocRecord, transition: GuardedWrite['transition'], token = record.lock?.token as string, version = record.version): GuardedWrite => ({ model: record.model, id: record.id, token, version, transition });
  const user = (username: string): Values => ({ username, passwordHash: 'x', role: 'readonly' });

  check('read: a document never locked is live, free, at version 0; an id never used is absent', async (records) => {
    const id = await account();
    const [live, absent] = await records.read('account', [id, newId()]);
    expect(live).to.deep.include({ state: 'live', lock: null, version: 0 });
    expect(live.image).to.include({ owner: 'Alice', balance: 100 });
    expect(absent).to.deep.include({ state: 'absent', image: null, lock: null, version: 0 });
  });

  check('grant: only free records; a second delivery, or another holder, changes nothing; an absent id is not granted', async (records) => {
    const [a1, a2] = [await account(), await account()];
    const mine = lock();
    const granted = await records.grant('account', [a1, a2, newId()], mine);
    expect(granted.map((r) => [r.state, r.lock?.token ?? null, r.version])).to.deep.equal([['live', mine.token, 1], ['live', mine.token, 1], ['absent', null, 0]]);
    expect((await records.grant('account', [a1, a2], mine)).map((r) => r.version), 'twice delivered: no fresh version').to.deep.equal([1, 1]);
    const other = await records.grant('account', [a1], lock());
    expect(other[0].lock?.token, 'held: another grant leaves the holder').to.equal(mine.token);
    expect(other[0].version).to.equal(1);
  });

  check('grant of one document (an interactive lock: MongoDB grants and reads it in one call): the same answers as for several', async (records) => {
    const id = await account();
    const mine = lock();
    expect((await records.grant('account', [id], mine)).map((r) => [r.state, r.lock?.token ?? null, r.version, r.image?.balance])).to.deep.equal([['live', mine.token, 1, 100]]);
    expect((await records.grant('account', [id], mine)).map((r) => r.version), 'twice delivered: no fresh version').to.deep.equal([1]);
    const other = await records.grant('account', [id], lock());
    expect([other[0].lock?.token, other[0].version], 'held: another grant leaves the holder').to.deep.equal([mine.token, 1]);
    expect((await records.grant('account', [newId()], lock())).map((r) => [r.state, r.lock]), 'absent: not granted').to.deep.equal([['absent', null]]);
    const stubbed = newId();
    const creator = lock();
    await records.reserve('account', [{ id: stubbed, values: {} }], creator);
    const stub = await records.grant('account', [stubbed], lock());
    expect([stub[0].state, stub[0].lock?.token], 'a stub belongs to its create').to.deep.equal(['reserved', creator.token]);
  });

  check('reserve: a stub for a new id, held and reserved at version 1, invisible to plain queries', async (records) => {
    const id = newId();
    const mine = lock();
    const [stub] = await records.reserve('account', [{ id, values: { owner: 'Nina', balance: 5 } }], mine);
    expect(stub).to.deep.include({ state: 'reserved', image: null, version: 1 });
    expect(stub.lock?.token).to.equal(mine.token);
    const { rows, count } = await s().plain('account');
    expect(rows.map((row) => row.id)).not.to.include(id);
    expect(count).to.equal(rows.length);
    const [again] = await records.reserve('account', [{ id, values: { owner: 'Nina', balance: 5 } }], lock());
    expect(again.lock?.token, "another's reserve of the same id: still the first one's stub").to.equal(mine.token);
    expect((await records.grant('account', [id], lock()))[0].lock?.token, 'a stub is never granted').to.equal(mine.token);
  });

  check('reserve on an existing id: a live document is not the caller\'s (no lock) and is left as it was; a free tombstone is taken back as the caller\'s stub', async (records) => {
    const live = await account();
    const stone = newId();
    const first = lock();
    const [stub] = await records.reserve('account', [{ id: stone, values: { owner: 'T', balance: 0 } }], first);
    expect(await records.write([write(stub, { kind: 'free' })])).to.deep.equal(new Set([documentKey('account', stone)]));
    const again = lock();
    const [a, b] = await records.reserve('account', [{ id: live, values: { owner: 'X', balance: 1 } }, { id: stone, values: { owner: 'X', balance: 1 } }], again);
    expect([a.state, a.lock, a.version]).to.deep.equal(['live', null, 0]);
    expect(a.image).to.include({ owner: 'Alice' });
    expect([b.state, b.lock?.token, b.version]).to.deep.equal(['reserved', again.token, 3]);
  });

  check('write: lands only at (token, version); a replay, another token or another version lands nowhere', async (records) => {
    const id = await account();
    const [held] = await records.grant('account', [id], lock());
    const after = { ...(held.image as Values), balance: 5 };
    const apply = write(held, { kind: 'apply', after });
    expect(await records.write([write(held, { kind: 'apply', after: { ...after, balance: 6 } }, lockToken(newId(), 0))]), 'another token').to.deep.equal(new Set());
    expect(await records.write([write(held, { kind: 'apply', after: { ...after, balance: 7 } }, held.lock?.token, 2)]), 'another version').to.deep.equal(new Set());
    expect(await records.write([apply])).to.deep.equal(new Set([documentKey('account', id)]));
    expect(await records.write([apply]), 'replayed').to.deep.equal(new Set());
    const now = await one(records, 'account', id);
    expect([now.state, now.lock, now.version]).to.deep.equal(['live', null, 2]);
    expect(now.image).to.include({ owner: 'Alice', balance: 5 });
  });

  check('write: several in one call, in order; only those whose guard holds land', async (records) => {
    const [a1, a2] = [await account(), await account()];
    const mine = lock();
    const [h1, h2] = await records.grant('account', [a1, a2], mine);
    const landed = await records.write([write(h1, { kind: 'apply', after: { ...(h1.image as Values), balance: 1 } }), write(h2, { kind: 'free' }, mine.token, 9)]);
    expect(landed).to.deep.equal(new Set([documentKey('account', a1)]));
    expect((await one(records, 'account', a2)).lock?.token, 'the refused one stays held').to.equal(mine.token);
  });

  check('take: the lock moves at version +1; the old holder\'s writes land nowhere; free: the lock gone, the image kept', async (records) => {
    const id = await account();
    const [held] = await records.grant('account', [id], lock());
    const taker = lock();
    expect(await records.write([write(held, { kind: 'take', lock: taker })])).to.deep.equal(new Set([documentKey('account', id)]));
    const taken = await one(records, 'account', id);
    expect([taken.lock?.token, taken.lock?.until, taken.version]).to.deep.equal([taker.token, taker.until, 2]);
    expect(await records.write([write(held, { kind: 'apply', after: { ...(held.image as Values), balance: 0 } })]), 'the old holder').to.deep.equal(new Set());
    await records.write([write(taken, { kind: 'free' })]);
    const freed = await one(records, 'account', id);
    expect([freed.state, freed.lock, freed.version]).to.deep.equal(['live', null, 3]);
    expect(freed.image).to.include({ balance: 100 });
  });

  check('apply null: a tombstone, hidden from plain queries, that can be granted and re-created', async (records) => {
    const id = await account();
    const [held] = await records.grant('account', [id], lock());
    await records.write([write(held, { kind: 'apply', after: null })]);
    const stone = await one(records, 'account', id);
    expect([stone.state, stone.image, stone.lock, stone.version]).to.deep.equal(['destroyed', null, null, 2]);
    expect((await s().plain('account')).rows.map((row) => row.id)).not.to.include(id);
    const [again] = await records.grant('account', [id], lock());
    expect([again.state, again.version]).to.deep.equal(['destroyed', 3]);
    await records.write([write(again, { kind: 'apply', after: { id, owner: 'Nora', balance: 7 } })]);
    const back = await one(records, 'account', id);
    expect([back.state, back.version]).to.deep.equal(['live', 4]);
    expect(back.image).to.include({ owner: 'Nora', balance: 7 });
  });

  check('free of a stub: a tombstone (its id stays taken: reserved again, the tombstone is taken back, never inserted)', async (records) => {
    const id = newId();
    const [stub] = await records.reserve('account', [{ id, values: { owner: 'N', balance: 1 } }], lock());
    await records.write([write(stub, { kind: 'free' })]);
    const stone = await one(records, 'account', id);
    expect([stone.state, stone.lock, stone.version]).to.deep.equal(['destroyed', null, 2]);
    const again = lock();
    const [later] = await records.reserve('account', [{ id, values: { owner: 'N', balance: 1 } }], again);
    expect([later.state, later.lock?.token, later.version]).to.deep.equal(['reserved', again.token, 3]);
  });

  check('apply to a stub: the created document, live and free', async (records) => {
    const id = newId();
    const [stub] = await records.reserve('account', [{ id, values: { owner: 'C', balance: 3 } }], lock());
    await records.write([write(stub, { kind: 'apply', after: { id, owner: 'C', balance: 3 } })]);
    const live = await one(records, 'account', id);
    expect([live.state, live.lock, live.version]).to.deep.equal(['live', null, 2]);
    expect((await s().plain('account')).rows.find((row) => row.id === id)).to.include({ owner: 'C', balance: 3 });
  });

  check('renew: sets the lease of every record the token holds, and of no other', async (records) => {
    const [a1, a2, a3] = [await account(), await account(), await account()];
    const mine = lock();
    const theirs = lock();
    await records.grant('account', [a1, a2], mine);
    await records.grant('account', [a3], theirs);
    await records.renew('account', mine.token, mine.until + 5000);
    expect((await records.read('account', [a1, a2, a3])).map((r) => r.lock?.until)).to.deep.equal([mine.until + 5000, mine.until + 5000, theirs.until]);
  });

  check('findExpired: held records whose lease ended, oldest first, at most limit', async (records) => {
    const ids = [await account(), await account(), await account(), await account()];
    const untils = [30, 10, 20, s().now() + 60_000];
    for (let i = 0; i < ids.length; i++) await records.grant('account', [ids[i]], lock(untils[i]));
    const expired = await records.findExpired('account', 1000, 2);
    expect(expired.map((r) => [r.id, r.lock?.until])).to.deep.equal([[ids[1], 10], [ids[2], 20]]);
    expect((await records.findExpired('account', 1000, 10)).map((r) => r.id)).to.deep.equal([ids[1], ids[2], ids[0]]);
  });

  check('unique (R9): a stub with a taken unique value is already_exists, naming the model and attribute, and writes nothing', async (records) => {
    await s().put('user', newId(), user('ann'));
    const id = newId();
    const err = await rejection(records.reserve('user', [{ id, values: user('ann') }], lock()));
    expect(isTransactError(err, 'already_exists'), String(err)).to.equal(true);
    expect((err as { details?: Record<string, unknown> }).details).to.deep.include({ model: 'user', attributes: ['username'] });
    expect((await one(records, 'user', id)).state).to.equal('absent');
    expect((await s().plain('user')).count).to.equal(1);
  }, { gap: 'uniqueValuesReserved' });

  check('unique: tombstones of a model with a unique attribute never collide; a tombstone frees its value', async (records) => {
    const mine = lock();
    const [ids, names] = [[newId(), newId(), newId()], ['u-a', 'u-b', 'u-c']];
    const stubs = await records.reserve('user', ids.map((id, i) => ({ id, values: user(names[i]) })), mine);
    expect(stubs.map((r) => r.lock?.token)).to.deep.equal([mine.token, mine.token, mine.token]);
    // One stub freed (a create that never committed), two created then destroyed.
    await records.write([write(stubs[0], { kind: 'free' }), ...stubs.slice(1).map((stub, i) => write(stub, { kind: 'apply', after: { id: stub.id, ...user(names[i + 1]) } }))]);
    const live = await records.grant('user', ids.slice(1), mine);
    expect(await records.write(live.map((record) => write(record, { kind: 'apply', after: null })))).to.have.property('size', 2);
    expect((await records.read('user', ids)).map((r) => r.state)).to.deep.equal(['destroyed', 'destroyed', 'destroyed']);
    const [fresh] = await records.reserve('user', [{ id: newId(), values: user('u-b') }], lock());
    expect(fresh.state, "a destroyed user's username can be taken again").to.equal('reserved');
  });
}
