/**
 * Log protocol v3's records on sails-disk: each document's lock, version and state in a row of
 * the hook's record model, beside the document itself. sails-disk lives in one process, so the
 * store's mutex makes every guarded write one atomic step (check the row, write the document,
 * move the row). A crash between the document write and the row's leaves the row held at its old
 * version: the apply runs again, and writes the same image.
 */
import { crashPoint } from '../crash-points';
import { TransactError } from '../errors';
import { uniqueKeys } from '../model-info';
import { jsonEqual } from '../json';
import { rawDestroy } from '../history-guard';
import { documentKey, withoutKey } from '../operations';
import { type DocRecord, type GuardedWrite, type LogsOf, parseToken, type RecordLock, type RecordState, type RecordStore, type RecordView, type Stub } from '../redo/records';
import type { ViewRequest } from './store';
import type { Image, Values } from '../types';
import type { WaterlineModel } from '../waterline';
import type { ModelResolver } from './waterline-writes';

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

export class DiskRecords implements RecordStore {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly recordModel: WaterlineModel, private readonly modelOf: ModelResolver) {}

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work, work);
    this.tail = run.catch(() => undefined);
    return run;
  }

  grant(model: string, ids: readonly string[], lock: RecordLock): Promise<DocRecord[]> {
    return this.exclusive(async () => {
      const records = await this.readNow(model, ids);
      for (const record of records) {
        if (record.lock !== null || record.state === 'absent' || record.state === 'reserved') continue;
        await this.saveRow(model, record, { lock: lock.token, lockUntil: lock.until, version: record.version + 1, state: record.state });
      }
      return this.readNow(model, ids);
    });
  }

  /**
   * Reserves each absent id, and takes each free tombstone back, as a stub holding the values of
   * the model's unique keys (R9): all of them, or — when one value is taken, by a live document or
   * another stub — none (`already_exists`).
   */
  reserve(model: string, stubs: readonly Stub[], lock: RecordLock): Promise<DocRecord[]> {
    return this.exclusive(async () => {
      const ids = stubs.map((stub) => stub.id);
      const records = await this.readNow(model, ids);
      const taking = stubs.filter((_, i) => records[i].state === 'absent' || (records[i].state === 'destroyed' && records[i].lock === null));
      const unique = await this.checkUnique(model, taking);
      for (const stub of taking) {
        const record = records[ids.indexOf(stub.id)];
        await this.saveRow(model, record, { lock: lock.token, lockUntil: lock.until, version: record.version + 1, state: 'reserved', unique: unique.get(stub.id) ?? null });
      }
      return this.readNow(model, ids);
    });
  }

  /** The unique values each stub claims; throws already_exists when one is taken (by a live document, a stub, or another of `stubs`). */
  private async checkUnique(model: string, stubs: readonly Stub[]): Promise<Map<string, Values>> {
    const target = this.modelOf(model);
    const keys = uniqueKeys(target);
    const claims = new Map<string, Values>();
    if (keys.length === 0 || stubs.length === 0) return claims;
    const reserved = ((await this.recordModel.find({ state: 'reserved' })) as unknown as RecordRow[]).filter((row) => row.id.startsWith(`${model}:`) && row.unique !== null && row.unique !== undefined);
    const claimed: Values[] = reserved.map((row) => row.unique as Values);
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
    return this.exclusive(async () => {
      const landed = new Set<string>();
      for (const write of writes) {
        const [record] = await this.readNow(write.model, [write.id]);
        if (record.lock?.token !== write.token || record.version !== write.version) continue;
        const { transition } = write;
        const version = record.version + 1;
        if (transition.kind === 'take') {
          await this.saveRow(write.model, record, { lock: transition.lock.token, lockUntil: transition.lock.until, version, state: record.state });
        } else if (transition.kind === 'free') {
          await this.saveRow(write.model, record, { lock: null, lockUntil: null, version, state: record.state === 'reserved' ? 'destroyed' : record.state, unique: null });
        } else {
          await this.writeImage(write.model, write.id, record.image !== null, transition.after);
          crashPoint('apply:written');
          // Its unique values now live in the document (or nowhere): the stub's claim ends.
          await this.saveRow(write.model, record, { lock: null, lockUntil: null, version, state: transition.after === null ? 'destroyed' : 'live', unique: null });
        }
        landed.add(documentKey(write.model, write.id));
      }
      return landed;
    });
  }

  renew(model: string, token: string, until: number): Promise<void> {
    return this.exclusive(async () => {
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
    return this.exclusive(async () => {
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
    if (ids.length === 0) return [];
    const target = this.modelOf(model);
    const keys = ids.map((id) => documentKey(model, id));
    const rows = new Map(((await this.recordModel.find({ id: { in: keys } })) as unknown as RecordRow[]).map((row) => [row.id, row]));
    const images = new Map((await target.find({ [target.primaryKey]: { in: [...ids] } })).map((image) => [String(image[target.primaryKey]), image as Image]));
    return ids.map((id) => {
      const row = rows.get(documentKey(model, id));
      const image = images.get(id) ?? null;
      // The document table is the truth for live or not: a document written before v3 (or by a plain
      // Waterline create) has no row, and a plain destroy or create leaves the row as it was.
      const state: RecordState = row === undefined ? (image === null ? 'absent' : 'live') : row.state === 'reserved' ? 'reserved' : image === null ? 'destroyed' : 'live';
      const lock = row?.lock === null || row?.lock === undefined ? null : { token: row.lock, until: Number(row.lockUntil) };
      return { model, id, image: state === 'live' ? image : null, state, lock, version: Number(row?.version ?? 0) };
    });
  }

  private async saveRow(model: string, record: DocRecord, row: Omit<RecordRow, 'id'>): Promise<void> {
    const id = documentKey(model, record.id);
    if ((await this.recordModel.findOne({ id })) === undefined) await this.recordModel.create({ id, ...row });
    else await this.recordModel.update({ id }).set({ ...row });
  }

  /**
   * Writes the committed after-image exactly: lifecycle callbacks ran when the transaction planned
   * the write (Waterline's API inside a transaction), and must not run again on what was committed.
   */
  private async writeImage(model: string, id: string, exists: boolean, after: Image | null): Promise<void> {
    const target = this.modelOf(model);
    const where = { [target.primaryKey]: id };
    if (after === null) {
      if (exists) await rawDestroy(target)(where).meta(EXACT);
      return;
    }
    // A create's stub reads as no document; one killed between its image and its row left the document there already.
    const present = exists || (await target.findOne(where)) !== undefined;
    if (present) await target.update(where).set(withoutKey(after, target.primaryKey)).meta(EXACT);
    else await target.create({ ...after, [target.primaryKey]: id }).meta(EXACT);
  }
}
