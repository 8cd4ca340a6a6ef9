/**
 * Log protocol v3's records on sails-mongo (docs/protocol-v3.md): the lock, version and state
 * live in the app's documents themselves (LOCK_FIELD …), so every guarded write is one atomic
 * document operation, and a grant, a reservation or an apply is one round trip per collection
 * (plus the find that reads what it did). DiskRecords (lib/store/disk/records.ts) is the
 * reference semantics; this is the same contract on a datastore shared by many processes.
 *
 * Lost replies: a write is judged by the record as it is when it arrives (the version guard), so a
 * re-sent or late delivery lands nowhere; each write also stamps a nonce (WRITE_FIELD) so that,
 * when the reply is lost, reading the documents back tells which writes landed — never one that
 * did not (a nonce is unique to its write).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { crashPoint } from '../../core/crash-points';
import { TransactError } from '../../core/errors';
import { documentKey } from '../../core/operations';
import type { DocRecord, GuardedWrite, RecordLock, RecordState, RecordStore, RecordView, Stub } from '../records';
import type { Image, Values } from '../../core/types';
import type { WaterlineModel } from '../../core/waterline';
import {
  CLAIM_FIELD,
  type Collection,
  duplicateIndexes,
  fromColumns,
  HIDDEN_FIELDS,
  LOCK_FIELD,
  LOCK_UNTIL_FIELD,
  type MongoDb,
  STATE_FIELD,
  storedId,
  toColumns,
  VERSION_FIELD,
  WRITE_FIELD,
} from './store';
import type { ViewRequest } from '../contract';
import type { ModelResolver } from '../waterline-writes';

/** A model's unique keys (lib/core/model-info.ts uniqueKeys), each as attribute names. */
export type UniqueKeys = (model: WaterlineModel) => readonly (readonly string[])[];

/**
 * What a tombstone (and a stub given no value) stores in a unique attribute: tombstones have no
 * attributes, and on a unique index they would all collide on null. The `_id` makes it unique per
 * record, on a sparse index or not (a sparse index does not skip a document that has the field).
 */
export function destroyedPlaceholder(id: string): string {
  return `~destroyed:${id}`;
}
function reservedPlaceholder(id: string): string {
  return `~reserved:${id}`;
}

/*
 * R9 for updates (claimUnique): a held document D whose update gives it a new unique value claims
 * it with a claim document C in D's own collection, so that the collection's unique index decides
 * (against live documents, stubs and other claims) before the commit point. C's `_id` names its
 * holder's token and D (claimId), its state is 'claim' (plain reads hide it like a stub), it has no
 * lock fields (no renew, findExpired or view meets it) and it carries the claimed values. D itself
 * carries a marker of each claimed value (CLAIM_FIELD, hidden): the apply must take C's value off
 * the index (delete C) before D can take it, and between the two a reservation or claim of the value
 * can land on the index; its read-back (one find, already there) also looks for markers and gives
 * the value up. The marker stays until D's next guarded write (the apply replaces D; a free or a
 * takeover unsets it), so a claim ends with its record's write, never before.
 */
/**
 * Statements per bulk-write command. FerretDB 1.24 never answers an update command of 100
 * statements or more: each statement's query keeps a pooled connection until the command ends,
 * and its pool holds 100 (measured: 99 answered in 0.25 s, 100 never, the server then stuck for
 * every client of that database). MongoDB takes 100,000; a transaction of more documents in one
 * collection than this pays one round trip per this many (a 200-loan order's apply: 4 or 5).
 */
const STATEMENTS_PER_COMMAND = 64;
/** How many times an apply that met a claim on a unique index is sent again, the first at once, then after 10, 20, 40 ms. */
const APPLY_RETRIES = 4;
const APPLY_RETRY_MS = 10;

/** CLAIM_FIELD of a claim document: what the recovery sweep finds claim documents by (the field's sparse index). */
const CLAIM_TAG = '~claim';
/** A claim document's owner: `{ id, token }` of the record it claims for. */
const CLAIM_OF_FIELD = '_transactClaimOf';

/** The claim document of `token`'s claim for record `id` (one per holder and record). */
function claimId(token: string, id: string): string {
  return `~claim:${token}:${id}`;
}

/** A claimed value of one unique key, and its marker (what D carries, what read-backs look for). */
interface Claimed {
  tuple: Values;
  marker: string;
}

/** The unique keys `values` gives a whole value to (no field null or missing), as claimed tuples. */
function tuplesOf(keys: readonly (readonly string[])[], values: Values): Claimed[] {
  return keys
    .filter((key) => key.every((field) => values[field] !== undefined && values[field] !== null))
    .map((key) => {
      const tuple: Values = Object.fromEntries(key.map((field) => [field, values[field]]));
      return { tuple, marker: JSON.stringify(key.map((field) => [field, tuple[field]])) };
    });
}

function claimKey(model: string, token: string, id: string): string {
  return `${model}\n${token}\n${id}`;
}

/**
 * One index on `_transactLockUntil` per transactional collection: recovery's findExpired (R7)
 * reads the records whose lease ended, oldest first. Sparse: only held records carry the field
 * on real MongoDB (FerretDB ignores `sparse` and indexes every document).
 */
export async function createRecordIndexes(db: MongoDb, collections: readonly string[]): Promise<void> {
  for (const collection of collections) {
    await db.collection(collection).createIndex({ [LOCK_UNTIL_FIELD]: 1 }, { sparse: true });
    // R9: the markers a reservation's read-back looks for, and the claim documents recovery sweeps (few of either).
    await db.collection(collection).createIndex({ [CLAIM_FIELD]: 1 }, { sparse: true });
  }
}

/**
 * Why this server cannot hold v3's records safely, or null. FerretDB (1.24, PostgreSQL backend)
 * runs a conditional update as read, modify, write back without re-checking the filter: measured,
 * 20 concurrent `updateOne({_id, lock: null}, {$set: lock, $inc: version})` on one document all
 * report matched (up to 17 of 20) and the `$inc`s are lost — two grants of one record both
 * "land", and mutual exclusion (R2) is gone. Real MongoDB applies filter and update atomically
 * per document, which is what this store is written to.
 */
export async function recordsUnsafeOn(db: MongoDb): Promise<string | null> {
  const info = await db.command({ buildInfo: 1 }).catch(() => ({}) as Record<string, unknown>);
  const ferret = (info as { ferretdbVersion?: unknown }).ferretdbVersion;
  return typeof ferret === 'string' ? `FerretDB ${ferret} does not apply a conditional update atomically: under concurrency two transactions can both be granted one document's lock (log protocol v3 needs MongoDB)` : null;
}

export class MongoRecords implements RecordStore {
  /** Nonces of this store's writes: a random prefix per store, a counter per write. */
  private readonly noncePrefix = randomBytes(6).toString('hex');
  private nonceCount = 0;
  /**
   * Claims this store made (claimKey), until their record's next write here: that write deletes
   * the claim document first, in one extra round trip. Anyone else's write of the record (recovery,
   * a waiter of another process) does without: an apply that meets the claim on the unique index
   * deletes it and applies again; a free or a takeover leaves it dead, for the sweep (findExpired).
   */
  private readonly claims = new Set<string>();

  constructor(private readonly db: MongoDb, private readonly modelOf: ModelResolver, private readonly uniqueKeys: UniqueKeys) {}

  async grant(model: string, ids: readonly string[], lock: RecordLock): Promise<DocRecord[]> {
    if (ids.length === 0) return [];
    const { target, documents } = this.on(model);
    // R1/R2: only a free record, live or tombstone (a re-create); a stub belongs to its create.
    const free = { [LOCK_FIELD]: null, [STATE_FIELD]: { $ne: 'reserved' } };
    const take = { $set: { [LOCK_FIELD]: lock.token, [LOCK_UNTIL_FIELD]: lock.until }, $inc: { [VERSION_FIELD]: 1 } };
    if (ids.length === 1) {
      // One document (an interactive transaction's lock): granted and read in one round trip; not
      // granted (held, a stub, absent, or this grant's reply lost), read as it is.
      const taken = await documents.findOneAndUpdate({ _id: storedId(target, ids[0]), ...free }, take, { returnDocument: 'after' });
      if (taken !== null) return [toRecord(target, model, ids[0], taken)];
      return this.read(model, ids);
    }
    await documents.updateMany({ _id: { $in: ids.map((id) => storedId(target, id)) }, ...free }, take);
    return this.read(model, ids);
  }

  /**
   * One unordered insertMany of the stubs: a duplicate key on `_id` means the id is taken (a live
   * document, a tombstone, another's stub — the find after says which); any other duplicate is a
   * unique value taken (R9): `already_exists`, after this call's own stubs are given back (each
   * becomes a tombstone: an id is inserted at most once ever). A free tombstone is taken back as
   * the caller's stub (a re-create claims its unique values too). Partial success is the normal
   * answer: the records read after say which ids are the caller's (held by its token).
   */
  async reserve(model: string, stubs: readonly Stub[], lock: RecordLock): Promise<DocRecord[]> {
    if (stubs.length === 0) return [];
    const { target, documents } = this.on(model);
    const keys = this.uniqueKeys(target);
    const claims = stubs.map((stub) => tuplesOf(keys, stub.values));
    const docs = stubs.map((stub) => ({ _id: storedId(target, stub.id), ...toColumns(target, this.claimed(keys, stub)), [STATE_FIELD]: 'reserved', [VERSION_FIELD]: 1, [LOCK_FIELD]: lock.token, [LOCK_UNTIL_FIELD]: lock.until }));
    // Anything but duplicate keys leaves unknown what landed: rethrown (the caller frees what it reads it holds, R5 the rest).
    let refused = await insertStubs(documents, docs);
    // Every stub inserted, and no unique value to look for on other documents (R9's markers): the
    // records are the stubs as sent, held by this token — no read back (one round trip a create).
    // Anything later is guarded by (token, version), so a read would prove nothing more.
    let { records, marked } =
      refused.size === 0 && claims.every((tuples) => tuples.length === 0)
        ? { records: stubs.map((stub, i) => toRecord(target, model, stub.id, docs[i])), marked: new Set<number>() }
        : await this.readReserved(target, model, stubs, claims);
    // Refused, and no record with its id: refused by another unique index.
    let byValue = stubs.map((_, i) => i).filter((i) => refused.has(i) && records[i].state === 'absent');
    // A claim document whose holder no longer holds its record is dead (R9): cleared, and those stubs sent once more.
    if (byValue.length > 0 && (await this.clearDeadClaims(target, documents, byValue.flatMap((i) => claims[i]))) > 0) {
      const again = await insertStubs(documents, byValue.map((i) => docs[i]));
      refused = new Set([...refused].filter((i) => !byValue.includes(i) || again.has(byValue.indexOf(i))));
      ({ records, marked } = await this.readReserved(target, model, stubs, claims));
      byValue = stubs.map((_, i) => i).filter((i) => refused.has(i) && records[i].state === 'absent');
    }
    // Inserted, but the value is on its way into a claiming document (its marker, R9): given up as taken.
    const taken = [...byValue, ...[...marked].filter((i) => !byValue.includes(i))].map((i) => stubs[i]);
    // A free tombstone is taken back as the caller's stub, claiming the values as an insert would:
    // one conditional update each (the tombstone's version as read), in one unordered bulk write.
    const stones = taken.length > 0 ? [] : stubs.map((stub, i) => ({ stub, record: records[i] })).filter(({ record }) => record.state === 'destroyed' && record.lock === null);
    if (stones.length > 0) {
      const operations = stones.map(({ stub, record }) => ({
        updateOne: {
          filter: { _id: storedId(target, stub.id), [STATE_FIELD]: 'destroyed', [LOCK_FIELD]: null, [VERSION_FIELD]: record.version === 0 ? { $in: [0, null] } : record.version },
          update: { $set: { ...toColumns(target, this.claimed(keys, stub)), [STATE_FIELD]: 'reserved', [LOCK_FIELD]: lock.token, [LOCK_UNTIL_FIELD]: lock.until }, $inc: { [VERSION_FIELD]: 1 } },
        },
      }));
      let refusedStones = new Set<number>();
      try {
        await bulkWriteInCommands(documents, operations, false);
      } catch (err) {
        refusedStones = duplicateIndexes(err, null);
      }
      ({ records, marked } = await this.readReserved(target, model, stubs, claims));
      for (const i of refusedStones) taken.push(stones[i].stub);
      for (const i of marked) if (stones.some(({ stub }) => stub === stubs[i])) taken.push(stubs[i]);
      // Dead claims in the way are cleared now (the next reservation finds the value free).
      if (refusedStones.size > 0) await this.clearDeadClaims(target, documents, [...refusedStones].flatMap((i) => tuplesOf(keys, stones[i].stub.values)));
    }
    if (taken.length > 0) {
      const mine = records.filter((record) => record.lock?.token === lock.token && record.state === 'reserved');
      await this.write(mine.map((record) => ({ model, id: record.id, token: lock.token, version: record.version, transition: { kind: 'free' } })));
      const attributes = [...new Set(keys.flat())];
      throw new TransactError('already_exists', `a ${model} with the same ${attributes.join(' / ')} exists already`, { details: { model, id: taken[0].id, attributes } });
    }
    return records;
  }

  /**
   * The records of the stubs' ids, and in the same find (R9) the markers of their values on other
   * documents: `marked` holds the stubs one of whose values a claiming document carries — a claim
   * between its claim document and its apply, whose value this reservation may have slipped onto
   * the index in between. Without values to look for, a find by ids.
   */
  private async readReserved(target: WaterlineModel, model: string, stubs: readonly Stub[], claims: readonly Claimed[][]): Promise<{ records: DocRecord[]; marked: Set<number> }> {
    const markers = [...new Set(claims.flat().map((claim) => claim.marker))];
    if (markers.length === 0) return { records: await this.read(model, stubs.map((stub) => stub.id)), marked: new Set() };
    const found = await this.on(model).documents.find({ $or: [{ _id: { $in: stubs.map((stub) => storedId(target, stub.id)) } }, { [CLAIM_FIELD]: { $in: markers } }] }).toArray();
    const byId = new Map(found.map((doc) => [String(doc._id), doc]));
    // Stubs never carry markers, claim documents carry the tag only: what carries one is a claiming document.
    const elsewhere = new Set(found.filter((doc) => doc[STATE_FIELD] !== 'claim').flatMap((doc) => (Array.isArray(doc[CLAIM_FIELD]) ? (doc[CLAIM_FIELD] as unknown[]) : [])));
    const marked = new Set(stubs.map((_, i) => i).filter((i) => claims[i].some((claim) => elsewhere.has(claim.marker))));
    return { records: stubs.map((stub) => toRecord(target, model, stub.id, byId.get(stub.id))), marked };
  }

  /**
   * R9 for updates: a claim document per record, carrying the new values under the collection's
   * unique indexes, and on the record a marker of each (one ordered bulk write: the claims, then
   * the markers, guarded by the holder's token; the version stays); then one find reads back the
   * records, the claims and any other document marked with one of the values. All of a call's
   * claims hold, or none: a value taken (an insert refused: a live document, a stub, another
   * claim; or marked elsewhere) is `already_exists`, a record not held `lease_lost`, and the claims
   * and markers are taken back. A dead claim in the way (its holder lost its record) is cleared and
   * the call sent once more.
   */
  async claimUnique(model: string, claims: readonly Stub[], lock: RecordLock): Promise<void> {
    const { target, documents } = this.on(model);
    const keys = this.uniqueKeys(target);
    const wanted = claims.map((claim) => ({ claim, tuples: tuplesOf(keys, claim.values) })).filter(({ tuples }) => tuples.length > 0);
    if (wanted.length === 0) return;
    // Known before anything is sent: whatever lands, the holder's next write of the record deletes it.
    for (const { claim } of wanted) this.claims.add(claimKey(model, lock.token, claim.id));
    const ids = wanted.map(({ claim }) => storedId(target, claim.id));
    const cids = wanted.map(({ claim }) => claimId(lock.token, claim.id));
    const markers = wanted.map(({ tuples }) => tuples.map((one) => one.marker));
    const unclaim = async (): Promise<number> => {
      const deleted = await documents.deleteMany({ _id: { $in: cids }, [STATE_FIELD]: 'claim' });
      await documents.updateMany({ _id: { $in: ids }, [LOCK_FIELD]: lock.token }, { $unset: { [CLAIM_FIELD]: '' } });
      return Number((deleted as { deletedCount?: number } | null)?.deletedCount ?? 0);
    };
    const refuse = (tuple: Values, id: string): TransactError => {
      const attributes = Object.keys(tuple);
      return new TransactError('already_exists', `a ${model} with ${attributes.map((field) => `${field} ${JSON.stringify(tuple[field])}`).join(', ')} exists already`, { details: { model, id, attributes } });
    };
    for (let round = 0; ; round++) {
      const operations = [
        ...wanted.map(({ claim, tuples }, i) => ({ insertOne: { document: this.claimDocument(target, keys, cids[i], claim.id, tuples, lock.token) } })),
        ...wanted.map((_, i) => ({ updateOne: { filter: { _id: ids[i], [LOCK_FIELD]: lock.token }, update: { $set: { [CLAIM_FIELD]: markers[i] } } } })),
      ];
      let refused: Set<number> | null = null;
      try {
        await bulkWriteInCommands(documents, operations, true);
      } catch (err) {
        try {
          refused = duplicateIndexes(err, null);
        } catch {
          await unclaim().catch(() => undefined);
          throw err;
        }
      }
      if (refused !== null) {
        // The first insert refused stopped the rest: those before it landed (ordered), no marker did.
        const first = Math.min(...refused);
        const stale = (await unclaim()) > first; // one of this token's own claims for a record, left from before
        const cleared = await this.clearDeadClaims(target, documents, wanted.flatMap(({ tuples }) => tuples));
        if (round === 0 && (stale || cleared > 0)) continue;
        throw refuse(wanted[first].tuples[0].tuple, wanted[first].claim.id);
      }
      const back = await documents.find({ $or: [{ _id: { $in: [...ids, ...cids] } }, { [CLAIM_FIELD]: { $in: markers.flat() } }] }).toArray();
      const byId = new Map(back.map((doc) => [String(doc._id), doc]));
      const lost = wanted.find(({ claim }, i) => {
        const doc = byId.get(claim.id);
        return doc?.[LOCK_FIELD] !== lock.token || JSON.stringify(doc[CLAIM_FIELD]) !== JSON.stringify(markers[i]) || !byId.has(cids[i]);
      });
      if (lost !== undefined) {
        await unclaim().catch(() => undefined);
        throw new TransactError('lease_lost', `${model} ${lost.claim.id} is no longer held by ${lock.token}; nothing was written`, { details: { model, id: lost.claim.id } });
      }
      const mine = new Set(wanted.map(({ claim }) => claim.id));
      const elsewhere = new Set(back.filter((doc) => !mine.has(String(doc._id)) && doc[STATE_FIELD] !== 'claim').flatMap((doc) => (Array.isArray(doc[CLAIM_FIELD]) ? (doc[CLAIM_FIELD] as unknown[]) : [])));
      const marked = wanted.find(({ tuples }) => tuples.some((one) => elsewhere.has(one.marker)));
      if (marked !== undefined) {
        await unclaim().catch(() => undefined);
        throw refuse((marked.tuples.find((one) => elsewhere.has(one.marker)) as Claimed).tuple, marked.claim.id);
      }
      return;
    }
  }

  /** A claim document: the claimed values, a placeholder of its own in every other unique attribute, its owner. */
  private claimDocument(target: WaterlineModel, keys: readonly (readonly string[])[], cid: string, id: string, tuples: readonly Claimed[], token: string): Record<string, unknown> {
    const values: Record<string, unknown> = {};
    for (const key of keys) for (const name of key) values[name] = `~claimed:${cid}`;
    for (const { tuple } of tuples) Object.assign(values, tuple);
    return { _id: cid, ...toColumns(target, values), [STATE_FIELD]: 'claim', [CLAIM_FIELD]: [CLAIM_TAG], [CLAIM_OF_FIELD]: { id, token } };
  }

  /** Deletes the claim documents holding any of `claims`' values whose holder no longer holds their record; how many. */
  private async clearDeadClaims(target: WaterlineModel, documents: Collection, claims: readonly Claimed[]): Promise<number> {
    if (claims.length === 0 || this.uniqueKeys(target).length === 0) return 0;
    const found = await documents.find({ [STATE_FIELD]: 'claim', $or: claims.map((claim) => toColumns(target, claim.tuple)) }).toArray();
    return this.settleClaims(target, documents, found);
  }

  /**
   * R9's recovery: a claim document is alive exactly while its record is held by its token (its
   * holder may still commit, or has committed and not applied yet); otherwise it is dead, and
   * stays dead: a token does not hold a record again once it let go of it, but within one
   * RecordLocks.acquire, which ends before any claim (deleting a live claim would break exclusion:
   * model/unique-claim.pml MUTANT_SWEEP_LIVE). Dead ones are deleted. No lease enters it: a stale holder's claim, however late it lands, is judged by the
   * record as it is.
   */
  private async settleClaims(target: WaterlineModel, documents: Collection, claims: readonly Record<string, unknown>[]): Promise<number> {
    if (claims.length === 0) return 0;
    const owners = claims.map((doc) => (doc[CLAIM_OF_FIELD] ?? {}) as { id?: unknown; token?: unknown });
    const ids = [...new Set(owners.flatMap((owner) => (typeof owner.id === 'string' ? [owner.id] : [])))];
    const records = ids.length === 0 ? [] : await documents.find({ _id: { $in: ids.map((id) => storedId(target, id)) } }, { projection: { [LOCK_FIELD]: 1 } }).toArray();
    const holders = new Map(records.map((doc) => [String(doc._id), doc[LOCK_FIELD]]));
    const dead = claims.filter((_, i) => typeof owners[i].token !== 'string' || holders.get(String(owners[i].id)) !== owners[i].token).map((doc) => doc._id);
    if (dead.length === 0) return 0;
    await documents.deleteMany({ _id: { $in: dead }, [STATE_FIELD]: 'claim' });
    return dead.length;
  }

  /** The values a stub holds in each unique attribute (R9): the created one, or a placeholder of its own. */
  private claimed(keys: readonly (readonly string[])[], stub: Stub): Record<string, unknown> {
    const values: Record<string, unknown> = {};
    for (const key of keys) for (const name of key) values[name] = stub.values[name] ?? reservedPlaceholder(stub.id);
    return values;
  }

  async read(model: string, ids: readonly string[]): Promise<DocRecord[]> {
    if (ids.length === 0) return [];
    const { target, documents } = this.on(model);
    const found = await documents.find({ _id: { $in: ids.map((id) => storedId(target, id)) } }).toArray();
    const byId = new Map(found.map((doc) => [String(doc._id), doc]));
    return ids.map((id) => toRecord(target, model, id, byId.get(id)));
  }

  /**
   * One ordered bulkWrite per collection, every operation guarded by (token, version) and
   * stamping a fresh nonce. All matched: all landed. Otherwise (some guard failed, a write error
   * stopped the ordered rest, the reply was lost) the documents are read back: a write landed
   * exactly when its document carries its nonce. A nonce that a later write already replaced
   * reads as not landed — never the other way round.
   */
  async write(writes: readonly GuardedWrite[]): Promise<Set<string>> {
    const landed = new Set<string>();
    const models = [...new Set(writes.map((write) => write.model))];
    for (const model of models) {
      const { target, documents } = this.on(model);
      const ofModel = writes.filter((write) => write.model === model);
      const nonces = ofModel.map(() => `${this.noncePrefix}.${++this.nonceCount}`);
      const unique = this.uniqueKeys(target).length > 0;
      const operations = ofModel.flatMap((write, i) => this.operations(target, write, nonces[i], unique));
      // R9: the claims this store made for these records go first (an apply's value must leave the
      // claim before the document can take it; the record's marker covers the value in between).
      const claimed = unique ? ofModel.filter((write) => this.claims.delete(claimKey(model, write.token, write.id))) : [];
      if (claimed.length > 0) await documents.deleteMany({ _id: { $in: claimed.map((write) => claimId(write.token, write.id)) }, [STATE_FIELD]: 'claim' }).catch(() => undefined);
      let allMatched = false;
      let failure: unknown = null;
      try {
        allMatched = (await bulkWriteInCommands(documents, operations, true)).matchedCount === ofModel.length;
      } catch (err) {
        failure = err;
      }
      const applies = unique && failure !== null ? ofModel.filter((write) => write.transition.kind === 'apply' && write.transition.after !== null) : [];
      // An apply that met its holder's claim on a unique index (a claim another process made: recovery,
      // a waiter): the claims go, and the writes again — those landed find their version moved. Or it
      // met another's claim that slipped into the gap between this claim's delete and the apply: that
      // one's read-back finds this record's marker and takes it back at once, so the apply is sent
      // again a few times (bounded; what still fails stays held, and R5 applies it later).
      for (let retry = 0; applies.length > 0 && failure !== null && retry < APPLY_RETRIES; retry++) {
        if (retry > 0) await sleep(APPLY_RETRY_MS * 2 ** (retry - 1));
        try {
          await documents.deleteMany({ _id: { $in: applies.map((write) => claimId(write.token, write.id)) }, [STATE_FIELD]: 'claim' });
          await bulkWriteInCommands(documents, operations, true);
          failure = null;
        } catch (err) {
          failure = err;
        }
      }
      // The crash harness's cut between two collections of an apply (after the last one too: the whole apply written, not yet returned).
      const applying = ofModel.some((write) => write.transition.kind === 'apply');
      if (allMatched) {
        for (const write of ofModel) landed.add(documentKey(model, write.id));
        if (applying) crashPoint('apply:collection');
        continue;
      }
      let back: Record<string, unknown>[];
      try {
        back = await documents.find({ _id: { $in: ofModel.map((write) => storedId(target, write.id)) } }, { projection: { [WRITE_FIELD]: 1 } }).toArray();
      } catch (err) {
        throw failure ?? err;
      }
      const stamped = new Set(back.map((doc) => doc[WRITE_FIELD]));
      ofModel.forEach((write, i) => {
        if (stamped.has(nonces[i])) landed.add(documentKey(model, write.id));
      });
      if (applying) crashPoint('apply:collection');
    }
    return landed;
  }

  async renew(model: string, token: string, until: number): Promise<void> {
    await this.on(model).documents.updateMany({ [LOCK_FIELD]: token }, { $set: { [LOCK_UNTIL_FIELD]: until } });
  }

  /** Also, for a model with unique keys, clears dead claim documents (R9: settleClaims), which no record's lease leads to. */
  async findExpired(model: string, before: number, limit: number): Promise<DocRecord[]> {
    const { target, documents } = this.on(model);
    if (this.uniqueKeys(target).length > 0) await this.settleClaims(target, documents, await documents.find({ [CLAIM_FIELD]: CLAIM_TAG }, { limit }).toArray());
    const found = await documents.find({ [LOCK_FIELD]: { $ne: null }, [LOCK_UNTIL_FIELD]: { $lt: before } }, { sort: { [LOCK_UNTIL_FIELD]: 1 }, limit }).toArray();
    return found.map((doc) => toRecord(target, model, String(doc._id), doc));
  }

  /**
   * Per request: the held records of its model (those carrying a lease: the sparse index), then
   * the live documents matching it through Waterline (which translates the criteria; the plain
   * query wrap hides stubs and tombstones and, asked by `transactRecords`, keeps the versions).
   * A find is no snapshot across documents: no logs here, committed reads read the view again
   * (but one document is one instant: a request by one id reads its document alone, once).
   */
  async view(requests: readonly ViewRequest[]): Promise<RecordView> {
    const rows: DocRecord[][] = [];
    const held: DocRecord[][] = [];
    for (const request of requests) {
      const { target, documents } = this.on(request.model);
      const id = onlyId(request.where, target.primaryKey);
      if (id !== undefined) {
        // One document by its id: its record, held or not, is the whole answer (1 round trip).
        const [record] = await this.read(request.model, [id]);
        rows.push(record.state === 'live' ? [record] : []);
        held.push(record.lock === null ? [] : [record]);
        continue;
      }
      const locked = await documents.find({ [LOCK_UNTIL_FIELD]: { $exists: true }, [LOCK_FIELD]: { $ne: null } }).toArray();
      held.push(locked.map((doc) => toRecord(target, request.model, String(doc._id), doc)));
      const limit = request.limit === undefined ? {} : { limit: request.limit + locked.length };
      const found = (await target.find({ where: request.where, sort: request.sort, ...limit }).meta({ transactRecords: true })) as Record<string, unknown>[];
      rows.push(found.map((row) => {
        const id = String(row[target.primaryKey]);
        const token = row[LOCK_FIELD];
        return { model: request.model, id, image: withoutHidden(row as Image), state: 'live' as const, lock: typeof token === 'string' ? { token, until: Number(row[LOCK_UNTIL_FIELD]) } : null, version: Number(row[VERSION_FIELD] ?? 0) };
      }));
    }
    return { rows, held };
  }

  private on(model: string): { target: WaterlineModel; documents: Collection } {
    const target = this.modelOf(model);
    if (target === undefined) throw new TransactError('unknown_model', `no model ${model}`, { details: { model } });
    return { target, documents: this.db.collection(target.tableName) };
  }

  /** The bulk operations of one guarded write: one, or for a free two exclusive ones (a stub becomes a tombstone, a held record free). */
  private operations(target: WaterlineModel, write: GuardedWrite, nonce: string, unique: boolean): Record<string, unknown>[] {
    const _id = storedId(target, write.id);
    // Version 0 is a record that never had the field (a document from before v3): $in [0, null] matches it.
    const guard = { _id, [LOCK_FIELD]: write.token, [VERSION_FIELD]: write.version === 0 ? { $in: [0, null] } : write.version };
    const next = { [VERSION_FIELD]: write.version + 1, [WRITE_FIELD]: nonce };
    const { transition } = write;
    // R9: a free or a takeover ends the holder's claim (a taker does not inherit it); an apply replaces the markers away.
    const unmark = unique ? { $unset: { [CLAIM_FIELD]: '' } } : {};
    switch (transition.kind) {
      case 'take':
        return [{ updateOne: { filter: guard, update: { $set: { ...next, [LOCK_FIELD]: transition.lock.token, [LOCK_UNTIL_FIELD]: transition.lock.until }, ...unmark } } }];
      case 'free':
        // Two operations, at most one matches: the first moves the version the second's guard names.
        return [
          { replaceOne: { filter: { ...guard, [STATE_FIELD]: 'reserved' }, replacement: this.tombstone(target, write.id, next) } },
          { updateOne: { filter: { ...guard, [STATE_FIELD]: { $ne: 'reserved' } }, update: { $set: next, $unset: { [LOCK_FIELD]: '', [LOCK_UNTIL_FIELD]: '', ...(unique ? { [CLAIM_FIELD]: '' } : {}) } } } },
        ];
      case 'apply':
        return [{ replaceOne: { filter: guard, replacement: transition.after === null ? this.tombstone(target, write.id, next) : { ...toColumns(target, withoutHidden(transition.after)), ...next } } }];
    }
  }

  /** A tombstone: no attributes but a placeholder in each unique one (destroyedPlaceholder), the state, the version, the nonce. */
  private tombstone(target: WaterlineModel, id: string, next: Record<string, unknown>): Record<string, unknown> {
    const values: Record<string, unknown> = {};
    for (const key of this.uniqueKeys(target)) for (const name of key) values[name] = destroyedPlaceholder(id);
    return { ...toColumns(target, values), [STATE_FIELD]: 'destroyed', ...next };
  }
}

/** The id a where clause names when it is exactly `{ <primary key>: id }`. */
function onlyId(where: Record<string, unknown>, primaryKey: string): string | undefined {
  const keys = Object.keys(where);
  const value = where[primaryKey];
  return keys.length === 1 && (typeof value === 'string' || typeof value === 'number') ? String(value) : undefined;
}

function withoutHidden(image: Image): Image {
  const copy: Image = { ...image };
  for (const field of HIDDEN_FIELDS) delete copy[field];
  return copy;
}

function toRecord(target: WaterlineModel, model: string, id: string, doc: Record<string, unknown> | undefined): DocRecord {
  if (doc === undefined) return { model, id, image: null, state: 'absent', lock: null, version: 0 };
  const stored = doc[STATE_FIELD];
  const state: RecordState = stored === 'reserved' || stored === 'destroyed' ? stored : 'live';
  const token = doc[LOCK_FIELD];
  const lock = typeof token === 'string' ? { token, until: Number(doc[LOCK_UNTIL_FIELD]) } : null;
  const image = state === 'live' ? withoutHidden(fromColumns(target, doc) as Image) : null;
  return { model, id, image, state, lock, version: Number(doc[VERSION_FIELD] ?? 0) };
}

/**
 * A bulk write in commands of at most STATEMENTS_PER_COMMAND, one after another, answering as one
 * bulk write would: ordered, it stops at the first command that throws; unordered, it goes on and
 * throws at the end with every command's write errors. Either way a write error's index is its
 * operation's in the whole list (duplicateIndexes reads them). An error without write errors (the
 * connection, a write concern) is thrown at once: what landed is then unknown, as for one command.
 */
async function bulkWriteInCommands(documents: Collection, operations: Record<string, unknown>[], ordered: boolean): Promise<{ matchedCount: number }> {
  if (operations.length <= STATEMENTS_PER_COMMAND) return documents.bulkWrite(operations, { ordered });
  let matchedCount = 0;
  let failure: { writeErrors: unknown[] } | null = null;
  const writeErrors: { index: number; code?: number; errmsg?: string }[] = [];
  for (let offset = 0; offset < operations.length; offset += STATEMENTS_PER_COMMAND) {
    try {
      matchedCount += (await documents.bulkWrite(operations.slice(offset, offset + STATEMENTS_PER_COMMAND), { ordered })).matchedCount;
    } catch (err) {
      const list = (err as { writeErrors?: unknown }).writeErrors;
      if (!Array.isArray(list) || list.length === 0) throw err;
      for (const writeError of list as { index?: number; code?: number; errmsg?: string; err?: { index?: number; code?: number; errmsg?: string } }[]) {
        writeErrors.push({ index: offset + Number(writeError.index ?? writeError.err?.index), code: writeError.code ?? writeError.err?.code, errmsg: writeError.errmsg ?? writeError.err?.errmsg });
      }
      failure ??= err as { writeErrors: unknown[] };
      if (ordered) break;
    }
  }
  if (failure === null) return { matchedCount };
  failure.writeErrors = writeErrors;
  throw failure;
}

/** One unordered insertMany of stubs: the indexes refused by a duplicate key (anything else rethrown). */
async function insertStubs(documents: Collection, docs: Record<string, unknown>[]): Promise<Set<number>> {
  try {
    await documents.insertMany(docs, { ordered: false });
    return new Set();
  } catch (err) {
    return duplicateIndexes(err, docs.length);
  }
}
