/**
 * Log protocol v3's records on sails-disk: each document's lock, version and state in a row of
 * the hook's record model, beside the document itself. sails-disk lives in one process, so the
 * store's mutex, per record, makes every guarded write one atomic step (check the row, write the
 * document, move the row). A crash between the document write and the row's leaves the row held at its old
 * version: the apply runs again, and writes the same image.
 */
import { crashPoint } from '../../core/crash-points';
import { TransactError } from '../../core/errors';
import { uniqueKeys } from '../../core/model-info';
import { jsonEqual } from '../../core/json';
import { rawDestroy } from '../../models/destroy-guard';
import { documentKey, withoutKey } from '../../core/operations';
import { type DocRecord, type GuardedWrite, type LogsOf, parseToken, type RecordLock, type RecordState, type RecordStore, type RecordView, type Stub } from '../records';
import { DiskMutex } from './mutex';
import { findIn, findWhere, fromNedbDocument, nedbCall, nedbTable, readableDirectly, toNedbDocument, toNedbSet, writableDirectly } from './nedb';
import type { ViewRequest } from '../contract';
import type { Image, Values } from '../../core/types';
import type { WaterlineModel } from '../../core/waterline';
import type { ModelResolver } from '../waterline-writes';

/** Waterline's meta for a write of exactly the given values. */
const EXACT = { skipAllLifecycleCallbacks: true };

interface RecordRow {
  id: string;
  lock: string | null;
  lockUntil: number | null;
  version: number;
  state: RecordState;
  /** A stub's values of its model's unique keys (R9). */
  unique?: Values | null;
}

/** A row's new values (its version: one up) for a record as read, and an apply's image. */
interface Save {
  read: Read;
  row: Omit<RecordRow, 'id'>;
  image?: Image | null;
}

/** A record as read under the mutex, with what its writes need to know of the tables (so they need not read again). */
interface Read {
  record: DocRecord;
  /** The record has a row (else the next save creates it). */
  hasRow: boolean;
  /** The document is in its table (a reserved stub's too, when a killed apply left it there). */
  stored: boolean;
}

export class DiskRecords implements RecordStore {
  /** Guarded writes on different records overlap; a view, and renew, see one instant of them all. */
  private readonly mutex = new DiskMutex();

  constructor(private readonly recordModel: WaterlineModel, private readonly modelOf: ModelResolver) {}

  grant(model: string, ids: readonly string[], lock: RecordLock): Promise<DocRecord[]> {
    return this.mutex.keyed(ids.map((id) => documentKey(model, id)), async () => {
      const reads = await this.readRows(model, ids);
      const free = reads.filter(({ record }) => record.lock === null && record.state !== 'absent' && record.state !== 'reserved');
      await this.saveRows(free.map((read) => ({ read, row: { lock: lock.token, lockUntil: lock.until, version: read.record.version + 1, state: read.record.state } })));
      return reads.map((read) => read.record);
    });
  }

  /**
   * Reserves each absent id, and takes each free tombstone back, as a stub holding the values of
   * the model's unique keys (R9): all of them, or — when one value is taken, by a live document or
   * another stub — none (`already_exists`).
   */
  reserve(model: string, stubs: readonly Stub[], lock: RecordLock): Promise<DocRecord[]> {
    // Two reserves of one model's unique values must not both find them free.
    const claims = uniqueKeys(this.modelOf(model)).length > 0 ? [`${model}#unique`] : [];
    return this.mutex.keyed([...claims, ...stubs.map((stub) => documentKey(model, stub.id))], async () => {
      const reads = await this.readRows(model, stubs.map((stub) => stub.id));
      const taking = stubs.filter((_, i) => reads[i].record.state === 'absent' || (reads[i].record.state === 'destroyed' && reads[i].record.lock === null));
      const unique = await this.checkUnique(model, taking);
      await this.saveRows(taking.map((stub) => {
        const read = reads[stubs.indexOf(stub)];
        return { read, row: { lock: lock.token, lockUntil: lock.until, version: read.record.version + 1, state: 'reserved', unique: unique.get(stub.id) ?? null } };
      }));
      return reads.map((read) => read.record);
    });
  }

  claimUnique(model: string, claims: readonly Stub[], lock: RecordLock): Promise<void> {
    return this.mutex.keyed([`${model}#unique`, ...claims.map((claim) => documentKey(model, claim.id))], async () => {
      const reads = await this.readRows(model, claims.map((claim) => claim.id), false);
      const lost = reads.find((read) => read.record.lock?.token !== lock.token);
      if (lost !== undefined) throw new TransactError('lease_lost', `${model} ${lost.record.id} is no longer held by ${lock.token}; nothing was written`, { details: { model, id: lost.record.id } });
      const values = await this.checkUnique(model, claims);
      const table = nedbTable(this.recordModel);
      // Not through saveRows: the version stays, since the steps name it (R3).
      for (const claim of claims) await nedbCall((cb) => table.update({ _id: documentKey(model, claim.id), lock: lock.token }, { $set: { unique: values.get(claim.id) ?? null } }, { multi: false }, cb));
    });
  }

  /**
   * The unique values each stub (or claim) takes; throws already_exists when one is taken — by a
   * live document, by another record's stub or claim, or by another of `stubs`.
   */
  private async checkUnique(model: string, stubs: readonly Stub[]): Promise<Map<string, Values>> {
    const target = this.modelOf(model);
    const keys = uniqueKeys(target);
    const claims = new Map<string, Values>();
    if (keys.length === 0 || stubs.length === 0) return claims;
    const mine = new Set(stubs.map((stub) => documentKey(model, stub.id)));
    // Only the records claiming something (held stubs and updates): few, whatever the table's size.
    const rows = (await findWhere(nedbTable(this.recordModel), { unique: { $exists: true, $ne: null } })) as unknown as RecordRow[];
    const claimed: Values[] = rows.filter((row) => row.id.startsWith(`${model}:`) && !mine.has(row.id)).map((row) => row.unique as Values);
    for (const stub of stubs) {
      const mine: Values = {};
      for (const key of keys) {
        if (key.some((field) => stub.values[field] === undefined || stub.values[field] === null)) continue;
        const tuple = Object.fromEntries(key.map((field) => [field, stub.values[field]]));
        const taken = claimed.some((values) => key.every((field) => jsonEqual(values[field], tuple[field]))) || (await target.find({ where: tuple, limit: 1 })).length > 0;
        if (taken) throw new TransactError('already_exists', `a ${model} with ${key.map((field) => `${field} ${JSON.stringify(tuple[field])}`).join(', ')} exists already`, { details: { model, attributes: key } });
        Object.assign(mine, tuple);
      }
      claims.set(stub.id, mine);
      claimed.push(mine);
    }
    return claims;
  }

  read(model: string, ids: readonly string[]): Promise<DocRecord[]> {
    return this.readNow(model, ids);
  }

  write(writes: readonly GuardedWrite[]): Promise<Set<string>> {
    // No record lock for the unique claims: an apply writes the document before it ends its stub's
    // claim, so a reserve running meanwhile finds the value taken by one or the other.
    return this.mutex.keyed(writes.map((write) => documentKey(write.model, write.id)), async () => {
      const landed = new Set<string>();
      // Read once per collection, rows and whether each document is there (its image is not needed:
      // these records are not returned): under the mutex, only these writes move these records.
      const reads = new Map<string, Read>();
      const models = [...new Set(writes.map((write) => write.model))];
      const perModel = await Promise.all(models.map((model) => this.readRows(model, [...new Set(writes.filter((write) => write.model === model).map((write) => write.id))], false)));
      for (const found of perModel.flat()) reads.set(documentKey(found.record.model, found.record.id), found);
      // Documents first — each collection's in order, the collections side by side — then their rows,
      // in as few writes as their new values allow. A crash between leaves the rows held at their old
      // versions: the apply runs again and writes the same images.
      let saves: Save[] = [];
      const flush = async (): Promise<void> => {
        const applies = new Map<string, Save[]>();
        for (const save of saves) if (save.image !== undefined) applies.set(save.read.record.model, [...(applies.get(save.read.record.model) ?? []), save]);
        const written = await Promise.allSettled([...applies].map(async ([model, list]) => {
          for (const save of list) {
            await this.writeImage(model, save.read.record.id, save.read.stored, save.image as Image | null);
            save.read.stored = save.image !== null;
            crashPoint('apply:written');
          }
        }));
        const failed = written.find((outcome) => outcome.status === 'rejected');
        if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
        await this.saveRows(saves);
        saves = [];
      };
      for (const write of writes) {
        const key = documentKey(write.model, write.id);
        if (saves.some((save) => save.read === reads.get(key))) await flush(); // one record written twice in a call: the second sees the first
        const found = reads.get(key) as Read;
        const { record } = found;
        if (record.lock?.token !== write.token || record.version !== write.version) continue;
        const { transition } = write;
        const version = record.version + 1;
        if (transition.kind === 'take') {
          // A claim (R9) is its holder's: a takeover does not inherit it.
          saves.push({ read: found, row: { lock: transition.lock.token, lockUntil: transition.lock.until, version, state: record.state, unique: record.state === 'reserved' ? undefined : null } });
        } else if (transition.kind === 'free') {
          saves.push({ read: found, row: { lock: null, lockUntil: null, version, state: record.state === 'reserved' ? 'destroyed' : record.state, unique: null } });
        } else {
          // Its unique values now live in the document (or nowhere): the stub's claim ends.
          saves.push({ read: found, row: { lock: null, lockUntil: null, version, state: transition.after === null ? 'destroyed' : 'live', unique: null }, image: transition.after });
        }
        landed.add(key);
      }
      await flush();
      return landed;
    });
  }

  renew(model: string, token: string, until: number): Promise<void> {
    return this.mutex.exclusive(async () => {
      const prefix = `${model}:`;
      const rows = (await this.recordModel.find({ lock: token })) as unknown as RecordRow[];
      for (const row of rows) if (row.id.startsWith(prefix)) await this.recordModel.update({ id: row.id }).set({ lockUntil: until });
    });
  }

  async findExpired(model: string, before: number, limit: number): Promise<DocRecord[]> {
    const rows = (await this.recordModel.find({ where: { lock: { '!=': null }, lockUntil: { '<': before } }, sort: 'lockUntil ASC' })) as unknown as RecordRow[];
    const prefix = `${model}:`;
    const ids = rows.filter((row) => row.id.startsWith(prefix)).slice(0, limit).map((row) => row.id.slice(prefix.length));
    return this.readNow(model, ids);
  }

  /** Under the mutex: no record moves while the held records, the rows and the holders' logs are read, so they are one instant. */
  view(requests: readonly ViewRequest[], logsOf: LogsOf): Promise<RecordView> {
    return this.mutex.exclusive(async () => {
      // Only what is held right now carries a lock: few rows.
      const locked = (await this.recordModel.find({ lock: { '!=': null } })) as unknown as RecordRow[];
      const rows: DocRecord[][] = [];
      const held: DocRecord[][] = [];
      for (const request of requests) {
        const prefix = `${request.model}:`;
        const heldIds = locked.filter((row) => row.id.startsWith(prefix)).map((row) => row.id.slice(prefix.length));
        held.push(await this.readNow(request.model, heldIds));
        const target = this.modelOf(request.model);
        const limit = request.limit === undefined ? {} : { limit: request.limit + heldIds.length };
        const images = (await target.find({ where: request.where, sort: request.sort, ...limit })) as Image[];
        const versions = await this.versionsOf(request.model, images.map((image) => String(image[target.primaryKey])));
        rows.push(images.map((image) => {
          const id = String(image[target.primaryKey]);
          return { model: request.model, id, image, state: 'live' as const, lock: null, version: versions.get(id) ?? 0 };
        }));
      }
      const holders = [...new Set(held.flat().map((record) => parseToken((record.lock as RecordLock).token).txId))];
      return { rows, held, logs: holders.length === 0 ? new Map() : await logsOf(holders) };
    });
  }

  private async versionsOf(model: string, ids: readonly string[]): Promise<Map<string, number>> {
    if (ids.length === 0) return new Map();
    const rows = (await this.recordModel.find({ id: { in: ids.map((id) => documentKey(model, id)) } })) as unknown as RecordRow[];
    return new Map(rows.map((row) => [row.id.slice(model.length + 1), Number(row.version)]));
  }

  private async readNow(model: string, ids: readonly string[]): Promise<DocRecord[]> {
    return (await this.readRows(model, ids)).map((read) => read.record);
  }

  /**
   * Each id's record: whether its document is there read from its NeDB table (where sails-disk
   * keeps the primary key as `_id`), then, unless `images` is false, the images of those there.
   * Without images, the records' images are null.
   */
  private async readRows(model: string, ids: readonly string[], images = true): Promise<Read[]> {
    if (ids.length === 0) return [];
    const target = this.modelOf(model);
    const keys = ids.map((id) => documentKey(model, id));
    const rows = new Map(((await findIn(nedbTable(this.recordModel), keys)) as unknown as RecordRow[]).map((row) => [row.id, row]));
    const stored = await this.imagesOf(target, ids, images);
    return ids.map((id) => {
      const row = rows.get(documentKey(model, id));
      const there = stored.has(id);
      // The document table is the truth for live or not: a document written before v3 (or by a plain
      // Waterline create) has no row, and a plain destroy or create leaves the row as it was.
      const state: RecordState = row === undefined ? (there ? 'live' : 'absent') : row.state === 'reserved' ? 'reserved' : there ? 'live' : 'destroyed';
      const lock = row?.lock === null || row?.lock === undefined ? null : { token: row.lock, until: Number(row.lockUntil) };
      return { record: { model, id, image: state === 'live' ? (stored.get(id) ?? null) : null, state, lock, version: Number(row?.version ?? 0) }, hasRow: row !== undefined, stored: there };
    });
  }

  /**
   * The documents there among `ids`, each with its image as Waterline's find returns it (read from
   * NeDB where that is the same) or, without `images`, null.
   */
  private async imagesOf(target: WaterlineModel, ids: readonly string[], images: boolean): Promise<Map<string, Image | null>> {
    const direct = images && readableDirectly(target);
    const docs = await findIn(nedbTable(target), ids, direct ? {} : { _id: 1 });
    const stored = new Map<string, Image | null>(docs.map((doc) => [String(doc._id), direct ? (fromNedbDocument(target, doc) as Image) : null]));
    // Through Waterline, only the documents there (a create's id is usually not).
    const present = [...stored.keys()];
    if (images && !direct && present.length > 0) for (const image of await target.find({ [target.primaryKey]: { in: present } })) stored.set(String(image[target.primaryKey]), image as Image);
    return stored;
  }

  /**
   * Saves rows: the new ones in one insert, the others in one update per distinct set of new
   * values (a transfer's: one), each row's version one up. Each read then holds its record as
   * readRows would now read it, without reading it again: under the mutex, nothing else moved it.
   */
  private async saveRows(saves: readonly Save[]): Promise<void> {
    if (saves.length === 0) return;
    const table = nedbTable(this.recordModel);
    const keyOf = (save: Save): string => documentKey(save.read.record.model, save.read.record.id);
    const inserts = saves.filter((save) => !save.read.hasRow).map((save) => ({ _id: keyOf(save), id: keyOf(save), unique: null, ...save.row }));
    if (inserts.length > 0) await nedbCall((cb) => table.insert(inserts, cb));
    const updates = new Map<string, { set: Record<string, unknown>; keys: string[] }>();
    for (const save of saves.filter((save) => save.read.hasRow)) {
      const set = Object.fromEntries(Object.entries(save.row).filter(([field, value]) => field !== 'version' && value !== undefined));
      const group = JSON.stringify(set);
      updates.set(group, { set, keys: [...(updates.get(group)?.keys ?? []), keyOf(save)] });
    }
    for (const { set, keys } of updates.values()) await nedbCall((cb) => table.update({ _id: { $in: keys } }, { $set: set, $inc: { version: 1 } }, { multi: true }, cb));
    for (const { read, row, image } of saves) {
      const { record } = read;
      const state: RecordState = row.state === 'reserved' ? 'reserved' : read.stored ? 'live' : 'destroyed';
      const lock = row.lock === null ? null : { token: row.lock, until: Number(row.lockUntil) };
      read.hasRow = true;
      read.record = { model: record.model, id: record.id, image: state === 'live' ? (image === undefined ? record.image : image) : null, state, lock, version: row.version };
    }
  }

  /**
   * Writes the committed after-image exactly: lifecycle callbacks ran when the transaction planned
   * the write (Waterline's API inside a transaction), and must not run again on what was committed.
   */
  private async writeImage(model: string, id: string, exists: boolean, after: Image | null): Promise<void> {
    const target = this.modelOf(model);
    const where = { [target.primaryKey]: id };
    if (after === null) {
      if (!exists) return;
      if (target.attributes[target.primaryKey]?.type === 'string') await nedbCall((cb) => nedbTable(target).remove({ _id: id }, { multi: false }, cb));
      else await rawDestroy(target)(where).meta(EXACT);
      return;
    }
    // A create's stub reads as no document; one killed between its image and its row left the document there already (`stored`).
    if (!writableDirectly(target, after)) {
      if (exists) await target.update(where).set(withoutKey(after, target.primaryKey)).meta(EXACT);
      else await target.create({ ...after, [target.primaryKey]: id }).meta(EXACT);
      return;
    }
    const table = nedbTable(target);
    if (exists) await nedbCall((cb) => table.update({ _id: id }, { $set: toNedbSet(target, after) }, { multi: false }, cb));
    else await nedbCall((cb) => table.insert([toNedbDocument(target, id, after)], cb));
  }
}

