import { TransactError } from '../errors';
import type { CreatedIndex, IndexSpec } from '../indexes';
import type { FencedWrite } from '../operations';
import type { WaterlineModel } from '../waterline';
import type { SortClause, Where } from '../reads/criteria';
import type { SumCandidates, SumCandidatesRequest } from '../reads/sums';
import type { StoreView } from '../reads/view';
import type { Fence, LockDocument, LogDocument, LogGuard, LogPatch, TxState } from '../types';

export type { FencedWrite } from '../operations';
export type { StoreView } from '../reads/view';

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

/** The fence tokens a writer at `fence` may overwrite: its transaction's earlier owners', and what was there before. */
export function acceptedFences(fenceBefore: string | null, fence: Fence): (string | null)[] {
  const own = Array.from({ length: fence.epoch + 1 }, (_, epoch) => fenceToken({ txId: fence.txId, epoch }));
  return [fenceBefore, ...own];
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
 */
export interface AtomicStore {
  /** Which adapter family this is; recovery and warnings read it, the protocol does not. */
  readonly kind: 'disk' | 'mongo' | 'postgresql';
  /** False where the datastore lives inside one process (sails-disk). */
  readonly multiProcess: boolean;
  /**
   * The field in which documents carry their fence, where the adapter keeps it there (sails-mongo);
   * null where the fence is checked against the lock records. Reads strip it from images.
   */
  readonly fenceField: string | null;

  /** Anything the primitives rely on, other than indexes. Idempotent. */
  setup(): Promise<void>;
  /**
   * Creates indexes on this datastore (lib/indexes.ts resolves the models' declarations):
   * idempotent; a no-op on sails-disk. The hook passes its log and lock indexes at start.
   */
  createIndexes(specs: readonly IndexSpec[]): Promise<CreatedIndex[]>;
  /** Prepares the app's models for fenced writes (sails-mongo: hides the fence field from the app's reads). */
  adopt(models: readonly WaterlineModel[]): void;

  /** Inserts a log document; false when its id is already taken. */
  insertLog(doc: LogDocument): Promise<boolean>;
  getLog(id: string): Promise<LogDocument | null>;
  /** Compare-and-set: applies `patch` only if every guard matches; true when it did. */
  updateLog(id: string, guard: LogGuard, patch: LogPatch): Promise<boolean>;
  /** Logs in one of `states` whose lease ended before `leaseBefore`, oldest lease first. */
  findExpiredLogs(states: readonly TxState[], leaseBefore: number, limit: number): Promise<LogDocument[]>;

  /** Committed logs whose steps touch the document `key` (`model:id`). */
  findCommittedTouching(key: string): Promise<LogDocument[]>;

  /**
   * Inserts each lock whose id is free; returns the ids this call acquired. A lock counts as
   * acquired only when the datastore answered that it inserted it: when a failure leaves that
   * unknown (a network error, a lost reply, a write-concern error) the call throws, even if some
   * locks landed — the caller counts none of them. Retried or delivered twice, the later delivery
   * finds those locks taken and reports them not acquired; RetryingStore's retry then counts as
   * acquired exactly those it finds under this call's owner at this call's epoch (never a lock at
   * another epoch: a reopened keyed transaction keeps its id). A caller that gives up releases by
   * owner and epoch (deleteLocks), which frees any that landed unknown.
   */
  insertLocks(locks: readonly LockDocument[]): Promise<Set<string>>;
  findLocks(ids: readonly string[]): Promise<LockDocument[]>;
  /**
   * Moves the lease of every lock `owner` holds at `epoch` or below (a batch still waiting for the
   * rest of its locks, a transaction not logged yet). Locks at a later epoch belong to a later
   * holder of the same id (recovery, a reopened keyed attempt): a stale renewer leaves them alone,
   * so it cannot keep a dead later attempt's locks looking alive. Idempotent: a retry or a second
   * delivery moves the same leases again.
   */
  renewLocks(owner: string, epoch: number, leaseUntil: number): Promise<void>;
  /** Locks whose lease ended before `leaseBefore`, except those whose id starts with `skipPrefix`. */
  findExpiredLocks(leaseBefore: number, limit: number, skipPrefix?: string): Promise<LockDocument[]>;
  /**
   * Releases the locks `owner` holds at `epoch` or below (only those in `ids`, when given): the
   * protocol's rule for who may release a lock. Locks are owned by (transaction id, epoch), and a
   * keyed transaction reopened for another attempt keeps its id at a higher epoch, so a release
   * made at epoch e — by the owner, recovery, a cleanup, the orphan tombstone — can never free
   * what a later holder (a later attempt, a recoverer that fenced the locks higher) holds. Below
   * e it does free: locks a failed fenceLocks left at an older epoch are still this holder's.
   * Idempotent: retried, or delivered twice after a lost reply, it deletes nothing more (a lock
   * taken meanwhile at a higher epoch, or by another owner, is spared).
   */
  deleteLocks(owner: string, epoch: number, ids?: readonly string[]): Promise<void>;

  /** The datastore server's clock (epoch ms): the one clock leases are written and judged by. */
  serverTime(): Promise<number>;
  /**
   * Moves every lock of `txId` to `epoch` (never down): from then on only writes fenced at that
   * epoch land. Recovery calls it right after claiming a transaction, before it writes.
   */
  fenceLocks(txId: string, epoch: number): Promise<void>;
  /**
   * Applies the writes in order, each accepted only while `fence` still owns its document —
   * checked by the datastore atomically with the write; throws `lease_lost` (details.fenced)
   * at the first refused one. Re-applying the same writes under the same fence is harmless.
   * One limit, sails-mongo's: an insert of a document that is absent has no fence to check (the
   * store is atomic per document only), so an insert delivered after its document's lock moved on
   * (a stalled request, a driver's retry) lands; committed reads then leave it out and report it
   * (readView's lateInserts). PostgreSQL and sails-disk check the lock row with the insert.
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
   * out. Read-only; safe to retry.
   */
  readView(requests: readonly ViewRequest[]): Promise<StoreView>;

  /**
   * Sum checks' primitive (lib/reads/sums.ts), computed by the datastore from the raw data —
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
  return { id: String(row.id), owner: String(row.owner), leaseUntil: Number(row.leaseUntil), epoch: Number(row.epoch ?? 0) };
}
