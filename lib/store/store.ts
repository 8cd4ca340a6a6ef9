import type { LockDocument, LogDocument, LogGuard, LogPatch, TxState } from '../types';

/**
 * The narrow contract each datastore implements: the few operations that must be atomic.
 * Documents themselves are written through Waterline (under locks); only the log's state
 * changes and lock acquisition need a native compare-and-set, because a where-guarded
 * Waterline update is not one on every adapter (sails-mongo drops the guard with `fetch`).
 */
export interface AtomicStore {
  /** Which adapter family this is; recovery and warnings read it, the protocol does not. */
  readonly kind: 'disk' | 'mongo' | 'postgresql';
  /** False where the datastore lives inside one process (sails-disk). */
  readonly multiProcess: boolean;

  /** Indexes and anything else the primitives rely on. Idempotent. */
  setup(): Promise<void>;

  /** Inserts a log document; false when its id is already taken. */
  insertLog(doc: LogDocument): Promise<boolean>;
  getLog(id: string): Promise<LogDocument | null>;
  /** Compare-and-set: applies `patch` only if every guard matches; true when it did. */
  updateLog(id: string, guard: LogGuard, patch: LogPatch): Promise<boolean>;
  /** Logs in one of `states` whose lease ended before `leaseBefore`, oldest lease first. */
  findExpiredLogs(states: readonly TxState[], leaseBefore: number, limit: number): Promise<LogDocument[]>;

  /** Committed logs whose steps touch the document `key` (`model:id`). */
  findCommittedTouching(key: string): Promise<LogDocument[]>;

  /** Inserts each lock whose id is free; returns the ids this call acquired. */
  insertLocks(locks: readonly LockDocument[]): Promise<Set<string>>;
  findLocks(ids: readonly string[]): Promise<LockDocument[]>;
  /** Moves the lease of every lock `owner` holds (a batch still waiting for the rest of its locks). */
  renewLocks(owner: string, leaseUntil: number): Promise<void>;
  /** Locks whose lease ended before `leaseBefore`. */
  findExpiredLocks(leaseBefore: number, limit: number): Promise<LockDocument[]>;
  /** Deletes the locks `owner` holds (only those in `ids`, when given). */
  deleteLocks(owner: string, ids?: readonly string[]): Promise<void>;
}

/** The columns of the log, in one place for the stores that write them natively. */
export const LOG_FIELDS = [
  'id', 'state', 'mode', 'onCrash', 'label', 'idempotencyKey', 'owner', 'leaseUntil',
  'steps', 'error', 'startedAt', 'endedAt', 'recoveries', 'documents', 'result', 'fingerprint',
  'reverses', 'reversedBy', 'reason',
] as const satisfies readonly (keyof LogDocument)[];

export function matchesGuard(doc: LogDocument, guard: LogGuard): boolean {
  if (guard.states !== undefined && !guard.states.includes(doc.state)) return false;
  if (guard.owner !== undefined && doc.owner !== guard.owner) return false;
  if (guard.leaseUntil !== undefined && doc.leaseUntil !== guard.leaseUntil) return false;
  if (guard.reversedBy !== undefined && doc.reversedBy !== guard.reversedBy) return false;
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
    owner: String(row.owner),
    leaseUntil: Number(row.leaseUntil),
    steps: (row.steps as LogDocument['steps'] | null | undefined) ?? [],
    error: (row.error as LogDocument['error'] | undefined) ?? null,
    startedAt: Number(row.startedAt),
    endedAt: row.endedAt === null || row.endedAt === undefined ? null : Number(row.endedAt),
    recoveries: Number(row.recoveries ?? 0),
    documents: (row.documents as string[] | null | undefined) ?? [],
    result: row.result ?? null,
    fingerprint: (row.fingerprint as string | null | undefined) ?? null,
    reverses: (row.reverses as string | null | undefined) ?? null,
    reversedBy: (row.reversedBy as string | null | undefined) ?? null,
    reason: (row.reason as string | null | undefined) ?? null,
  };
}

export function toLockDocument(row: Record<string, unknown>): LockDocument {
  return { id: String(row.id), owner: String(row.owner), leaseUntil: Number(row.leaseUntil) };
}
