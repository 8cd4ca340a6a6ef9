import type { LockDocument, LogDocument, LogGuard, LogPatch, TxState } from '../types';
import { type AtomicStore, toLockDocument, toLogDocument } from './store';

/** The few mongodb driver calls used here, typed structurally (the driver is sails-mongo's). */
interface Collection {
  insertOne(doc: Record<string, unknown>): Promise<unknown>;
  insertMany(docs: Record<string, unknown>[], options: { ordered: boolean }): Promise<unknown>;
  findOne(filter: Record<string, unknown>): Promise<Record<string, unknown> | null>;
  find(filter: Record<string, unknown>, options?: Record<string, unknown>): { toArray(): Promise<Record<string, unknown>[]> };
  updateOne(filter: Record<string, unknown>, update: Record<string, unknown>): Promise<{ matchedCount: number }>;
  updateMany(filter: Record<string, unknown>, update: Record<string, unknown>): Promise<unknown>;
  deleteMany(filter: Record<string, unknown>): Promise<unknown>;
  createIndex(spec: Record<string, 1 | -1>, options?: Record<string, unknown>): Promise<unknown>;
}
export interface MongoDb {
  collection(name: string): Collection;
}

const DUPLICATE_KEY = 11000;

function isDuplicateKey(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === DUPLICATE_KEY;
}

/** Indexes (in the batch) of the documents a failed unordered insertMany did not insert. */
function failedIndexes(err: unknown): Set<number> {
  const writeErrors = (err as { writeErrors?: unknown }).writeErrors;
  const list = Array.isArray(writeErrors) ? writeErrors : writeErrors === undefined ? [] : [writeErrors];
  const failed = new Set<number>();
  for (const writeError of list as { index?: number; code?: number; err?: { index?: number; code?: number } }[]) {
    const index = writeError.index ?? writeError.err?.index;
    const code = writeError.code ?? writeError.err?.code;
    if (code !== DUPLICATE_KEY || index === undefined) throw err;
    failed.add(index);
  }
  return failed;
}

function fromMongo(doc: Record<string, unknown>): Record<string, unknown> {
  const { _id, ...rest } = doc;
  return { id: _id, ...rest };
}

function toMongo<T extends { id: string }>(doc: T): Record<string, unknown> {
  const { id, ...rest } = doc;
  return { _id: id, ...rest };
}

function guardFilter(id: string, guard: LogGuard): Record<string, unknown> {
  const filter: Record<string, unknown> = { _id: id };
  if (guard.states !== undefined) filter.state = { $in: [...guard.states] };
  if (guard.owner !== undefined) filter.owner = guard.owner;
  if (guard.leaseUntil !== undefined) filter.leaseUntil = guard.leaseUntil;
  if (guard.reversedBy !== undefined) filter.reversedBy = guard.reversedBy;
  return filter;
}

/** MongoDB (and FerretDB): updateOne with a guarded filter is atomic per document; _id is unique. */
export class MongoStore implements AtomicStore {
  readonly kind = 'mongo' as const;
  readonly multiProcess = true;
  private readonly logs: Collection;
  private readonly locks: Collection;

  constructor(db: MongoDb, logCollection: string, lockCollection: string) {
    this.logs = db.collection(logCollection);
    this.locks = db.collection(lockCollection);
  }

  async setup(): Promise<void> {
    await this.logs.createIndex({ state: 1, leaseUntil: 1 });
    await this.logs.createIndex({ documents: 1 });
    await this.locks.createIndex({ leaseUntil: 1 });
  }

  async insertLog(doc: LogDocument): Promise<boolean> {
    try {
      await this.logs.insertOne(toMongo(doc));
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  async getLog(id: string): Promise<LogDocument | null> {
    const doc = await this.logs.findOne({ _id: id });
    return doc === null ? null : toLogDocument(fromMongo(doc));
  }

  async updateLog(id: string, guard: LogGuard, patch: LogPatch): Promise<boolean> {
    const result = await this.logs.updateOne(guardFilter(id, guard), { $set: patch });
    return result.matchedCount === 1;
  }

  async findExpiredLogs(states: readonly TxState[], leaseBefore: number, limit: number): Promise<LogDocument[]> {
    const docs = await this.logs
      .find({ state: { $in: [...states] }, leaseUntil: { $lt: leaseBefore } }, { sort: { leaseUntil: 1 }, limit })
      .toArray();
    return docs.map((doc) => toLogDocument(fromMongo(doc)));
  }

  async findCommittedTouching(key: string): Promise<LogDocument[]> {
    const docs = await this.logs.find({ documents: key, state: 'committed' }, { sort: { endedAt: 1 } }).toArray();
    return docs.map((doc) => toLogDocument(fromMongo(doc)));
  }

  async insertLocks(locks: readonly LockDocument[]): Promise<Set<string>> {
    if (locks.length === 0) return new Set();
    let failed = new Set<number>();
    try {
      await this.locks.insertMany(locks.map(toMongo), { ordered: false });
    } catch (err) {
      failed = failedIndexes(err);
    }
    return new Set(locks.filter((_, index) => !failed.has(index)).map((lock) => lock.id));
  }

  async findLocks(ids: readonly string[]): Promise<LockDocument[]> {
    const docs = await this.locks.find({ _id: { $in: [...ids] } }).toArray();
    return docs.map((doc) => toLockDocument(fromMongo(doc)));
  }

  async renewLocks(owner: string, leaseUntil: number): Promise<void> {
    await this.locks.updateMany({ owner }, { $set: { leaseUntil } });
  }

  async findExpiredLocks(leaseBefore: number, limit: number): Promise<LockDocument[]> {
    const docs = await this.locks.find({ leaseUntil: { $lt: leaseBefore } }, { limit }).toArray();
    return docs.map((doc) => toLockDocument(fromMongo(doc)));
  }

  async deleteLocks(owner: string, ids?: readonly string[]): Promise<void> {
    await this.locks.deleteMany(ids === undefined ? { owner } : { owner, _id: { $in: [...ids] } });
  }
}
