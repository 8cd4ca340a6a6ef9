/**
 * A simulated MongoDB driver: the structural `MongoDb`/`Collection` interface lib/store/mongo/store.ts
 * calls, over the simulated database, so that the REAL MongoStore (log protocol v2, and v3's log)
 * and the REAL MongoRecords (log protocol v3's records, lib/store/mongo/records.ts) run in the
 * simulation. Only what those send is understood, as MongoDB (driver 6) does it, and anything else
 * fails loudly:
 * - filters: equality (null matches a missing field; an array field matches an element), $or,
 *   $in, $ne, $lt, $gt, $gte, $exists, $not/$regex, $size;
 * - updates: $set, $inc (a missing field counts from 0; a non-number is a TypeMismatch), $unset;
 *   a field in two operators is refused (ConflictingUpdateOperators), `_id` is immutable;
 * - find with projection (inclusion or exclusion), sort (missing and null first) and limit;
 * - insertMany ordered or not; bulkWrite, ordered or not, of updateOne, replaceOne, insertOne;
 * - updateOne, findOneAndUpdate, updateMany, deleteOne, deleteMany, findOne, command({hello: 1});
 * - createIndex: a unique one (sparse or not) refuses a duplicate key from then on.
 *
 * Errors have MongoDB's shapes: a duplicate key is a MongoServerError (insertOne, updateOne) or a
 * MongoBulkWriteError with `writeErrors` and the counts of what was done (insertMany, bulkWrite),
 * code 11000; a network fault is a MongoNetworkError / MongoNetworkTimeoutError with no
 * `writeErrors` at all — whether the request landed is unknown to the caller.
 *
 * Atomicity, as on MongoDB: a single-document call (insertOne, findOne, updateOne,
 * findOneAndUpdate, deleteOne) is one step. A multi-document call is atomic per document only: on
 * the app's collections of a v3 world (`records`) updateMany, insertMany, bulkWrite and find go
 * through Transport.callSteps, one step per document or operation — other requests land between
 * two (a find is no snapshot across documents), a cut stops it part way (some applied, no
 * reply), and an ordered bulk stops at its first write error. The v2 world keeps them as one step
 * each (its traces as they were).
 *
 * On a v3 world every change to an app document is announced as a `record` event (the row as
 * `id` plus its fields, without the write nonce), as SimulatedRecords announces them: the
 * record-rules checker judges MongoRecords' writes as it judges the generic records'. A change
 * of the lease alone (a renewal) is no record change, as there.
 */
import { jsonEqual } from '../../lib/core/json';
import { LOCK_IDENTITY, LOG_IDENTITY } from '../../lib/models/hook-models';
import { parseToken } from '../../lib/store/records';
import { CLAIM_FIELD, FENCE_FIELD, LOCK_FIELD, LOCK_UNTIL_FIELD, type MongoDb, STATE_FIELD, VERSION_FIELD, WRITE_FIELD } from '../../lib/store/mongo/store';
import { parseFenceToken } from '../../lib/store/contract';
import { copy, type Doc, type SimDatabase, type Stepwise, stepwise, type Transport } from './database';
import type { NetworkErrors } from './network';

export class MongoServerError extends Error {
  override name = 'MongoServerError';

  constructor(message: string, readonly code: number) {
    super(message);
  }
}

/** What a bulk write did, as the driver's BulkWriteResult counts it. */
export interface BulkCounts {
  insertedCount: number;
  matchedCount: number;
  modifiedCount: number;
  deletedCount: number;
  upsertedCount: number;
}

interface WriteError {
  index: number;
  code: number;
  errmsg: string;
}

/** The driver's MongoBulkWriteError: the first error's code and message, every write error, and the counts of what was done (as getters, and in `result`). */
export class MongoBulkWriteError extends Error {
  override name = 'MongoBulkWriteError';
  readonly code: number;
  readonly result: BulkCounts & { ok: number; getWriteConcernError(): undefined };

  constructor(readonly writeErrors: WriteError[], counts: BulkCounts) {
    super(writeErrors[0].errmsg);
    this.code = writeErrors[0].code;
    this.result = { ok: 1, ...counts, getWriteConcernError: () => undefined };
  }

  get insertedCount(): number {
    return this.result.insertedCount;
  }

  get matchedCount(): number {
    return this.result.matchedCount;
  }

  get modifiedCount(): number {
    return this.result.modifiedCount;
  }

  get deletedCount(): number {
    return this.result.deletedCount;
  }

  get upsertedCount(): number {
    return this.result.upsertedCount;
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

const DUPLICATE_KEY = 11000;
const TYPE_MISMATCH = 14;
const CONFLICTING_UPDATE_OPERATORS = 40;
const IMMUTABLE_FIELD = 66;

type Filter = Record<string, unknown>;

function same(a: unknown, b: unknown): boolean {
  return (a ?? null) === (b ?? null);
}

function matchesValue(value: unknown, condition: unknown, present: boolean): boolean {
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
        case '$exists':
          // A field set to null exists; only a missing one does not.
          return present === (operand === true);
        case '$not':
          return !matchesValue(value, operand, present);
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
  return Object.entries(filter).every(([field, condition]) => {
    if (field === '$or') return (condition as Filter[]).some((clause) => matchesFilter(doc, clause));
    if (field.startsWith('$') || field.includes('.')) throw new Error(`simulated MongoDB: unsupported filter key ${field}`);
    return matchesValue(doc[field], condition, Object.prototype.hasOwnProperty.call(doc, field));
  });
}

/** BSON's order for the values stored here: missing and null first, then numbers, then strings. */
function compareBson(x: unknown, y: unknown): number {
  const rank = (v: unknown): number => (v === undefined || v === null ? 0 : typeof v === 'number' ? 1 : typeof v === 'string' ? 2 : 3);
  if (rank(x) !== rank(y)) return rank(x) - rank(y);
  if (rank(x) === 0 || x === y) return 0;
  return (x as number | string) < (y as number | string) ? -1 : 1;
}

function sortDocs(docs: Doc[], sort: Record<string, 1 | -1> | undefined): Doc[] {
  if (sort === undefined) return docs;
  const clauses = Object.entries(sort);
  return docs.sort((a, b) => {
    for (const [field, direction] of clauses) {
      const order = compareBson(a[field], b[field]);
      if (order !== 0) return order * direction;
    }
    return 0;
  });
}

/** A find's projection: inclusion (`_id` unless excluded, and the fields named 1) or exclusion (all but the fields named 0). */
function project(doc: Doc, projection: Record<string, unknown> | undefined): Doc {
  if (projection === undefined || Object.keys(projection).length === 0) return doc;
  const entries = Object.entries(projection);
  const including = entries.some(([field, on]) => field !== '_id' && on !== 0 && on !== false);
  if (!including) {
    const out = { ...doc };
    for (const [field] of entries) delete out[field];
    return out;
  }
  const out: Doc = {};
  if (projection._id !== 0 && projection._id !== false && '_id' in doc) out._id = doc._id;
  for (const [field, on] of entries) if (field !== '_id' && on !== 0 && on !== false && field in doc) out[field] = doc[field];
  return out;
}

/** An update document's effect on `doc` (a new object; `doc` untouched), as MongoDB applies $set, $inc and $unset. */
function applyUpdate(doc: Doc, update: Record<string, unknown>): Doc {
  const operators = Object.keys(update);
  if (operators.length === 0 || operators.some((key) => !['$set', '$inc', '$unset'].includes(key))) throw new Error(`simulated MongoDB: unsupported update ${operators.join(',')}`);
  const seen = new Set<string>();
  for (const operator of operators) {
    for (const field of Object.keys(update[operator] as Record<string, unknown>)) {
      if (field.includes('.') || field.startsWith('$')) throw new Error(`simulated MongoDB: unsupported update path ${field}`);
      if (field === '_id') throw new MongoServerError(`Performing an update on the path '_id' would modify the immutable field '_id'`, IMMUTABLE_FIELD);
      if (seen.has(field)) throw new MongoServerError(`Updating the path '${field}' would create a conflict at '${field}'`, CONFLICTING_UPDATE_OPERATORS);
      seen.add(field);
    }
  }
  const after: Doc = { ...doc };
  for (const [field, value] of Object.entries((update.$set ?? {}) as Record<string, unknown>)) after[field] = copy(value);
  for (const [field, by] of Object.entries((update.$inc ?? {}) as Record<string, unknown>)) {
    const current = after[field];
    if (current !== undefined && typeof current !== 'number') throw new MongoServerError(`Cannot apply $inc to a value of non-numeric type. {_id: ${JSON.stringify(doc._id)}} has the field '${field}' of non-numeric type ${current === null ? 'null' : typeof current}`, TYPE_MISMATCH);
    if (typeof by !== 'number') throw new MongoServerError(`Cannot increment with non-numeric argument: {${field}: ${JSON.stringify(by)}}`, TYPE_MISMATCH);
    after[field] = (current ?? 0) + by;
  }
  for (const field of Object.keys((update.$unset ?? {}) as Record<string, unknown>)) delete after[field];
  return after;
}

/** A replaceOne's document in place of `doc`: the replacement with `doc`'s `_id` (which it may not change). */
function applyReplacement(doc: Doc, replacement: Record<string, unknown>): Doc {
  if (Object.keys(replacement).some((key) => key.startsWith('$'))) throw new Error('simulated MongoDB: a replacement document may not contain update operators');
  if ('_id' in replacement && !same(replacement._id, doc._id)) throw new MongoServerError(`After applying the update, the (immutable) field '_id' was found to have been altered`, IMMUTABLE_FIELD);
  return { _id: doc._id, ...copy(replacement) };
}

/** Short words for the hook's hidden fields in trace labels. */
const SHORT: Record<string, string> = { [LOCK_FIELD]: 'lock', [LOCK_UNTIL_FIELD]: 'until', [VERSION_FIELD]: 'v', [STATE_FIELD]: 'state', [WRITE_FIELD]: 'nonce', [FENCE_FIELD]: 'fence' };

/** A filter's guard on the record fields, for labels: `@v3 lock=tx.1 state≠reserved`. */
function describeGuard(filter: Filter): string {
  const parts: string[] = [];
  for (const [field, condition] of Object.entries(filter)) {
    if (field === '_id') continue;
    const name = SHORT[field] ?? field;
    if (field === VERSION_FIELD) parts.push(`@v${typeof condition === 'number' ? condition : '0'}`);
    else if (condition === null) parts.push(`${name}=none`);
    else if (typeof condition !== 'object') parts.push(`${name}=${String(condition)}`);
    else parts.push(`${name}${Object.entries(condition as Record<string, unknown>).map(([op, v]) => `${op}${JSON.stringify(v)}`).join('')}`);
  }
  return parts.join(' ');
}

/** An update's effect, for labels: `set lock=tx.2 v=4 unset lock,until inc v` (app fields by name; the lease and nonce without values). */
function describeUpdate(update: Record<string, unknown>): string {
  const parts: string[] = [];
  const set = Object.entries((update.$set ?? {}) as Record<string, unknown>).map(([field, value]) => (field === LOCK_UNTIL_FIELD || field === WRITE_FIELD ? SHORT[field] : `${SHORT[field] ?? field}=${typeof value === 'object' ? JSON.stringify(value) : String(value)}`));
  if (set.length > 0) parts.push(`set ${set.join(' ')}`);
  const inc = Object.keys((update.$inc ?? {}) as Record<string, unknown>).map((field) => SHORT[field] ?? field);
  if (inc.length > 0) parts.push(`inc ${inc.join(',')}`);
  const unset = Object.keys((update.$unset ?? {}) as Record<string, unknown>).map((field) => SHORT[field] ?? field);
  if (unset.length > 0) parts.push(`unset ${unset.join(',')}`);
  return parts.join(' ');
}

/** The transaction ids a filter's or an update's lock tokens name (for the trace's filter). */
function tokenTxIds(...parts: unknown[]): string[] {
  const ids = new Set<string>();
  const visit = (value: unknown): void => {
    if (value === null || typeof value !== 'object') return;
    for (const [field, inner] of Object.entries(value as Record<string, unknown>)) {
      if (field === LOCK_FIELD && typeof inner === 'string') ids.add(parseToken(inner).txId);
      else visit(inner);
    }
  };
  for (const part of parts) visit(part);
  return [...ids];
}

interface Cursor extends AsyncIterable<Record<string, unknown>> {
  toArray(): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

type BulkOperation = { updateOne: { filter: Filter; update: Record<string, unknown> } } | { replaceOne: { filter: Filter; replacement: Record<string, unknown> } } | { insertOne: { document: Record<string, unknown> } };

class SimCollection {
  private readonly app: boolean;
  /** An app collection of a v3 world: its documents carry records (record events; multi-document writes step by step). */
  private readonly records: boolean;

  constructor(private readonly name: string, private readonly db: SimDatabase, private readonly transport: Transport, records: boolean, private readonly uniques: UniqueIndex[]) {
    this.app = name !== LOG_IDENTITY && name !== LOCK_IDENTITY;
    this.records = records && this.app;
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

  /** The ids a filter names by `_id` (as an `_id` index scan meets them: ascending), or null (a collection scan). */
  private idsOf(filter: Filter): string[] | null {
    const id = filter._id;
    if (typeof id === 'string') return [id];
    const list = (id as { $in?: unknown } | undefined)?.$in;
    return Array.isArray(list) ? [...new Set(list.map(String))].sort() : null;
  }

  /** The documents a multi-document write visits, in order: fixed when it lands; each one's filter is judged at its own step. */
  private candidates(filter: Filter): string[] {
    return this.idsOf(filter) ?? [...this.docs.keys()];
  }

  /** A multi-document request: step by step on a v3 world's app collections, else one step. */
  private many<T>(label: string, refs: readonly string[], plan: () => Stepwise<T>): Promise<T> {
    return stepwise(this.transport, this.records, label, refs, plan);
  }

  insertOne(doc: Record<string, unknown>): Promise<unknown> {
    const id = String(doc._id);
    const fenced = this.app && typeof doc[FENCE_FIELD] === 'string';
    return this.transport.call(`${this.name}.insertOne(${id}${fenced ? ` ${String(doc[FENCE_FIELD])}` : ''})`, [this.ref(id), ...(fenced ? [parseFenceToken(String(doc[FENCE_FIELD])).txId] : [])], () => {
      if (this.docs.has(id)) throw new MongoServerError(`E11000 duplicate key error collection: sim.${this.name} index: _id_ dup key: { _id: "${id}" }`, DUPLICATE_KEY);
      this.write(id, null, copy(doc), 'insert');
      return { acknowledged: true, insertedId: id };
    });
  }

  insertMany(docs: Record<string, unknown>[], options: { ordered: boolean }): Promise<unknown> {
    const owner = this.app ? tokenTxIds(...docs) : [String(docs[0]?.owner ?? '')];
    const label = this.app
      ? `${this.name}.insertMany(${options.ordered ? 'ordered' : 'unordered'} ${docs.map((d) => `${String(d._id)}${d[STATE_FIELD] === undefined ? '' : ` ${String(d[STATE_FIELD])}`}`).join(', ')}${typeof docs[0]?.[LOCK_FIELD] === 'string' ? ` held by ${docs[0][LOCK_FIELD]}` : ''})`
      : `${this.name}.insertMany(${docs.map((d) => String(d._id)).join(',')} by ${String(docs[0]?.owner ?? '')} e${String(docs[0]?.epoch ?? '')})`;
    return this.many(label, [...docs.map((d) => this.ref(d._id)), ...owner], () => {
      const writeErrors: WriteError[] = [];
      const inserted: Doc[] = [];
      const steps = docs.map((doc, index) => () => {
        if (options.ordered && writeErrors.length > 0) return;
        const id = String(doc._id);
        if (this.docs.has(id)) {
          writeErrors.push({ index, code: DUPLICATE_KEY, errmsg: `E11000 duplicate key error collection: sim.${this.name} index: _id_ dup key: { _id: "${id}" }` });
          return;
        }
        const stored = copy(doc);
        try {
          this.write(id, null, stored, 'insert');
        } catch (err) {
          if (!(err instanceof MongoServerError)) throw err;
          writeErrors.push({ index, code: err.code, errmsg: err.message });
          return;
        }
        inserted.push(copy(stored));
      });
      return {
        steps,
        result: () => {
          if (this.name === LOCK_IDENTITY && inserted.length > 0) this.db.emit({ kind: 'locks', inserted, deleted: [] });
          if (writeErrors.length > 0) throw new MongoBulkWriteError(writeErrors, { insertedCount: inserted.length, matchedCount: 0, modifiedCount: 0, deletedCount: 0, upsertedCount: 0 });
          return { acknowledged: true, insertedCount: inserted.length, insertedIds: Object.fromEntries(docs.map((doc, i) => [i, doc._id])) };
        },
      };
    });
  }

  findOne(filter: Filter): Promise<Record<string, unknown> | null> {
    return this.transport.call(`${this.name}.findOne(${this.refsOf(filter).join(',')})`, this.refsOf(filter), () => {
      for (const doc of this.docs.values()) if (matchesFilter(doc, filter)) return copy(doc);
      return null;
    });
  }

  find(filter: Filter, options: Record<string, unknown> = {}): Cursor {
    const guard = this.app ? describeGuard(filter) : '';
    const label = `${this.name}.find(${this.refsOf(filter).join(',')}${guard === '' ? '' : ` ${guard}`}${options.projection === undefined ? '' : ` only ${Object.keys(options.projection as object).map((f) => SHORT[f] ?? f).join(',')}`})`;
    // A find is no snapshot across documents (MongoDB yields during a scan): on a v3 world's
    // collections each document is read at a step of its own, then the matches sorted and cut.
    const run = (): Promise<Record<string, unknown>[]> =>
      this.many(label, [...this.refsOf(filter), ...tokenTxIds(filter)], () => {
        const seen: Doc[] = [];
        const steps = (this.records ? this.candidates(filter) : [...this.docs.keys()]).map((id) => () => {
          const doc = this.docs.get(id);
          if (doc !== undefined && matchesFilter(doc, filter)) seen.push(copy(doc));
        });
        return {
          steps,
          result: () => {
            const found = sortDocs(seen, options.sort as Record<string, 1 | -1> | undefined);
            const limited = typeof options.limit === 'number' && options.limit > 0 ? found.slice(0, options.limit) : found;
            return limited.map((doc) => project(doc, options.projection as Record<string, unknown> | undefined));
          },
        };
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

  /**
   * The operations in order, each one atomic step on one document (on a v3 world's collections, a
   * step of its own: see `many`). Ordered: the first write error stops the rest; unordered: every
   * operation is tried. Any write error: a MongoBulkWriteError with every error and the counts.
   */
  bulkWrite(operations: Record<string, unknown>[], options: { ordered: boolean }): Promise<BulkCounts & { ok: number }> {
    const ops = operations as BulkOperation[];
    const label = `${this.name}.bulkWrite(${options.ordered ? 'ordered' : 'unordered'} ${ops.map((op) => this.describeOperation(op)).join('; ')})`;
    const refs = [...new Set(ops.flatMap((op) => {
      const filter = 'updateOne' in op ? op.updateOne.filter : 'replaceOne' in op ? op.replaceOne.filter : op.insertOne.document;
      return [this.ref(filter._id), ...tokenTxIds(op)];
    }))];
    return this.many(label, refs, () => {
      const counts: BulkCounts = { insertedCount: 0, matchedCount: 0, modifiedCount: 0, deletedCount: 0, upsertedCount: 0 };
      const writeErrors: WriteError[] = [];
      const steps = ops.map((op, index) => () => {
        if (options.ordered && writeErrors.length > 0) return;
        try {
          this.bulkOperation(op, counts);
        } catch (err) {
          if (!(err instanceof MongoServerError)) throw err;
          writeErrors.push({ index, code: err.code, errmsg: err.message });
        }
      });
      return {
        steps,
        result: () => {
          if (writeErrors.length > 0) throw new MongoBulkWriteError(writeErrors, counts);
          return { ok: 1, ...counts };
        },
      };
    });
  }

  private describeOperation(op: BulkOperation): string {
    if ('updateOne' in op) return `update ${String(op.updateOne.filter._id)} ${describeGuard(op.updateOne.filter)}: ${describeUpdate(op.updateOne.update)}`;
    if ('replaceOne' in op) {
      const { filter, replacement } = op.replaceOne;
      const state = replacement[STATE_FIELD];
      return `replace ${String(filter._id)} ${describeGuard(filter)}: ${typeof state === 'string' ? state : 'live'} v${String(replacement[VERSION_FIELD])}`;
    }
    if ('insertOne' in op) return `insert ${String(op.insertOne.document._id)}`;
    throw new Error(`simulated MongoDB: unsupported bulk operation ${Object.keys(op).join(',')}`);
  }

  /** One bulk operation, applied now; a MongoServerError is its write error. */
  private bulkOperation(op: BulkOperation, counts: BulkCounts): void {
    if ('insertOne' in op) {
      const id = String(op.insertOne.document._id);
      if (this.docs.has(id)) throw new MongoServerError(`E11000 duplicate key error collection: sim.${this.name} index: _id_ dup key: { _id: "${id}" }`, DUPLICATE_KEY);
      this.write(id, null, copy(op.insertOne.document), 'insert');
      counts.insertedCount++;
      return;
    }
    const filter = 'updateOne' in op ? op.updateOne.filter : 'replaceOne' in op ? op.replaceOne.filter : null;
    if (filter === null) throw new Error(`simulated MongoDB: unsupported bulk operation ${Object.keys(op).join(',')}`);
    for (const id of this.candidates(filter)) {
      const doc = this.docs.get(id);
      if (doc === undefined || !matchesFilter(doc, filter)) continue;
      counts.matchedCount++;
      const after = 'updateOne' in op ? applyUpdate(doc, op.updateOne.update) : applyReplacement(doc, op.replaceOne.replacement);
      if (!jsonEqual(after, doc)) {
        counts.modifiedCount++;
        this.write(id, doc, after, 'patch');
      }
      return;
    }
  }

  /** One document, found, updated and answered in one atomic step (driver 6: the document, or null when nothing matched). */
  findOneAndUpdate(filter: Filter, update: Record<string, unknown>, options: { returnDocument?: 'before' | 'after' } = {}): Promise<Record<string, unknown> | null> {
    const label = `${this.name}.findOneAndUpdate(${this.refsOf(filter).join(',')} ${describeGuard(filter)}: ${describeUpdate(update)})`;
    return this.transport.call(label, [...this.refsOf(filter), ...tokenTxIds(filter, update)], () => {
      for (const id of this.candidates(filter)) {
        const doc = this.docs.get(id);
        if (doc === undefined || !matchesFilter(doc, filter)) continue;
        const after = applyUpdate(doc, update);
        if (!jsonEqual(after, doc)) this.write(id, doc, after, 'patch');
        return copy(options.returnDocument === 'after' ? after : doc);
      }
      return null;
    });
  }

  updateOne(filter: Filter, update: Record<string, unknown>): Promise<{ matchedCount: number }> {
    const set = (update.$set ?? {}) as Record<string, unknown>;
    const fenced = this.app && typeof set[FENCE_FIELD] === 'string';
    const label = this.records
      ? `${this.name}.updateOne(${this.refsOf(filter).join(',')} ${describeGuard(filter)}: ${describeUpdate(update)})`
      : `${this.name}.updateOne(${this.refsOf(filter).join(',')}${set.state === undefined ? '' : ` ${String(set.state)}`}${this.app ? ` ${String(set[FENCE_FIELD])}` : ''})`;
    return this.transport.call(label, [...this.refsOf(filter), ...(fenced ? [parseFenceToken(set[FENCE_FIELD] as string).txId] : []), ...tokenTxIds(filter, update)], () => {
      for (const id of this.candidates(filter)) {
        const doc = this.docs.get(id);
        if (doc === undefined || !matchesFilter(doc, filter)) continue;
        const after = applyUpdate(doc, update);
        this.write(id, doc, after, 'patch');
        return { acknowledged: true, matchedCount: 1, modifiedCount: jsonEqual(after, doc) ? 0 : 1, upsertedCount: 0, upsertedId: null };
      }
      return { acknowledged: true, matchedCount: 0, modifiedCount: 0, upsertedCount: 0, upsertedId: null };
    });
  }

  /** Each candidate document in turn, each judged by the filter and updated in one atomic step (MongoDB: per document, not across them). */
  updateMany(filter: Filter, update: Record<string, unknown>): Promise<unknown> {
    const label = this.records ? `${this.name}.updateMany(${this.refsOf(filter).join(',')} ${describeGuard(filter)}: ${describeUpdate(update)})` : `${this.name}.updateMany(${this.refsOf(filter).join(',')})`;
    return this.many(label, [...this.refsOf(filter), ...tokenTxIds(filter, update)], () => {
      let matched = 0;
      let modified = 0;
      const steps = this.candidates(filter).map((id) => () => {
        const doc = this.docs.get(id);
        if (doc === undefined || !matchesFilter(doc, filter)) return;
        matched++;
        const after = applyUpdate(doc, update);
        if (jsonEqual(after, doc)) return;
        modified++;
        // v2's updateMany (lock renewals, epoch moves) announced nothing: it still does not.
        if (this.records) this.write(id, doc, after, 'patch');
        else {
          this.checkUnique(id, after);
          this.docs.set(id, after);
        }
      });
      return { steps, result: () => ({ acknowledged: true, matchedCount: matched, modifiedCount: modified, upsertedCount: 0, upsertedId: null }) };
    });
  }

  deleteOne(filter: Filter): Promise<{ deletedCount: number }> {
    return this.transport.call(`${this.name}.deleteOne(${this.refsOf(filter).join(',')})`, this.refsOf(filter), () => {
      for (const [id, doc] of this.docs) {
        if (!matchesFilter(doc, filter)) continue;
        this.docs.delete(id);
        this.recordRemoved(id, doc);
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
        this.recordRemoved(id, doc);
        deleted.push(copy(doc));
      }
      if (this.name === LOCK_IDENTITY && deleted.length > 0) this.db.emit({ kind: 'locks', inserted: [], deleted });
      return { deletedCount: deleted.length };
    });
  }

  /** MongoDB's index name (keys and directions); a unique one is enforced from then on (sparse: documents missing every key are left out). */
  async createIndex(spec: Record<string, 1 | -1>, options: Record<string, unknown> = {}): Promise<string> {
    const name = Object.entries(spec).map(([field, direction]) => `${field}_${direction}`).join('_');
    if (options.unique === true && !this.uniques.some((index) => index.name === name)) this.uniques.push({ name, fields: Object.keys(spec), sparse: options.sparse === true });
    return name;
  }

  /** A unique index's duplicate key error, if `doc` stored as `id` would collide with another document (a missing key indexes as null). */
  private checkUnique(id: string, doc: Doc): void {
    for (const index of this.uniques) {
      if (index.sparse && index.fields.every((field) => !(field in doc))) continue;
      const key = index.fields.map((field) => doc[field] ?? null);
      for (const [otherId, other] of this.docs) {
        if (otherId === id || (index.sparse && index.fields.every((field) => !(field in other)))) continue;
        if (index.fields.every((field, i) => jsonEqual(other[field] ?? null, key[i]))) {
          throw new MongoServerError(`E11000 duplicate key error collection: sim.${this.name} index: ${index.name} dup key: { ${index.fields.map((field, i) => `${field}: ${JSON.stringify(key[i])}`).join(', ')} }`, DUPLICATE_KEY);
        }
      }
    }
  }

  /** Stores an accepted write and tells the checkers what it was: a log change, a fenced document write, a record change. */
  private write(id: string, before: Doc | null, after: Doc, action: 'insert' | 'patch'): void {
    this.checkUnique(id, after);
    this.docs.set(id, after);
    if (this.name === LOG_IDENTITY) {
      this.db.emit({ kind: 'log', id, before: before === null ? null : copy(before), after: copy(after) });
      return;
    }
    if (!this.app) return;
    if (this.records) this.recordChanged(id, before, after);
    const token = after[FENCE_FIELD];
    if (typeof token !== 'string') return;
    this.db.emit({ kind: 'document', table: this.name, id, action, ...parseFenceToken(token) });
  }

  /** A record change, as SimulatedRecords announces one: the row as `id` and its fields, the nonce left out (bookkeeping of MongoRecords' own, no part of the record). */
  private recordChanged(id: string, before: Doc | null, after: Doc): void {
    const rowOf = (doc: Doc): Doc => {
      const { _id: _key, [WRITE_FIELD]: _nonce, ...rest } = copy(doc);
      return { id, ...rest };
    };
    const next = rowOf(after);
    const previous = before === null ? null : rowOf(before);
    if (previous !== null) {
      // A change of the lease alone (renew) is no change of the record (SimulatedRecords.renew
      // announces none either), nor one of the claim markers alone (claimUnique marks a held
      // record and its refusal unmarks it, the version staying: SimulatedRecords.claimUnique neither).
      const { [LOCK_UNTIL_FIELD]: _was, [CLAIM_FIELD]: _marked, ...restBefore } = previous;
      const { [LOCK_UNTIL_FIELD]: _is, [CLAIM_FIELD]: _marks, ...restAfter } = next;
      if (jsonEqual(restBefore, restAfter)) return;
    }
    this.db.emit({ kind: 'record', table: this.name, id, before: previous, after: next });
  }

  /** v3 never deletes an app document (a tombstone keeps its id): if one is deleted, record-rules is told it became absent, version 0. */
  private recordRemoved(id: string, before: Doc): void {
    if (!this.records) return;
    const { _id: _key, [WRITE_FIELD]: _nonce, ...rest } = copy(before);
    this.db.emit({ kind: 'record', table: this.name, id, before: { id, ...rest }, after: { id, [STATE_FIELD]: 'absent' } });
  }

  /** A fenced delete names the writer's own token in the last clause of its `$or` (lib/store/mongo/store.ts acceptedBy). */
  private observeRemove(id: string, filter: Filter, removedFence: unknown): void {
    if (!this.app) return;
    const clauses = filter.$or as Filter[] | undefined;
    const token = clauses?.[clauses.length - 1]?.[FENCE_FIELD];
    if (typeof token !== 'string') return;
    this.db.emit({ kind: 'document', table: this.name, id, action: 'remove', ...parseFenceToken(token), ...(typeof removedFence === 'string' ? { removedFence } : {}) });
  }
}

interface UniqueIndex {
  name: string;
  fields: string[];
  sparse: boolean;
}

export interface SimMongoOptions {
  /** A log protocol v3 world: the app's documents carry records (record events; multi-document writes step by step). */
  records?: boolean;
}

export class SimMongoDb implements MongoDb {
  private readonly collections = new Map<string, SimCollection>();
  /** Unique indexes, by collection: kept by the database, whichever collection object created them. */
  private readonly uniques = new Map<string, UniqueIndex[]>();

  constructor(private readonly db: SimDatabase, private readonly transport: Transport, private readonly serverNow: () => number, private readonly options: SimMongoOptions = {}) {}

  collection(name: string): SimCollection {
    let collection = this.collections.get(name);
    if (collection === undefined) {
      const uniques = this.uniques.get(name) ?? [];
      this.uniques.set(name, uniques);
      collection = new SimCollection(name, this.db, this.transport, this.options.records === true, uniques);
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
