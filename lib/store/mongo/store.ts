/**
 * The AtomicStore on sails-mongo: each compare-and-set one conditional update of one document
 * (MongoDB's single-document atomicity), fences in the documents themselves; a committed view is
 * read twice and taken when both reads agree (readView).
 */
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { TransactError } from '../../core/errors';
import type { CreatedIndex, IndexSpec } from '../contract';
import { uniqueKeys } from '../../core/model-info';
import { documentKey } from '../../core/operations';
import type { Where } from '../../query/criteria';
import { mergeCandidates, type SumCandidates, type SumCandidatesRequest } from '../../query/sums';
import { heldCount } from '../../query/view';
import { type Fence, type LockDocument, type LogDocument, type LogGuard, type LogPatch, type TxState } from '../../core/types';
import { columnOf, type WaterlineModel } from '../../core/waterline';
import { type AtomicStore, type FencedWrite, fencedOut, fenceToken, parseFenceToken, type StoreView, toLockDocument, toLogDocument, type ViewRequest, waterlineSum } from '../contract';
import type { ModelResolver } from '../waterline-writes';

/** A driver cursor: read whole, or streamed (a batch at a time) and closed. */
interface Cursor extends AsyncIterable<Record<string, unknown>> {
  toArray(): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

/** The few mongodb driver calls used here, typed structurally (the driver is sails-mongo's). */
export interface Collection {
  insertOne(doc: Record<string, unknown>): Promise<unknown>;
  insertMany(docs: Record<string, unknown>[], options: { ordered: boolean }): Promise<unknown>;
  findOne(filter: Record<string, unknown>): Promise<Record<string, unknown> | null>;
  find(filter: Record<string, unknown>, options?: Record<string, unknown>): Cursor;
  aggregate(pipeline: Record<string, unknown>[], options?: Record<string, unknown>): Cursor;
  updateOne(filter: Record<string, unknown>, update: Record<string, unknown>): Promise<{ matchedCount: number }>;
  /** The driver's (6.x: the document, or null when nothing matched). */
  findOneAndUpdate(filter: Record<string, unknown>, update: Record<string, unknown>, options: { returnDocument: 'after' }): Promise<Record<string, unknown> | null>;
  deleteOne(filter: Record<string, unknown>): Promise<{ deletedCount: number }>;
  updateMany(filter: Record<string, unknown>, update: Record<string, unknown>): Promise<unknown>;
  deleteMany(filter: Record<string, unknown>): Promise<unknown>;
  bulkWrite(operations: Record<string, unknown>[], options: { ordered: boolean }): Promise<{ matchedCount: number }>;
  createIndex(spec: Record<string, 1 | -1>, options?: Record<string, unknown>): Promise<string>;
}
export interface MongoDb {
  collection(name: string): Collection;
  command(command: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/**
 * The field that holds a document's fence (`txId.epoch` of its last transactional writer).
 * sails-mongo returns it with the document (it projects only on an explicit `select`): the
 * engine strips it from the images it reads, and reads the fence from there.
 */
export const FENCE_FIELD = '_transactFence';
/**
 * The field that numbers a document's last transactional write within its fence token: each
 * write of a MongoStore takes the next number of that store (one process writes for a fence
 * token: its epoch's owner). With it a write can refuse the later writes of its own token — a
 * late delivery of an earlier write never puts an older image back. Nobody reads it but the
 * write filter: it is stripped from every record sails-mongo returns, the engine's own included.
 */
export const WRITE_FIELD = '_transactWrite';

/**
 * Log protocol v3's hidden fields, in the documents themselves (docs/protocol-v3.md, "The
 * records"; lib/store/mongo/records.ts): the holder's token and lease, the record's version, and
 * its state (absent: live; 'reserved': a create's stub; 'destroyed': a tombstone).
 */
export const LOCK_FIELD = '_transactLock';
export const LOCK_UNTIL_FIELD = '_transactLockUntil';
export const VERSION_FIELD = '_transactVersion';
export const STATE_FIELD = '_transactState';
/** R9 on MongoDB (lib/store/mongo/records.ts claimUnique): a held document's markers of the unique values its holder claimed. */
export const CLAIM_FIELD = '_transactClaim';
export const RECORD_FIELDS: readonly string[] = [LOCK_FIELD, LOCK_UNTIL_FIELD, VERSION_FIELD, STATE_FIELD, CLAIM_FIELD];
/** Every field the hook keeps in an app's documents: never part of an image, never shown to the app (the engine's v2 reads keep the fence). */
export const HIDDEN_FIELDS: readonly string[] = [...RECORD_FIELDS, FENCE_FIELD, WRITE_FIELD];

let driverObjectId: (new (hex: string) => unknown) | undefined;

/**
 * The driver's ObjectId, for models that keep ObjectId primary keys (no `dontUseObjectIds`).
 * The hook does not depend on the driver: it takes the one the app's sails-mongo loads, so that
 * the ObjectIds it builds are the class that driver serializes.
 */
function objectIdOf(hex: string): unknown {
  if (driverObjectId === undefined) {
    const adapter = require.resolve('sails-mongo', { paths: [process.cwd(), __dirname] });
    ({ ObjectId: driverObjectId } = createRequire(adapter)('mongodb') as { ObjectId: new (hex: string) => unknown });
  }
  return new driverObjectId(hex);
}

/** A document's `_id` as sails-mongo stores it. */
export function storedId(model: WaterlineModel, id: string): unknown {
  return model.dontUseObjectIds === true ? id : objectIdOf(id);
}

/** Attribute values as sails-mongo stores them: under their column names, without the primary key. */
export function toColumns(model: WaterlineModel, values: Record<string, unknown>): Record<string, unknown> {
  const stored: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(values)) {
    if (name === model.primaryKey) continue;
    stored[columnOf(model.attributes, name)] = value;
  }
  return stored;
}

/**
 * A stored document as Waterline returns it (toColumns' inverse): the attributes under their
 * names, `_id` as the primary key (an ObjectId as its hex string). Fields no attribute maps keep
 * their names: the caller strips the hook's own.
 */
export function fromColumns(model: WaterlineModel, doc: Record<string, unknown>): Record<string, unknown> {
  const names = new Map<string, string>();
  for (const name of Object.keys(model.attributes)) if (name !== model.primaryKey) names.set(columnOf(model.attributes, name), name);
  const image: Record<string, unknown> = {};
  for (const [column, value] of Object.entries(doc)) {
    if (column === '_id') image[model.primaryKey] = String(value);
    else image[names.get(column) ?? column] = value;
  }
  return image;
}

/** sails-mongo's adapter object, as Waterline calls it for every read (find, findOne, populate). */
interface MongoAdapter {
  find(datastore: string, query: { meta?: Record<string, unknown> }, done: (err: unknown, records?: Record<string, unknown>[]) => void): void;
}

const HIDING = Symbol.for('sails-hook-transact.hidesFence');

/**
 * Wraps the adapter's find so that the app never sees the fence field: only the engine's own reads
 * (meta `transactFence: true`) keep it. Once per adapter object.
 */
function hideFenceField(adapter: MongoAdapter): void {
  const marked = adapter as MongoAdapter & { [HIDING]?: true };
  if (marked[HIDING] === true) return;
  const find = adapter.find.bind(adapter);
  adapter.find = (datastore, query, done) => {
    const keep = query.meta?.transactFence === true;
    find(datastore, query, (err, records) => {
      if (err === null || err === undefined) {
        for (const record of records ?? []) {
          delete record[WRITE_FIELD];
          if (!keep) delete record[FENCE_FIELD];
        }
      }
      done(err, records);
    });
  };
  marked[HIDING] = true;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export const DUPLICATE_KEY = 11000;
/** Documents per cursor batch in sum checks: what one holds in memory at once. */
const SUM_BATCH = 1000;

/**
 * createIndex per spec: idempotent for the same keys and options. MongoDB names an index by its
 * keys (the declared PostgreSQL name is not used: an existing index of the same keys under
 * another name would be refused). An elements index is a plain index: on an array field MongoDB
 * makes it multikey, one entry per element.
 */
export async function createMongoIndexes(db: MongoDb, specs: readonly IndexSpec[]): Promise<CreatedIndex[]> {
  const created: CreatedIndex[] = [];
  for (const spec of specs) {
    // MongoDB's indexes cannot answer an unanchored regular expression: substring search scans.
    if (spec.trigram) {
      created.push({ model: spec.model, name: spec.name, adapter: 'mongo', created: false });
      continue;
    }
    const keys: Record<string, 1 | -1> = {};
    for (const { column, descending } of spec.columns) keys[column] = descending ? -1 : 1;
    const name = await db.collection(spec.table).createIndex(keys, spec.unique ? { unique: true } : {});
    created.push({ model: spec.model, name: String(name), adapter: 'mongo', created: true });
  }
  return created;
}

/**
 * A write a unique index refused: MongoDB's duplicate key (11000). FerretDB 1.24 answers an
 * insert so too, but an update with InternalError (1) carrying SQLite's "UNIQUE constraint failed"
 * (measured): recognised too, so an update onto a taken value is `already_exists` there as well.
 */
export function isDuplicateKey(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code, message } = err as { code?: unknown; message?: unknown };
  return code === DUPLICATE_KEY || (code === 1 && typeof message === 'string' && message.includes('UNIQUE constraint failed'));
}

/**
 * Whether a duplicate key error is `_id`'s: as MongoDB's `keyPattern` says, or, where the server
 * names no index (FerretDB), whether a document with this id is there.
 */
async function duplicateOnId(documents: Collection, _id: unknown, err: unknown): Promise<boolean> {
  const pattern = (err as { keyPattern?: unknown }).keyPattern;
  if (typeof pattern === 'object' && pattern !== null) return Object.hasOwn(pattern, '_id');
  return (await documents.findOne({ _id })) !== null;
}

/**
 * `already_exists` for an insert (or an update) refused by a unique index other than `_id`, naming the unique
 * attributes taken, so that Waterline's API can report it as Waterline does (`E_UNIQUE`,
 * attrNames): the index MongoDB names (`keyPattern`), or, where the server names none (FerretDB),
 * the model's unique keys another document holds the inserted values of.
 */
async function uniqueValueTaken(documents: Collection, model: WaterlineModel, id: string, values: Record<string, unknown>, err: unknown, writing: 'inserting' | 'updating' = 'inserting'): Promise<TransactError> {
  const pattern = (err as { keyPattern?: unknown }).keyPattern;
  let attributes: string[];
  if (typeof pattern === 'object' && pattern !== null) attributes = Object.keys(fromColumns(model, pattern as Record<string, unknown>));
  else {
    attributes = [];
    for (const key of uniqueKeys(model)) {
      const filter = toColumns(model, Object.fromEntries(key.map((attribute) => [attribute, values[columnOf(model.attributes, attribute)]])));
      if ((await documents.findOne(filter)) !== null) attributes.push(...key);
    }
  }
  return new TransactError('already_exists', `a ${model.identity} with the same ${attributes.length > 0 ? attributes.join(' / ') : 'unique value'} exists already (${writing} ${id})`, { details: { model: model.identity, attributes }, cause: err });
}

/**
 * Indexes (in the batch) of the documents an unordered insertMany refused as duplicate keys, when
 * that is all that went wrong: a bulk write error whose write errors are all duplicate keys and
 * account, with the documents it inserted, for the whole batch. Anything else leaves unknown
 * which documents landed (a network error has no writeErrors; a write-concern error has none
 * either) and is rethrown: no lock may count as acquired on a guess.
 */
export function duplicateIndexes(err: unknown, count: number | null): Set<number> {
  const bulk = err as { writeErrors?: unknown; insertedCount?: unknown; result?: { getWriteConcernError?: () => unknown } };
  const list: unknown[] = Array.isArray(bulk.writeErrors) ? bulk.writeErrors : bulk.writeErrors === undefined || bulk.writeErrors === null ? [] : [bulk.writeErrors];
  if (list.length === 0) throw err;
  const failed = new Set<number>();
  for (const writeError of list as { index?: number; code?: number; err?: { index?: number; code?: number } }[]) {
    const index = writeError.index ?? writeError.err?.index;
    const code = writeError.code ?? writeError.err?.code;
    if (code !== DUPLICATE_KEY || index === undefined) throw err;
    failed.add(index);
  }
  // Inserts only (count given): every document inserted or refused. An update's filter may also just not match.
  if (count !== null && typeof bulk.insertedCount === 'number' && bulk.insertedCount + failed.size !== count) throw err;
  const writeConcernError = bulk.result?.getWriteConcernError?.();
  if (writeConcernError !== undefined && writeConcernError !== null) throw err;
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
  if (guard.epoch !== undefined) filter.epoch = guard.epoch;
  if (guard.stepCount !== undefined) filter.steps = { $size: guard.stepCount };
  return filter;
}

/** Locks `owner` holds at `epoch` or below (a lock written before locks had epochs counts as 0: `$not $gt` matches it). */
function ownedUpTo(owner: string, epoch: number): Record<string, unknown> {
  return { owner, epoch: { $not: { $gt: epoch } } };
}

/**
 * The filter on a document's fence that a write numbered `write` at `fence` passes: the fence the
 * document had before the transaction (`fenceBefore`, null: none), any token of the transaction at
 * an earlier epoch (every number: an earlier owner's writes), or this token from an earlier write
 * only (a document written before write numbers existed counts as earlier: `$not $gte` matches it).
 */
function acceptedBy(fenceBefore: string | null, fence: Fence, write: number): Record<string, unknown> {
  const token = fenceToken(fence);
  const earlier = Array.from({ length: fence.epoch }, (_, epoch) => fenceToken({ txId: fence.txId, epoch }));
  const others = fenceBefore === token ? earlier : [fenceBefore, ...earlier];
  return { $or: [{ [FENCE_FIELD]: { $in: others } }, { [FENCE_FIELD]: token, [WRITE_FIELD]: { $not: { $gte: write } } }] };
}


/** Whether the log's first step on `key` created it (the document did not exist before the transaction). */
function createdBy(log: Pick<LogDocument, 'steps'>, key: string): boolean {
  return log.steps.find((step) => documentKey(step.model, step.id) === key)?.before === null;
}

/** `model:id` of the documents a transaction's steps insert: creates, and destroys (whose undo is an insert). */
function insertedOrRemoved(log: Pick<LogDocument, 'steps'>): ReadonlySet<string> {
  return new Set(log.steps.filter((step) => step.kind === 'create' || step.kind === 'destroy').map((step) => documentKey(step.model, step.id)));
}

/** How many attempts back an archived attempt is looked for (a key reopened more often than this is a client looping). */
const MAX_ARCHIVED_EPOCHS = 64;
/** How often a committed read tries for a stable view before it gives up (`unavailable`). */
const VIEW_ATTEMPTS = 25;
/** Committed transactions stay committed: remembering some saves the first attempt of most reads. */
const COMMITTED_MEMORY = 10_000;

export interface RowsRead {
  rows: Record<string, unknown>[][];
  /** Per request, `model:id` of each row, in order. */
  keys: string[][];
  /** `model:id` → fence owner, for every row that carries a fence. */
  writers: Map<string, string>;
  /** `model:id` → the whole fence token (`txId.epoch`), for every row that carries a fence. */
  fences: Map<string, string>;
}

/** MongoDB (and FerretDB): updateOne with a guarded filter is atomic per document; _id is unique. */
export class MongoStore implements AtomicStore {
  readonly kind = 'mongo' as const;
  readonly multiProcess = true;
  readonly fenceField = FENCE_FIELD;
  private readonly logs: Collection;
  private readonly locks: Collection;
  /** Committed reads: attempts, and why attempts did not stand (for tuning and the report). */
  readonly viewStats = { reads: 0, attempts: 0, logsMoved: 0, rowsChanged: 0, gaveUp: 0, lateInserts: 0 };
  /**
   * Transactions seen committed (a final state), oldest first: known without reading their logs
   * again. Each with the documents it inserted or destroyed (insertedOrRemoved): all a committed
   * read needs of its log.
   */
  private readonly committed = new Map<string, ReadonlySet<string>>();
  /** The number of this store's last document write (WRITE_FIELD): increasing, so later writes of a token refuse earlier ones. */
  private writeNumber = 0;

  constructor(private readonly db: MongoDb, logCollection: string, lockCollection: string, private readonly modelOf: ModelResolver) {
    this.logs = db.collection(logCollection);
    this.locks = db.collection(lockCollection);
  }

  adopt(models: readonly WaterlineModel[]): void {
    for (const model of models) {
      const adapter = (model as { _adapter?: { identity?: unknown } & MongoAdapter })._adapter;
      if (adapter?.identity === 'sails-mongo' && typeof adapter.find === 'function') hideFenceField(adapter);
    }
  }

  async setup(): Promise<void> {}

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
      failed = duplicateIndexes(err, locks.length);
    }
    return new Set(locks.filter((_, index) => !failed.has(index)).map((lock) => lock.id));
  }

  async findLocks(ids: readonly string[]): Promise<LockDocument[]> {
    const docs = await this.locks.find({ _id: { $in: [...ids] } }).toArray();
    return docs.map((doc) => toLockDocument(fromMongo(doc)));
  }

  async renewLocks(owner: string, epoch: number, leaseUntil: number): Promise<void> {
    await this.locks.updateMany(ownedUpTo(owner, epoch), { $set: { leaseUntil } });
  }

  async findExpiredLocks(leaseBefore: number, limit: number, skipPrefix?: string): Promise<LockDocument[]> {
    const filter: Record<string, unknown> = { leaseUntil: { $lt: leaseBefore } };
    if (skipPrefix !== undefined) filter._id = { $not: { $regex: `^${escapeRegex(skipPrefix)}` } };
    const docs = await this.locks.find(filter, { sort: { leaseUntil: 1 }, limit }).toArray();
    return docs.map((doc) => toLockDocument(fromMongo(doc)));
  }

  async deleteLocks(owner: string, epoch: number, ids?: readonly string[], grant?: string): Promise<void> {
    await this.locks.deleteMany({ ...ownedUpTo(owner, epoch), ...(ids === undefined ? {} : { _id: { $in: [...ids] } }), ...(grant === undefined ? {} : { grant }) });
  }

  async serverTime(): Promise<number> {
    const reply = await this.db.command({ hello: 1 });
    const time = reply.localTime;
    if (!(time instanceof Date)) throw new Error('sails-hook-transact: the MongoDB server did not report its time (hello.localTime)');
    return time.getTime();
  }

  async fenceLocks(txId: string, epoch: number): Promise<void> {
    // The documents carry their fences here; the locks follow so that they say who owns them.
    await this.locks.updateMany({ owner: txId, epoch: { $lt: epoch } }, { $set: { epoch } });
  }

  /**
   * Each write filters on the document's fence and sets this writer's token and the write's
   * number (WRITE_FIELD), in one atomic document operation. It accepts what the document carried
   * before this transaction, a token of this transaction at an earlier epoch, or this very token
   * from an EARLIER write (a lower number): once a newer owner wrote a document, an older one's
   * write matches nothing, and a late delivery of a write (a duplicate, a request still in flight
   * when retryingStore re-sent it) matches nothing once the document carries it or a later write
   * of the same token. A refused write whose document carries exactly its token and number had
   * landed (a duplicate whose first delivery did): that is success.
   */
  async writeDocuments(writes: readonly FencedWrite[], fence: Fence): Promise<void> {
    const token = fenceToken(fence);
    for (const { action, fenceBefore } of writes) {
      const model = this.modelOf(action.model);
      const documents = this.db.collection(model.tableName);
      const _id = storedId(model, action.id);
      const write = ++this.writeNumber;
      const stamp = { [FENCE_FIELD]: token, [WRITE_FIELD]: write };
      const guarded = { _id, ...acceptedBy(fenceBefore, fence, write) };
      const landed = async (): Promise<boolean> => {
        const doc = await documents.findOne({ _id });
        return doc !== null && doc[FENCE_FIELD] === token && doc[WRITE_FIELD] === write;
      };
      switch (action.type) {
        case 'insert': {
          const values = { ...toColumns(model, action.values), ...stamp };
          try {
            await documents.insertOne({ _id, ...values });
          } catch (err) {
            if (!isDuplicateKey(err)) throw err;
            // Another unique index's duplicate key: a value taken, not this id (not a retry of ours).
            if (!(await duplicateOnId(documents, _id, err))) throw await uniqueValueTaken(documents, model, action.id, values, err);
            // There already: our own earlier insert (a retry), or a destroy of ours that never landed.
            if ((await documents.updateOne(guarded, { $set: values })).matchedCount !== 1 && !(await landed())) {
              throw fencedOut(fence, `${action.model} ${action.id} was written by another transaction`);
            }
          }
          break;
        }
        case 'patch': {
          const values = { ...toColumns(model, action.values), ...stamp };
          let matched: number;
          try {
            matched = (await documents.updateOne(guarded, { $set: values })).matchedCount;
          } catch (err) {
            // A unique index refused the new value (an update to a value another document holds):
            // nothing was written, and the caller is told so as an insert's would be, typed.
            if (!isDuplicateKey(err)) throw err;
            throw await uniqueValueTaken(documents, model, action.id, values, err, 'updating');
          }
          if (matched !== 1 && !(await landed())) {
            throw fencedOut(fence, `${action.model} ${action.id} was written by another transaction, or is gone`);
          }
          break;
        }
        case 'remove':
          if ((await documents.deleteOne(guarded)).deletedCount !== 1 && (await documents.findOne({ _id })) !== null) {
            throw fencedOut(fence, `${action.model} ${action.id} was written by another transaction`);
          }
          break;
      }
    }
  }

  /**
   * No snapshot across documents here, so: the rows (t0), then the lock holders of the requested
   * models and the logs of those holders and of the rows' writers in ONE query (tL), then the rows
   * again (t1). The read stands when the second rows are the same documents with the same fences
   * as the first (no new writer landed on any of them in [t0, t1]) — documents created meanwhile
   * by a transaction unfinished at tL excepted (see sameRows) — and it is then the committed state
   * as of tL: every row's writer wrote it before t0 and its state is read at tL (a committed one
   * wrote nothing after its commit, so the second rows show its final image); every transaction
   * unfinished at tL that had written a document of these models before t0 held its lock since
   * then, so its log is read too; one that wrote a matching document after t0 changed the rows.
   * Otherwise it reads again, up to VIEW_ATTEMPTS times; under constant writes to the very
   * documents read, it may then give up with `unavailable`.
   */
  async readView(requests: readonly ViewRequest[]): Promise<StoreView> {
    const prefixes = new Set(requests.map((request) => `${request.model}:`));
    const limited = requests.some((request) => request.limit !== undefined);
    this.viewStats.reads++;
    for (let attempt = 0; attempt < VIEW_ATTEMPTS; attempt++) {
      this.viewStats.attempts++;
      // With a limit, the rows must cover every document that may read differently: the locked ones.
      const locked = limited ? (await this.lockHolders(prefixes)).locked : new Map<string, number>();
      const extra = (model: string): number => locked.get(model) ?? 0;
      const first = await this.readRows(requests, extra);
      const { owners } = await this.lockHolders(prefixes);
      // Writers seen committed before this read began are committed at tL too (committed is final):
      // their logs are not read again — a committed writer's document is read as stored.
      const ids = new Set([...owners, ...[...first.writers.values()].filter((id) => !this.committed.has(id))]);
      const logs = await this.logsById(ids);
      for (const log of logs.values()) if (log.state === 'committed') this.remember(log);
      if (limited && requests.some((request) => request.limit !== undefined && heldCount(logs.values(), request.model) > extra(request.model))) {
        this.viewStats.logsMoved++;
        continue;
      }
      // Between the two reads, with the logs: a taker-over committed after the second read would
      // flag a row that was committed at the view's instant (sim seed 696, a reversal's destroy).
      const lateInserts = await this.lateInserts(first.fences, logs);
      const second = await this.readRows(requests, extra);
      // The same rows with the same fences (sameRows) are the same candidates: first's answer holds for second.
      if (sameRows(first, second, logs)) return { rows: second.rows, writers: second.writers, logs, lateInserts };
      this.viewStats.rowsChanged++;
      await sleep(Math.random() * Math.min(20, 2 ** attempt));
    }
    this.viewStats.gaveUp++;
    throw new TransactError('unavailable', `a committed read of ${requests.map((request) => request.model).join(', ')} found no stable view in ${VIEW_ATTEMPTS} attempts: its documents are written continuously`);
  }

  /**
   * Two cursors in key order, merged here: the documents' values (by _id), and the lines' totals
   * from a $group pipeline ($match, $group, $sort: what every MongoDB version supports, and
   * FerretDB). Both stream a batch at a time; the merge stops once the page is full.
   */
  async sumCandidates(request: SumCandidatesRequest): Promise<SumCandidates> {
    const documents = this.modelOf(request.model);
    const lines = this.modelOf(request.lines.model);
    const col = (model: WaterlineModel, attribute: string): string => (attribute === model.primaryKey ? '_id' : columnOf(model.attributes, attribute));
    const field = col(documents, request.field);
    // A v3 stub or tombstone may be proposed (no filter here: FerretDB scans for one); the committed
    // re-check finds no such document and no lines, so it is never reported.
    const docFilter = request.after === null ? {} : { _id: { $gt: storedId(documents, request.after) } };
    const docCursor = this.db.collection(documents.tableName).find(docFilter, { projection: { [field]: 1 }, sort: { _id: 1 }, batchSize: SUM_BATCH });
    const match: Record<string, unknown> = {};
    for (const [attribute, value] of Object.entries(request.lines.where)) match[col(lines, attribute)] = Array.isArray(value) ? { $in: value } : value;
    const by = col(lines, request.lines.by);
    match[by] = request.after === null ? { $ne: null } : { $ne: null, $gt: request.after };
    const sumCursor = this.db.collection(lines.tableName).aggregate(
      [{ $match: match }, { $group: { _id: `$${by}`, total: { $sum: `$${col(lines, request.lines.sum)}` } } }, { $sort: { _id: 1 } }],
      { allowDiskUse: true, batchSize: SUM_BATCH },
    );
    async function* values(cursor: Cursor, value: string): AsyncGenerator<[string, unknown]> {
      try {
        for await (const doc of cursor) yield [String(doc._id), doc[value]];
      } finally {
        await cursor.close();
      }
    }
    return mergeCandidates(values(docCursor, field), values(sumCursor, 'total') as AsyncGenerator<[string, number]>, request.limit);
  }

  sum(model: string, field: string, where: Where): Promise<number> {
    return waterlineSum(this.modelOf(model), field, where);
  }

  private remember(log: LogDocument): void {
    if (this.committed.has(log.id)) return;
    this.committed.set(log.id, insertedOrRemoved(log));
    if (this.committed.size > COMMITTED_MEMORY) this.committed.delete(this.committed.keys().next().value as string);
  }

  /** AtomicStore.findLateInserts: lateInserts with every writer's log read, the writer's own rollback included. */
  async findLateInserts(fences: ReadonlyMap<string, string>): Promise<Set<string>> {
    if (fences.size === 0) return new Set();
    const unknown = new Set([...fences.values()].map((token) => parseFenceToken(token).txId).filter((id) => !this.committed.has(id)));
    const logs = await this.logsById(unknown);
    for (const log of logs.values()) if (log.state === 'committed') this.remember(log);
    return new Set((await this.lateInserts(fences, logs, true)).keys());
  }

  /**
   * Rows put back by a late insert (an insert of an absent document carries no fence to refuse
   * it: MongoDB is atomic per document only). A row fenced W.k is one when
   *  (a) a committed transaction X ≠ W took the document over from W at epoch j ≥ k (X's step on
   *      it records fence W.j) and W inserted or destroyed it (a create, its redo, the undo of a
   *      destroy: the writes that are inserts): nothing of W's at epoch ≤ j may land after that,
   *      and a fenced update could not have — only an insert of the document X had destroyed; or
   *  (b) W's attempt that ran at epoch k was rolled back and created the document. A keyed
   *      transaction reopened since then (its log's epoch is past k) keeps that attempt only as
   *      the archive `W.e`, e the first archived epoch ≥ k (Idempotency.reopen): the reopen
   *      emptied W's steps, so only the archive still says the row is an uncommitted create.
   *      With `current`, also W's current attempt rolled back with a create of it (a committed
   *      read answers that one by view rule 2 already; a read under lock asks here).
   * Candidates only are looked up (rows whose writer created them, or whose fence is older than
   * their writer's log): one query by the logs' `documents` index, one by id for archives.
   * A committed read asks between its two reads of the rows, never after: a taker-over that
   * committed after the view's instant made the row late only later. Under the caller's lock no
   * taker-over commits meanwhile.
   */
  private async lateInserts(fences: ReadonlyMap<string, string>, logs: ReadonlyMap<string, LogDocument>, current = false): Promise<Map<string, string>> {
    const late = new Map<string, string>();
    const takenOver = new Map<string, string>();
    const archived = new Map<string, { token: string; writer: LogDocument }>();
    for (const [key, token] of fences) {
      const { txId, epoch } = parseFenceToken(token);
      const log = logs.get(txId);
      const inserted = log === undefined ? this.committed.get(txId) : log.state === 'committed' || log.state === 'rolled-back' ? insertedOrRemoved(log) : undefined;
      if (inserted?.has(key) === true) takenOver.set(key, token);
      if (log === undefined || log.state === 'committed') continue;
      if (log.epoch > epoch) archived.set(key, { token, writer: log });
      else if (current && log.state === 'rolled-back' && createdBy(log, key)) late.set(key, token);
    }
    if (takenOver.size > 0) {
      const takers = await this.logs.find({ documents: { $in: [...takenOver.keys()] }, state: 'committed' }).toArray();
      for (const taker of takers.map((doc) => toLogDocument(fromMongo(doc)))) {
        for (const step of taker.steps) {
          const key = documentKey(step.model, step.id);
          const token = takenOver.get(key);
          if (token === undefined || typeof step.fence !== 'string') continue;
          const row = parseFenceToken(token);
          const took = parseFenceToken(step.fence);
          if (row.txId !== taker.id && took.txId === row.txId && took.epoch >= row.epoch) late.set(key, token);
        }
      }
    }
    if (archived.size > 0) {
      const ids = new Set<string>();
      for (const { token, writer } of archived.values()) {
        const { epoch } = parseFenceToken(token);
        for (let e = epoch; e < Math.min(writer.epoch, epoch + MAX_ARCHIVED_EPOCHS); e++) ids.add(`${writer.id}.${e}`);
      }
      const archives = await this.logsById(ids);
      for (const [key, { token, writer }] of archived) {
        const { epoch } = parseFenceToken(token);
        let attempt: LogDocument | undefined;
        for (let e = epoch; e < writer.epoch && attempt === undefined; e++) attempt = archives.get(`${writer.id}.${e}`);
        if (attempt === undefined ? current && writer.state === 'rolled-back' && createdBy(writer, key) : attempt.state === 'rolled-back' && createdBy(attempt, key)) late.set(key, token);
      }
    }
    this.viewStats.lateInserts += late.size;
    return late;
  }

  /**
   * Who holds locks on documents of the requested models (every unfinished transaction with steps
   * on them holds one, from before its first write until after its commit or compensation), and
   * how many documents of each model are locked. The lock collection holds only what is locked
   * now: small, read whole.
   */
  private async lockHolders(prefixes: ReadonlySet<string>): Promise<{ owners: Set<string>; locked: Map<string, number> }> {
    const owners = new Set<string>();
    const locked = new Map<string, number>();
    for (const doc of await this.locks.find({}).toArray()) {
      const id = String(doc._id);
      const prefix = id.slice(0, id.indexOf(':') + 1);
      if (!prefixes.has(prefix)) continue;
      owners.add(String(doc.owner));
      locked.set(prefix.slice(0, -1), (locked.get(prefix.slice(0, -1)) ?? 0) + 1);
    }
    return { owners, locked };
  }

  /** Logs by id, in one query (one instant); by _id, which FerretDB does not answer by scanning the whole log. */
  private async logsById(ids: ReadonlySet<string>): Promise<Map<string, LogDocument>> {
    if (ids.size === 0) return new Map();
    const [only] = ids;
    const docs = await this.logs.find({ _id: ids.size === 1 ? only : { $in: [...ids] } }).toArray();
    return new Map(docs.map((doc) => { const log = toLogDocument(fromMongo(doc)); return [log.id, log]; }));
  }

  /** Each request through Waterline (its criteria semantics), keeping the fence field. */
  private async readRows(requests: readonly ViewRequest[], held: (model: string) => number): Promise<RowsRead> {
    const rows: RowsRead['rows'] = [];
    const keys: RowsRead['keys'] = [];
    const writers = new Map<string, string>();
    const fences = new Map<string, string>();
    for (const request of requests) {
      const model = this.modelOf(request.model);
      const extra = request.limit === undefined ? undefined : request.limit + held(request.model);
      const found = await model.find({ where: request.where, sort: request.sort, ...(extra === undefined ? {} : { limit: extra }) }).meta({ transactFence: true });
      for (const row of found) {
        const fence = row[FENCE_FIELD];
        delete row[FENCE_FIELD];
        if (typeof fence !== 'string') continue;
        const key = documentKey(request.model, String(row[model.primaryKey]));
        writers.set(key, parseFenceToken(fence).txId);
        fences.set(key, fence);
      }
      rows.push(found);
      keys.push(found.map((row) => documentKey(request.model, String(row[model.primaryKey]))));
    }
    return { rows, keys, writers, fences };
  }

}

/**
 * The same documents, in the same order, with the same fence tokens (contents may differ only
 * under the same token) — the whole `txId.epoch`: a keyed transaction reopened between the two
 * reads keeps its id and writes at a new epoch, so its id alone says nothing moved — except documents created after the first read by a transaction unfinished in the
 * logs read between the two reads, whose first step on them is that create: it holds their lock since it
 * created them (nobody else could have written them in between), and they are hidden from the
 * committed view anyway. Without that exception a read over a collection that grows under load
 * (transfers, ledger lines) would find no stable view.
 */
export function sameRows(first: RowsRead, second: RowsRead, logs: ReadonlyMap<string, LogDocument>): boolean {
  const createdSince = (key: string): boolean => {
    const writer = second.writers.get(key);
    const log = writer === undefined ? undefined : logs.get(writer);
    if (log === undefined || (log.state !== 'pending' && log.state !== 'rolling-back')) return false;
    const step = log.steps.find((candidate) => documentKey(candidate.model, candidate.id) === key);
    return step !== undefined && step.kind === 'create';
  };
  return first.keys.every((keys, i) => {
    const known = new Set(keys);
    const kept = second.keys[i].filter((key) => known.has(key) || !createdSince(key));
    return kept.length === keys.length && kept.every((key, j) => key === keys[j] && second.fences.get(key) === first.fences.get(key));
  });
}
