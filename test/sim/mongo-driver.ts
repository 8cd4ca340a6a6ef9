/**
 * A simulated MongoDB driver: the structural `MongoDb`/`Collection` interface lib/store/mongo.ts
 * calls, over the simulated database, so that the REAL MongoStore runs in the simulation. Only
 * what MongoStore sends is understood — filters with equality (an array field matches an element),
 * $or, $in, $lt, $gt, $gte, $ne, $not/$regex, $size; updates with $set; find with sort/limit; insertMany
 * ordered:false; command({hello: 1}) — and anything else fails loudly.
 *
 * Each driver call is one request, applied in one step. Errors have MongoDB's shapes: a duplicate
 * key is a MongoServerError (insertOne) or a MongoBulkWriteError with `writeErrors` (insertMany),
 * code 11000; a network fault is a MongoNetworkError / MongoNetworkTimeoutError with no
 * `writeErrors` at all — whether the request landed is unknown to the caller.
 */
import { LOCK_IDENTITY, LOG_IDENTITY } from '../../lib/models';
import { FENCE_FIELD, type MongoDb } from '../../lib/store/mongo';
import { parseFenceToken } from '../../lib/store/store';
import { copy, type Doc, type SimDatabase, type Transport } from './database';
import type { NetworkErrors } from './network';

export class MongoServerError extends Error {
  override name = 'MongoServerError';

  constructor(message: string, readonly code: number) {
    super(message);
  }
}

export class MongoBulkWriteError extends Error {
  override name = 'MongoBulkWriteError';
  readonly code = 11000;

  constructor(message: string, readonly writeErrors: { index: number; code: number; errmsg: string }[], readonly result: { insertedCount: number }) {
    super(message);
  }
}

export class MongoNetworkError extends Error {
  override name = 'MongoNetworkError';
}

export class MongoNetworkTimeoutError extends MongoNetworkError {
  override name = 'MongoNetworkTimeoutError';
}

export const MONGO_NETWORK_ERRORS: NetworkErrors = {
  notSent: (label) => new MongoNetworkError(`connection 3 to 127.0.0.1:27017 closed (${label})`),
  noReply: (label) => new MongoNetworkTimeoutError(`connection 3 to 127.0.0.1:27017 timed out (${label})`),
};

type Filter = Record<string, unknown>;

function same(a: unknown, b: unknown): boolean {
  return (a ?? null) === (b ?? null);
}

function matchesValue(value: unknown, condition: unknown): boolean {
  if (condition !== null && typeof condition === 'object' && !Array.isArray(condition)) {
    return Object.entries(condition as Record<string, unknown>).every(([operator, operand]) => {
      switch (operator) {
        case '$in':
          return (operand as unknown[]).some((item) => (Array.isArray(value) ? value.some((v) => same(v, item)) : same(value, item)));
        case '$lt':
          return value !== null && value !== undefined && (value as number) < (operand as number);
        case '$gt':
          return value !== null && value !== undefined && (value as number) > (operand as number);
        case '$gte':
          return value !== null && value !== undefined && (value as number) >= (operand as number);
        case '$ne':
          return !same(value, operand);
        case '$not':
          return !matchesValue(value, operand);
        case '$size':
          return Array.isArray(value) && value.length === operand;
        case '$regex':
          return typeof value === 'string' && new RegExp(operand as string).test(value);
        default:
          throw new Error(`simulated MongoDB: unsupported operator ${operator}`);
      }
    });
  }
  return Array.isArray(value) ? value.some((item) => same(item, condition)) : same(value, condition);
}

function matchesFilter(doc: Doc, filter: Filter): boolean {
  return Object.entries(filter).every(([field, condition]) => (field === '$or' ? (condition as Filter[]).some((clause) => matchesFilter(doc, clause)) : matchesValue(doc[field], condition)));
}

function sortDocs(docs: Doc[], sort: Record<string, 1 | -1> | undefined): Doc[] {
  if (sort === undefined) return docs;
  const clauses = Object.entries(sort);
  return docs.sort((a, b) => {
    for (const [field, direction] of clauses) {
      const x = a[field] as number | string;
      const y = b[field] as number | string;
      if (x !== y) return (x < y ? -1 : 1) * direction;
    }
    return 0;
  });
}

function setOf(update: Record<string, unknown>): Record<string, unknown> {
  const keys = Object.keys(update);
  if (keys.some((key) => key !== '$set')) throw new Error(`simulated MongoDB: unsupported update ${keys.join(',')}`);
  return update.$set as Record<string, unknown>;
}


interface Cursor extends AsyncIterable<Record<string, unknown>> {
  toArray(): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

class SimCollection {
  private readonly app: boolean;

  constructor(private readonly name: string, private readonly db: SimDatabase, private readonly transport: Transport) {
    this.app = name !== LOG_IDENTITY && name !== LOCK_IDENTITY;
  }

  private get docs(): Map<string, Doc> {
    return this.db.table(this.name);
  }

  private ref(id: unknown): string {
    return this.name === LOG_IDENTITY || this.name === LOCK_IDENTITY ? String(id) : `${this.name}:${String(id)}`;
  }

  private refsOf(filter: Filter): string[] {
    const id = filter._id;
    if (typeof id === 'string') return [this.ref(id)];
    const list = (id as { $in?: unknown } | undefined)?.$in;
    const refs = Array.isArray(list) ? list.map((item) => this.ref(item)) : [this.name];
    if (typeof filter.owner === 'string') refs.push(filter.owner);
    if (typeof filter.documents === 'string') refs.push(filter.documents);
    return refs;
  }

  insertOne(doc: Record<string, unknown>): Promise<unknown> {
    const id = String(doc._id);
    return this.transport.call(`${this.name}.insertOne(${id}${this.app ? ` ${String(doc[FENCE_FIELD])}` : ''})`, [this.ref(id), ...(this.app ? [parseFenceToken(String(doc[FENCE_FIELD])).txId] : [])], () => {
      if (this.docs.has(id)) throw new MongoServerError(`E11000 duplicate key error collection: sim.${this.name} index: _id_ dup key: { _id: "${id}" }`, 11000);
      const stored = copy(doc);
      this.docs.set(id, stored);
      this.observeWrite(id, 'insert', stored, null);
      return { acknowledged: true, insertedId: id };
    });
  }

  insertMany(docs: Record<string, unknown>[], options: { ordered: boolean }): Promise<unknown> {
    if (options.ordered) throw new Error('simulated MongoDB: only unordered insertMany is simulated');
    return this.transport.call(`${this.name}.insertMany(${docs.map((d) => String(d._id)).join(',')} by ${String(docs[0]?.owner ?? '')} e${String(docs[0]?.epoch ?? '')})`, [...docs.map((d) => this.ref(d._id)), String(docs[0]?.owner ?? '')], () => {
      const writeErrors: { index: number; code: number; errmsg: string }[] = [];
      const inserted: Doc[] = [];
      docs.forEach((doc, index) => {
        const id = String(doc._id);
        if (this.docs.has(id)) {
          writeErrors.push({ index, code: 11000, errmsg: `E11000 duplicate key error collection: sim.${this.name} dup key: { _id: "${id}" }` });
          return;
        }
        const stored = copy(doc);
        this.docs.set(id, stored);
        inserted.push(copy(stored));
      });
      if (this.name === LOCK_IDENTITY && inserted.length > 0) this.db.emit({ kind: 'locks', inserted, deleted: [] });
      if (writeErrors.length > 0) throw new MongoBulkWriteError(writeErrors[0].errmsg, writeErrors, { insertedCount: inserted.length });
      return { acknowledged: true, insertedCount: inserted.length };
    });
  }

  findOne(filter: Filter): Promise<Record<string, unknown> | null> {
    return this.transport.call(`${this.name}.findOne(${this.refsOf(filter).join(',')})`, this.refsOf(filter), () => {
      for (const doc of this.docs.values()) if (matchesFilter(doc, filter)) return copy(doc);
      return null;
    });
  }

  find(filter: Filter, options: Record<string, unknown> = {}): Cursor {
    const run = (): Promise<Record<string, unknown>[]> =>
      this.transport.call(`${this.name}.find(${this.refsOf(filter).join(',')})`, this.refsOf(filter), () => {
        const found = sortDocs([...this.docs.values()].filter((doc) => matchesFilter(doc, filter)), options.sort as Record<string, 1 | -1> | undefined);
        return copy(typeof options.limit === 'number' && options.limit > 0 ? found.slice(0, options.limit) : found);
      });
    return {
      toArray: run,
      close: async () => undefined,
      [Symbol.asyncIterator]: async function* () {
        for (const doc of await run()) yield doc;
      },
    };
  }

  aggregate(): Cursor {
    throw new Error('simulated MongoDB: aggregate is not simulated (sum checks are not part of the workload)');
  }

  bulkWrite(): Promise<{ matchedCount: number }> {
    throw new Error('simulated MongoDB: bulkWrite is not simulated (log protocol v3 is not part of the workload yet)');
  }

  findOneAndUpdate(): Promise<Record<string, unknown> | null> {
    throw new Error('simulated MongoDB: findOneAndUpdate is not simulated (log protocol v3 is not part of the workload yet)');
  }

  updateOne(filter: Filter, update: Record<string, unknown>): Promise<{ matchedCount: number }> {
    const set = setOf(update);
    const label = `${this.name}.updateOne(${this.refsOf(filter).join(',')}${set.state === undefined ? '' : ` ${String(set.state)}`}${this.app ? ` ${String(set[FENCE_FIELD])}` : ''})`;
    return this.transport.call(label, [...this.refsOf(filter), ...(this.app && typeof set[FENCE_FIELD] === 'string' ? [parseFenceToken(set[FENCE_FIELD] as string).txId] : [])], () => {
      for (const [id, doc] of this.docs) {
        if (!matchesFilter(doc, filter)) continue;
        const after = { ...doc, ...copy(set) };
        this.docs.set(id, after);
        this.observeWrite(id, 'patch', after, doc);
        return { matchedCount: 1, modifiedCount: 1 };
      }
      return { matchedCount: 0, modifiedCount: 0 };
    });
  }

  updateMany(filter: Filter, update: Record<string, unknown>): Promise<unknown> {
    const set = setOf(update);
    return this.transport.call(`${this.name}.updateMany(${this.refsOf(filter).join(',')})`, this.refsOf(filter), () => {
      let matched = 0;
      for (const [id, doc] of this.docs) {
        if (!matchesFilter(doc, filter)) continue;
        matched++;
        this.docs.set(id, { ...doc, ...copy(set) });
      }
      return { matchedCount: matched };
    });
  }

  deleteOne(filter: Filter): Promise<{ deletedCount: number }> {
    return this.transport.call(`${this.name}.deleteOne(${this.refsOf(filter).join(',')})`, this.refsOf(filter), () => {
      for (const [id, doc] of this.docs) {
        if (!matchesFilter(doc, filter)) continue;
        this.docs.delete(id);
        this.observeRemove(id, filter, doc[FENCE_FIELD]);
        return { deletedCount: 1 };
      }
      return { deletedCount: 0 };
    });
  }

  deleteMany(filter: Filter): Promise<unknown> {
    return this.transport.call(`${this.name}.deleteMany(${this.refsOf(filter).join(',')})`, this.refsOf(filter), () => {
      const deleted: Doc[] = [];
      for (const [id, doc] of [...this.docs]) {
        if (!matchesFilter(doc, filter)) continue;
        this.docs.delete(id);
        deleted.push(copy(doc));
      }
      if (this.name === LOCK_IDENTITY && deleted.length > 0) this.db.emit({ kind: 'locks', inserted: [], deleted });
      return { deletedCount: deleted.length };
    });
  }

  async createIndex(spec: Record<string, 1 | -1>): Promise<string> {
    return Object.entries(spec).map(([field, direction]) => `${field}_${direction}`).join('_');
  }

  /** Tells the checkers what this accepted write was: a log change, or a fenced document write. */
  private observeWrite(id: string, action: 'insert' | 'patch', after: Doc, before: Doc | null): void {
    if (this.name === LOG_IDENTITY) {
      this.db.emit({ kind: 'log', id, before: before === null ? null : copy(before), after: copy(after) });
      return;
    }
    if (!this.app) return;
    const token = after[FENCE_FIELD];
    if (typeof token !== 'string') return;
    this.db.emit({ kind: 'document', table: this.name, id, action, ...parseFenceToken(token) });
  }

  /** A fenced delete names the writer's own token in the last clause of its `$or` (lib/store/mongo.ts acceptedBy). */
  private observeRemove(id: string, filter: Filter, removedFence: unknown): void {
    if (!this.app) return;
    const clauses = filter.$or as Filter[] | undefined;
    const token = clauses?.[clauses.length - 1]?.[FENCE_FIELD];
    if (typeof token !== 'string') return;
    this.db.emit({ kind: 'document', table: this.name, id, action: 'remove', ...parseFenceToken(token), ...(typeof removedFence === 'string' ? { removedFence } : {}) });
  }
}

export class SimMongoDb implements MongoDb {
  private readonly collections = new Map<string, SimCollection>();

  constructor(private readonly db: SimDatabase, private readonly transport: Transport, private readonly serverNow: () => number) {}

  collection(name: string): SimCollection {
    let collection = this.collections.get(name);
    if (collection === undefined) {
      collection = new SimCollection(name, this.db, this.transport);
      this.collections.set(name, collection);
    }
    return collection;
  }

  command(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    return this.transport.call(`command(${Object.keys(command)[0]})`, [], () => {
      if (command.hello === 1) return { isWritablePrimary: true, localTime: new Date(this.serverNow()) };
      if (typeof command.create === 'string') return { ok: 1 };
      throw new Error(`simulated MongoDB: unsupported command ${JSON.stringify(command)}`);
    });
  }
}
