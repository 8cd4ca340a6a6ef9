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
import { randomBytes } from 'node:crypto';
import { crashPoint } from '../../core/crash-points';
import { TransactError } from '../../core/errors';
import { documentKey } from '../../core/operations';
import type { DocRecord, GuardedWrite, RecordLock, RecordState, RecordStore, RecordView, Stub } from '../records';
import type { Image } from '../../core/types';
import type { WaterlineModel } from '../../core/waterline';
import {
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

/**
 * One index on `_transactLockUntil` per transactional collection: recovery's findExpired (R7)
 * reads the records whose lease ended, oldest first. Sparse: only held records carry the field
 * on real MongoDB (FerretDB ignores `sparse` and indexes every document).
 */
export async function createRecordIndexes(db: MongoDb, collections: readonly string[]): Promise<void> {
  for (const collection of collections) await db.collection(collection).createIndex({ [LOCK_UNTIL_FIELD]: 1 }, { sparse: true });
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
    const docs = stubs.map((stub) => ({ _id: storedId(target, stub.id), ...toColumns(target, this.claimed(keys, stub)), [STATE_FIELD]: 'reserved', [VERSION_FIELD]: 1, [LOCK_FIELD]: lock.token, [LOCK_UNTIL_FIELD]: lock.until }));
    let refused = new Set<number>();
    try {
      await documents.insertMany(docs, { ordered: false });
    } catch (err) {
      // Anything but duplicate keys leaves unknown what landed: rethrown (the caller frees what it reads it holds, R5 the rest).
      refused = duplicateIndexes(err, docs.length);
    }
    let records = await this.read(model, stubs.map((stub) => stub.id));
    // Refused, and no record with its id: refused by another unique index.
    const taken = stubs.filter((_, i) => refused.has(i) && records[i].state === 'absent');
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
        await documents.bulkWrite(operations, { ordered: false });
      } catch (err) {
        refusedStones = duplicateIndexes(err, null);
      }
      records = await this.read(model, stubs.map((stub) => stub.id));
      for (const i of refusedStones) taken.push(stones[i].stub);
    }
    if (taken.length > 0) {
      const mine = records.filter((record) => record.lock?.token === lock.token && record.state === 'reserved');
      await this.write(mine.map((record) => ({ model, id: record.id, token: lock.token, version: record.version, transition: { kind: 'free' } })));
      const attributes = [...new Set(keys.flat())];
      throw new TransactError('already_exists', `a ${model} with the same ${attributes.join(' / ')} exists already`, { details: { model, id: taken[0].id, attributes } });
    }
    return records;
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
      const operations = ofModel.flatMap((write, i) => this.operations(target, write, nonces[i]));
      let allMatched = false;
      let failure: unknown = null;
      try {
        allMatched = (await documents.bulkWrite(operations, { ordered: true })).matchedCount === ofModel.length;
      } catch (err) {
        failure = err;
      }
      // The crash harness's cut between two collections of an apply (after the last one too: the whole apply written, not yet returned).
      const applies = ofModel.some((write) => write.transition.kind === 'apply');
      if (allMatched) {
        for (const write of ofModel) landed.add(documentKey(model, write.id));
        if (applies) crashPoint('apply:collection');
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
      if (applies) crashPoint('apply:collection');
    }
    return landed;
  }

  async renew(model: string, token: string, until: number): Promise<void> {
    await this.on(model).documents.updateMany({ [LOCK_FIELD]: token }, { $set: { [LOCK_UNTIL_FIELD]: until } });
  }

  async findExpired(model: string, before: number, limit: number): Promise<DocRecord[]> {
    const { target, documents } = this.on(model);
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
  private operations(target: WaterlineModel, write: GuardedWrite, nonce: string): Record<string, unknown>[] {
    const _id = storedId(target, write.id);
    // Version 0 is a record that never had the field (a document from before v3): $in [0, null] matches it.
    const guard = { _id, [LOCK_FIELD]: write.token, [VERSION_FIELD]: write.version === 0 ? { $in: [0, null] } : write.version };
    const next = { [VERSION_FIELD]: write.version + 1, [WRITE_FIELD]: nonce };
    const { transition } = write;
    switch (transition.kind) {
      case 'take':
        return [{ updateOne: { filter: guard, update: { $set: { ...next, [LOCK_FIELD]: transition.lock.token, [LOCK_UNTIL_FIELD]: transition.lock.until } } } }];
      case 'free':
        // Two operations, at most one matches: the first moves the version the second's guard names.
        return [
          { replaceOne: { filter: { ...guard, [STATE_FIELD]: 'reserved' }, replacement: this.tombstone(target, write.id, next) } },
          { updateOne: { filter: { ...guard, [STATE_FIELD]: { $ne: 'reserved' } }, update: { $set: next, $unset: { [LOCK_FIELD]: '', [LOCK_UNTIL_FIELD]: '' } } } },
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
