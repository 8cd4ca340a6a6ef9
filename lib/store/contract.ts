/**
 * The store's contract: what the engine, the protocol and committed reads ask of a datastore, in
 * the store's own vocabulary (owned here: index and table specs, the interactive backend, the
 * view). One implementation per adapter (disk/, mongo/, postgres/), each proven by
 * test/hook/adapters/store-contract.test.ts; the retrying wrapper (retrying.ts) is built from it.
 */
import { TransactError } from '../core/errors';
import type { Action, FencedWrite } from '../core/operations';
import type { WaterlineModel } from '../core/waterline';
import type { SortClause, Where } from '../query/criteria';
import type { SumCandidates, SumCandidatesRequest } from '../query/sums';
import type { StoreView } from '../query/view';
import type { ModelInfo } from '../core/model-info';
import type { AdapterKind, Fence, Image, LockDocument, LogDocument, LogGuard, LogPatch, Step, TxState, Values } from '../core/types';

export type { FencedWrite } from '../core/operations';
export type { StoreView } from '../query/view';

/** One query of a committed read: documents of `model` matching `where`, in `sort` order. */
export interface ViewRequest {
  model: string;
  where: Where;
  sort: SortClause;
  /**
   * skip + limit of the caller's page, or undefined for every match. The store reads this many
   * rows plus one per document of the model an unfinished transaction holds (those may read
   * differently once their committed image replaces them).
   */
  limit?: number;
}

/** The fence a document carries in adapters that keep it in the document: `txId.epoch`. */
export function fenceToken(fence: Fence): string {
  return `${fence.txId}.${fence.epoch}`;
}

/** The fence a token names: fenceToken's inverse (ids of archived attempts contain a dot too: split at the last). */
export function parseFenceToken(token: string): Fence {
  const dot = token.lastIndexOf('.');
  return dot === -1 ? { txId: token, epoch: 0 } : { txId: token.slice(0, dot), epoch: Number(token.slice(dot + 1)) };
}

/** The datastore refused a write because another owner (recovery) took the transaction over. */
export function fencedOut(fence: Fence, detail: string): TransactError {
  return new TransactError('lease_lost', `transaction ${fence.txId} (epoch ${fence.epoch}) no longer owns its documents: ${detail}`, {
    details: { transaction: fence.txId, epoch: fence.epoch, fenced: true },
  });
}

/**
 * The narrow contract each datastore implements: the few operations that must be atomic — the
 * log's state changes, lock acquisition, and every document write, which the datastore accepts
 * only while the writer's fence still owns the document (checked in the same atomic operation).
 * A where-guarded Waterline update is not atomic on every adapter (sails-mongo drops the guard
 * with `fetch`), so each store uses its native primitive.
 *
 * Every method states what it guarantees when it succeeds, and in three faults:
 * - FAILS: the call rejects. Unless a method says otherwise, a rejected call may or may not
 *   have applied (the caller cannot tell a call that never arrived from a lost reply); it never
 *   applied in part, except where a method says so.
 * - REPLY LOST: it applied, and the caller saw a (transient) error. retryingStore (lib/store/retrying.ts)
 *   then sends it again and, for the calls that are not idempotent, reads what landed to answer
 *   as the first delivery would have; what it relies on is stated under each method.
 * - DELIVERED TWICE: it applied a second time — right after the first (retryingStore's re-send
 *   after a lost reply), or later, after other callers' calls (a request still in flight when
 *   its caller gave up). The second delivery is judged by the state at its arrival.
 * Reads (getLog, find*, readView, sum*) change nothing: failing, lost or repeated, they are
 * simply read again. The cases of test/support/store-contract.ts check each sentence on every
 * store; what a store does not meet is listed there (its known gaps) and said below.
 * Ownership is among this contract's callers: PostgreSQL's native path (postgres-native.ts) is
 * not a store of it — its transactions lock rows FOR UPDATE and never read the lock records.
 */
export interface AtomicStore {
  /** Which adapter family this is; recovery and warnings read it, the protocol does not. */
  readonly kind: AdapterKind;
  /** False where the datastore lives inside one process (sails-disk). */
  readonly multiProcess: boolean;
  /**
   * The field in which documents carry their fence, where the adapter keeps it there (sails-mongo);
   * null where the fence is checked against the lock records. Reads strip it from images.
   */
  readonly fenceField: string | null;

  /** Anything the primitives rely on, other than indexes. Idempotent. */
  setup(): Promise<void>;
  /** Prepares the app's models for fenced writes (sails-mongo: hides the fence field from the app's reads). */
  adopt(models: readonly WaterlineModel[]): void;

  /**
   * Inserts the whole log document, atomically: true when this call inserted it; false when the
   * id is taken, and then the stored log is left exactly as it is (never overwritten).
   * Fails: inserted or not. Reply lost: the re-send is refused (false); retryingStore then reads
   * the log and takes it as its own when `owner` and `startedAt` are the caller's — which relies
   * on every writer of a log id using an owner token of its own (lib/protocol/recovery ownerToken).
   * Delivered twice: the second delivery is refused, however late and whatever came between (an
   * id once taken stays taken): it never undoes a later update of the log.
   */
  insertLog(doc: LogDocument): Promise<boolean>;
  /** The log as stored now (every field as inserted or last patched), or null when there is none. */
  getLog(id: string): Promise<LogDocument | null>;
  /**
   * Compare-and-set on one log: when every field `guard` gives matches at the instant the update
   * is applied (`states`: the state is one of them; `reversedBy: null`: none set; `stepCount`:
   * the log holds exactly that many steps — MongoDB `$size`, PostgreSQL jsonb_array_length), sets every
   * field of `patch` to its value (absolute values, never increments), leaves every other field
   * as it is, and returns true; otherwise it changes nothing and returns false (also for a log
   * that does not exist). Atomic on sails-disk (mutex), PostgreSQL (one UPDATE … WHERE) and
   * MongoDB (updateOne); FerretDB applies an update as read-then-replace, so two updates racing
   * on one log may both pass their guards there (engine notes): Lease serializes its own writes.
   * Fails: applied or not. Reply lost: the re-send is refused when the first delivery changed a
   * guarded field; retryingStore then reads the log and reports true when every patched field
   * already holds the patch's value — which relies on the patch holding a field no other writer
   * sets to the same value (an owner token, an epoch, an end time).
   * Delivered twice: the second delivery is judged by the guard at its arrival: refused when the
   * first (or anyone since) changed a field the guard names — a state change, a claim that moved
   * owner and epoch; applied again when not. A late duplicate under an unchanged guard therefore
   * sets its OLDER values back over later patches under that guard (a heartbeat's shorter lease;
   * a step list without the steps appended since): guards of {states, owner} alone do not
   * protect a log from its own owner's delayed writes. Step appends therefore also guard on the
   * count of steps they extend (Lease.writeSteps): a late duplicate of an older append finds more
   * steps than its `stepCount` and is refused, so a log's step list never shrinks under its owner;
   * a re-send after a lost reply is refused the same way, and retryingStore finds its steps landed.
   */
  updateLog(id: string, guard: LogGuard, patch: LogPatch): Promise<boolean>;
  /** Logs in one of `states` whose lease ended before `leaseBefore` (strictly), oldest lease first, at most `limit`. */
  findExpiredLogs(states: readonly TxState[], leaseBefore: number, limit: number): Promise<LogDocument[]>;

  /** Committed logs whose `documents` hold exactly `key` (`model:id`, not a prefix of it), by end time, oldest first. */
  findCommittedTouching(key: string): Promise<LogDocument[]>;

  /**
   * Inserts each lock whose id is free, each atomically (a unique id), and returns exactly the ids
   * this call inserted. Not all-or-nothing: a partial set is a normal answer. An id already held
   * — by another owner or by the caller itself — is not inserted, not changed, not returned.
   * Fails: a lock counts as acquired only when the datastore answered that it inserted it: when a
   * failure leaves that unknown (a network error, a lost reply, a write-concern error) the call
   * rejects, even if some locks landed — the caller counts none of them. It never resolves with an
   * id it did not insert.
   * Reply lost: the re-send inserts nothing the first took; retryingStore's retry then counts as
   * acquired exactly those it finds under this call's owner at this call's epoch (never a lock at
   * another epoch: a reopened keyed transaction keeps its id) and, when the call carries a grant,
   * with that grant (never an earlier round's lock: that round's give-back may still free it).
   * A caller that gives up releases by owner and epoch (deleteLocks), which frees any that landed
   * unknown.
   * Delivered twice: the duplicate inserts only what is free at its arrival — nothing the first
   * took, unless it was deleted in between: a duplicate arriving after the caller released takes
   * the lock again, with the first delivery's lease, owner, epoch and grant; it stays until recovery
   * finds it expired and its transaction ended (or never logged) and deletes it.
   */
  insertLocks(locks: readonly LockDocument[]): Promise<Set<string>>;
  /** The locks among `ids` (as stored; a missing id is left out), in no particular order. */
  findLocks(ids: readonly string[]): Promise<LockDocument[]>;
  /**
   * Sets the lease of every lock `owner` holds at `epoch` or below (a batch still waiting for the
   * rest of its locks, a transaction's heartbeat), and of no other owner's; atomic per lock, not
   * across them. It sets, never takes the maximum. Locks at a later epoch belong to a later holder
   * of the same id (recovery, a reopened keyed attempt): a stale renewer leaves them alone, so it
   * cannot keep a dead later attempt's locks looking alive.
   * Fails: applied to some, all or none; a re-send is harmless. Delivered twice: a late duplicate
   * sets its older lease back over a later renewal (until the next renewal moves it again).
   */
  renewLocks(owner: string, epoch: number, leaseUntil: number): Promise<void>;
  /**
   * Locks whose lease ended before `leaseBefore` (strictly), oldest lease first, at most `limit`,
   * except those whose id starts with `skipPrefix` (a literal prefix, not a pattern).
   */
  findExpiredLocks(leaseBefore: number, limit: number, skipPrefix?: string): Promise<LockDocument[]>;
  /**
   * Releases the locks `owner` holds at `epoch` or below (only those in `ids`, when given), and no
   * other owner's; atomic per lock: the protocol's rule for who may release a lock. Locks are owned
   * by (transaction id, epoch), and a keyed transaction reopened for another attempt keeps its id
   * at a higher epoch, so a release made at epoch e — by the owner, recovery, a cleanup, the orphan
   * tombstone — can never free what a later holder (a later attempt, a recoverer that fenced the
   * locks higher) holds. Below e it does free: locks a failed fenceLocks left at an older epoch are
   * still this holder's.
   * With `grant`, only the locks carrying that grant (LockDocument.grant): the release of one
   * acquisition round. The owner and epoch alone cannot tell two rounds of one acquisition apart
   * — Locks.acquire gives back the locks it got past the first one it must wait for, and later
   * inserts those very ids again under the same owner and epoch — so a late delivery of the
   * give-back would free the locks the later round took, and the transaction would write
   * documents it no longer holds. Each round's own grant makes the late delivery find nothing.
   * A lock without a grant is spared by a release with one.
   * Fails: deleted some, all or none; a re-send is harmless. Delivered twice, or late: deletes
   * nothing more than the epoch allows (a lock taken meanwhile at a higher epoch is spared), nor,
   * with a grant, than that grant allows (the same ids taken again in a later round are spared).
   */
  deleteLocks(owner: string, epoch: number, ids?: readonly string[], grant?: string): Promise<void>;

  /**
   * The datastore server's clock (epoch ms) at some instant during the call: the one clock leases
   * are written and judged by (sails-disk: this process's clock). A wall clock: not guaranteed
   * monotonic, only close to the server's time.
   */
  serverTime(): Promise<number>;
  /**
   * Raises to `epoch` every lock of `txId` below it, atomically per lock; never lowers one, never
   * touches another transaction's. Recovery calls it right after claiming a transaction, before
   * it writes. sails-disk and PostgreSQL: once it returns, a writeDocuments at a lower epoch lands
   * on none of these documents (PostgreSQL waits here for a writer holding the lock rows FOR SHARE,
   * at most stalledWriterMs). MongoDB: the documents carry the fences and the locks only follow:
   * a write at a lower epoch is refused on a document only once a write at `epoch` (or of another
   * transaction) has landed on it — recovery's compensation rewrites every logged document, and a
   * stale write that lands before it is overwritten by it (a known gap of the suite: see above).
   * Fails: raised some, all or none; a re-send is harmless. Delivered twice, or late with a
   * lower epoch after a higher one: changes nothing (monotonic).
   */
  fenceLocks(txId: string, epoch: number): Promise<void>;
  /**
   * Applies the writes in order, each accepted only while `fence` still owns its document —
   * checked by the datastore atomically with the write; throws `lease_lost` (details.fenced) at
   * the first refused one. Ownership: on sails-disk and PostgreSQL, the document's lock is held by
   * `fence.txId` at exactly `fence.epoch` (so locks are fenced before a new owner writes) while
   * the transaction's log, when it has one, is at `fence.epoch` too (a late insertLocks delivery can
   * put a lock back at an older epoch after a takeover released it: the log says who owns it), and the
   * whole call is refused or accepted as one: sails-disk checks every lock first under its mutex
   * (a datastore error midway leaves a prefix written), PostgreSQL runs one native transaction
   * (all or nothing). On MongoDB, the document's stored fence is
   * `fenceBefore`, a token of `fence.txId` at an epoch < `fence.epoch`, or `fence`'s own token
   * set by an EARLIER write (each write carries an increasing number: MongoStore.writeDocuments),
   * so a late delivery of a write never lands over a later write of its own token; the lock is not read
   * (a writer that holds no lock but names the right `fenceBefore` lands: a known gap, which is
   * why insertLocks must never report a lock it did not insert), and each document is its own
   * step: a refusal leaves the call's earlier writes applied. And an insert of a document that is
   * absent has no fence to check (MongoDB is atomic per document only), so an insert delivered
   * after its document's lock moved on (a stalled request, a driver's retry) lands; committed
   * reads then leave it out and report it (readView's lateInserts). PostgreSQL and sails-disk
   * check the lock row with the insert.
   * An insert of a document that exists is accepted under the same rule (sails-disk and
   * PostgreSQL leave it as it is; MongoDB sets the insert's values); a remove of a missing one
   * is a no-op; a patch of a missing one writes nothing (MongoDB refuses it with lease_lost).
   * Fails: applied or not (PostgreSQL: as a whole; sails-disk and MongoDB: a prefix). Reply lost, or
   * delivered twice in a row: re-applying the same writes under the same fence is harmless — the
   * same images land again (MongoDB: the re-send is a new write; a duplicate of the same request
   * refused because its first delivery landed reports success). Delivered late: refused once a
   * newer owner's fence holds the document; on MongoDB also once the document carries the same
   * request's write or a later one of its fence (a duplicate after the caller released, or after
   * a later write of its transaction). On sails-disk and PostgreSQL a late delivery under the same
   * fence re-applies its older images over the caller's later writes while the lock is still held,
   * which retryingStore never causes (its re-send runs before the caller goes on).
   */
  writeDocuments(writes: readonly FencedWrite[], fence: Fence): Promise<void>;

  /**
   * Committed reads' primitive: the rows of every request, with the logs and writers that tell
   * which of them an unfinished transaction wrote — all as of ONE instant (or validated to be
   * equal to what one instant would give), so that the committed view built from them never shows
   * half of a transaction: PostgreSQL reads them in one REPEATABLE READ snapshot, sails-disk
   * under its mutex, sails-mongo reads twice and keeps a read only when nothing it depends on
   * changed in between — every row the same document with the same whole fence token
   * (`txId.epoch`: a keyed transaction reopened in between keeps its id, not its epoch).
   * sails-mongo also answers `lateInserts`: rows a late insert put back after a committed
   * transaction had taken the document over (see MongoStore.lateInserts), which the view leaves
   * out. `writers` names, for every row an unfinished transaction may have written, that
   * transaction (the lock holder; on MongoDB the fence's transaction), and `logs` holds the log of
   * every lock holder of a requested model and of every named writer (MongoDB leaves out a writer
   * it has already seen committed: committed is final). Rows come without the fence field.
   * Read-only; safe to retry; MongoDB may give up with `unavailable` under constant writes to the
   * very documents read.
   */
  readView(requests: readonly ViewRequest[]): Promise<StoreView>;

  /**
   * Of rows read under the caller's lock (`model:id` → the fence token each carries; only stores
   * whose documents carry fences have any), those a late insert put there: no committed
   * transaction wrote them — a rolled-back attempt's create that landed after its compensation,
   * or one that landed after a committed transaction destroyed the document (see writeDocuments).
   * Their committed image is "no such document", and a transaction plans on that: a create may
   * take the id, a patch finds nothing. sails-mongo only (MongoStore.lateInserts' rules); the
   * stores that check the lock with the insert answer none. Read-only; safe to retry.
   */
  findLateInserts(fences: ReadonlyMap<string, string>): Promise<Set<string>>;

  /**
   * Sum checks' primitive (lib/query/sums.ts), computed by the datastore from the raw data —
   * uncommitted writes included, so the caller re-checks the keys through committed reads: the
   * keys after `after` whose document's field differs from its lines' total (PostgreSQL: one
   * GROUP BY and join; MongoDB: a $group pipeline merged with the documents, both streamed in key
   * order; sails-disk: the same merge over Waterline reads in chunks). Memory: one page.
   */
  sumCandidates(request: SumCandidatesRequest): Promise<SumCandidates>;
  /** SUM of `field` over the documents matching `where` (Waterline criteria), raw: uncommitted writes included. */
  sum(model: string, field: string, where: Where): Promise<number>;
}

/** Waterline's own `sum` (every adapter implements it natively): what `AtomicStore.sum` is on each store. */
export async function waterlineSum(model: WaterlineModel, field: string, where: Where): Promise<number> {
  const total = await (model as unknown as { sum(field: string, criteria: Where): PromiseLike<unknown> }).sum(field, where);
  return Number(total ?? 0);
}

/** The columns of the log, in one place for the stores that write them natively. */
export const LOG_FIELDS = [
  'id', 'state', 'mode', 'onCrash', 'label', 'idempotencyKey', 'idempotencyScope', 'owner', 'leaseUntil',
  'steps', 'error', 'startedAt', 'endedAt', 'recoveries', 'documents', 'result', 'fingerprint',
  'reverses', 'reversedBy', 'reason', 'attention', 'epoch',
] as const satisfies readonly (keyof LogDocument)[];

export function matchesGuard(doc: LogDocument, guard: LogGuard): boolean {
  if (guard.states !== undefined && !guard.states.includes(doc.state)) return false;
  if (guard.owner !== undefined && doc.owner !== guard.owner) return false;
  if (guard.leaseUntil !== undefined && doc.leaseUntil !== guard.leaseUntil) return false;
  if (guard.reversedBy !== undefined && doc.reversedBy !== guard.reversedBy) return false;
  if (guard.epoch !== undefined && doc.epoch !== guard.epoch) return false;
  if (guard.stepCount !== undefined && doc.steps.length !== guard.stepCount) return false;
  return true;
}

/** Rebuilds a log document from a stored row, whatever the adapter did to its types. */
export function toLogDocument(row: Record<string, unknown>): LogDocument {
  return {
    id: String(row.id),
    state: row.state as TxState,
    mode: row.mode as LogDocument['mode'],
    onCrash: row.onCrash as LogDocument['onCrash'],
    label: (row.label as string | null | undefined) ?? null,
    idempotencyKey: (row.idempotencyKey as string | null | undefined) ?? null,
    // Logs written before keys had scopes have no such field (MongoDB, sails-disk) or a NULL column.
    idempotencyScope: (row.idempotencyScope as string | null | undefined) ?? null,
    owner: String(row.owner),
    leaseUntil: Number(row.leaseUntil),
    steps: (row.steps as LogDocument['steps'] | null | undefined) ?? [],
    error: (row.error as LogDocument['error'] | undefined) ?? null,
    startedAt: Number(row.startedAt),
    endedAt: row.endedAt === null || row.endedAt === undefined ? null : Number(row.endedAt),
    recoveries: Number(row.recoveries ?? 0),
    epoch: Number(row.epoch ?? 0),
    documents: (row.documents as string[] | null | undefined) ?? [],
    result: row.result ?? null,
    fingerprint: (row.fingerprint as string | null | undefined) ?? null,
    reverses: (row.reverses as string | null | undefined) ?? null,
    reversedBy: (row.reversedBy as string | null | undefined) ?? null,
    reason: (row.reason as string | null | undefined) ?? null,
    attention: (row.attention as LogDocument['attention'] | undefined) ?? null,
  };
}

export function toLockDocument(row: Record<string, unknown>): LockDocument {
  const lock: LockDocument = { id: String(row.id), owner: String(row.owner), leaseUntil: Number(row.leaseUntil), epoch: Number(row.epoch ?? 0) };
  // A lock inserted without a grant reads as it was given (a NULL column, a missing field).
  if (typeof row.grant === 'string') lock.grant = row.grant;
  return lock;
}

/**
 * How a transaction locks, records and writes: the log protocol (lock records, the log, fenced
 * writes) or a native database transaction. The handle's rules — call order, un-awaited calls,
 * planning — are the same over both.
 */
export interface TxBackend {
  /**
   * Locks the document until the transaction ends and reads it; `fence` where documents carry one.
   * `create`: the values a create of it is about to write (log protocol v3 reserves their unique ones).
   */
  lock(info: ModelInfo, id: string, create?: Values): Promise<{ image: Image | null; fence?: string | null }>;
  /**
   * Makes the steps so far durable before the last one is written (the log protocol's write-ahead
   * entry): `steps` is the list of the last call that succeeded, plus one.
   */
  record(steps: readonly Step[]): Promise<void>;
  /** Writes one step's document. */
  apply(step: Step, info: ModelInfo): Promise<void>;
  /**
   * A connection inside this transaction, where it has one (the native path's client): what a
   * Waterline read given it as `meta.leasedConnection` runs on, seeing the transaction's own
   * writes without taking a second pooled connection. The log protocol has none (its writes
   * are visible to every reader).
   */
  readonly connection?: unknown;
}

/** One index, resolved against its model: what a datastore creates. */
export interface IndexSpec {
  /** The model's identity (for messages). */
  model: string;
  /** Table (PostgreSQL) or collection (MongoDB). */
  table: string;
  /** PostgreSQL's index name: deterministic, at most 63 bytes. */
  name: string;
  columns: { column: string; descending: boolean }[];
  unique: boolean;
  elements: boolean;
  trigram: boolean;
}

/** What `createIndexes` did, per index. */
export interface CreatedIndex {
  model: string;
  /** The index's name in the datastore (PostgreSQL: as declared; MongoDB: its key-based name). */
  name: string;
  /** Where it lives: 'postgresql', 'mongo'; 'disk' indexes are not created (`created: false`). */
  adapter: AdapterKind;
  created: boolean;
  /** Why it was not created where the adapter could have (PostgreSQL without pg_trgm). */
  skipped?: string;
}

/** A column as Waterline's auto-migrations describe it (an attribute's `autoMigrations`). */
export interface ColumnSpec {
  /** Waterline's logical type (`_string`, `_numberkey`, `_json`, …) or a datastore type (`double precision`). */
  columnType: string;
  unique?: boolean;
  autoIncrement?: boolean;
  notNull?: boolean;
  primaryKey?: boolean;
}

/** One model's table, as Waterline's `define` would create it. */
export interface TableSpec {
  model: string;
  table: string;
  /** By column name, in the model's attribute order. */
  columns: Record<string, ColumnSpec>;
}

/** What lift did to one table. */
export interface EvolvedTable {
  model: string;
  table: string;
  created: boolean;
  /** Columns added to an existing table (never dropped, never retyped). */
  addedColumns: string[];
}

/**
 * A datastore's own transaction, where its adapter has one the engine can drive (sails-postgresql:
 * store/postgres/native.ts, the native path). The engine names these, never the class behind them.
 */
export interface NativeTransactions {
  /** Runs `work` in one datastore transaction: committed when it returns, rolled back when it throws. */
  run<T>(lockTimeoutMs: number, infoOf: (model: string) => ModelInfo, work: (tx: NativeTransaction) => Promise<T>): Promise<T>;
  /** The typed error a datastore failure inside a run stands for (a lock wait given up, a deadlock, a taken id), or null. */
  failure(err: unknown): TransactError | null;
}

/** One native transaction: the interactive backend, plus what batches and keyed runs ask of it. */
export interface NativeTransaction extends TxBackend {
  /** The transaction's connection: Waterline reads given it run inside the transaction. */
  readonly connection: unknown;
  /** Inserts the keyed log row first: a concurrent run with the same key waits on it, then finds it. */
  claimKey(log: LogDocument): Promise<boolean>;
  /** Marks the point a keyed run can roll back to and still keep its claimed log row. */
  savepoint(): Promise<void>;
  /** Undoes everything since the savepoint: the documents (and their lock records), not the claimed log row. */
  rollbackToSavepoint(): Promise<void>;
  /** Takes over a keyed log row reopened for this run (pending, under `owner`); false if it moved on. */
  holdReopened(id: string, owner: string): Promise<boolean>;
  /** Locks the lock records of `keys` (`all`: a batch's one sweep). */
  lockRecords(keys: Iterable<string>, all: boolean): Promise<void>;
  /** Locks and reads documents, in a fixed order. */
  lockAll(refs: readonly { model: string; id: string }[], all: boolean): Promise<Map<string, Image | null>>;
  /** A whole batch's writes and its log row, at most one write per document (netActions). */
  writeAllWithLog(actions: readonly Action[], log: LogDocument): Promise<void>;
  /** The log row, committed, written in the transaction it describes. */
  writeLog(log: LogDocument): Promise<void>;
}
