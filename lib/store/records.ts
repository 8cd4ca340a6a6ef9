/**
 * Log protocol v3's vocabulary (docs/protocol-v3.md): a document's record — its image and the
 * transactional state it carries (lock, version, live/reserved/destroyed) — and the contract each
 * datastore implements for it. The rules that decide on records (R5: who holds a lock) are pure
 * functions here, tested without a database.
 */
import type { ViewRequest } from './contract';
import type { Image, LogDocument, Step, Values } from '../core/types';

/** Live: a document; reserved: a create's stub before its commit; destroyed: a tombstone; absent: never existed. */
export type RecordState = 'live' | 'reserved' | 'destroyed' | 'absent';

/** A holder's lock on a record: its token `txId.epoch` and its lease (the datastore's clock). */
export interface RecordLock {
  token: string;
  until: number;
}

/** One document's record as the datastore holds it. */
export interface DocRecord {
  model: string;
  id: string;
  /** The document's attributes; null unless the record is live. */
  image: Image | null;
  state: RecordState;
  lock: RecordLock | null;
  /** +1 at every grant, apply, give-back and takeover: the guard of every write (R2). */
  version: number;
}

/** What a guarded write does to a record held at (`token`, `version`). */
export type Transition =
  /** R4: the committed after-image (null: a tombstone), and the lock freed. */
  | { kind: 'apply'; after: Image | null }
  /** The lock freed, nothing written (a stub becomes a tombstone). */
  | { kind: 'free' }
  /** R6: the lock moves to another holder. */
  | { kind: 'take'; lock: RecordLock };

/** A write the datastore accepts only while the record is held by `token` at `version`. */
export interface GuardedWrite {
  model: string;
  id: string;
  token: string;
  version: number;
  transition: Transition;
}

/** A create's reservation: the id, and the created values (a stub carries the unique ones, R9). */
export interface Stub {
  id: string;
  values: Values;
}

/** What committed reads are made of (RecordStore.view): per request, its stored documents and its model's held records. */
export interface RecordView {
  /** Live documents matching the request as stored, in its order (at most its limit plus its model's held count). */
  rows: DocRecord[][];
  /** Every record of the request's model a lock holds (a stub included): those may read differently committed. */
  held: DocRecord[][];
  /**
   * The holders' logs, read inside the view's instant (atomic views only): while no record moves,
   * a holder can commit only holding all it writes, so its log decides all of them alike.
   */
  logs?: Map<string, LogDocument>;
}

/** Reads the logs of transactions by id (those missing are left out). */
export type LogsOf = (txIds: readonly string[]) => Promise<Map<string, LogDocument>>;

/**
 * The primitives v3 needs of a datastore, per collection. Every write is atomic per record, and
 * a write that lands twice or late is judged by the record as it is on arrival (R2).
 */
export interface RecordStore {
  /**
   * R1: grants `lock` on every free record among `ids` (live or tombstone; not absent ones), then
   * reads all of them. Fails: granted some, all or none; the caller reads what it holds again.
   * Late or twice: grants only a free record, at a fresh version no log records.
   */
  grant(model: string, ids: readonly string[], lock: RecordLock): Promise<DocRecord[]>;
  /**
   * R1: inserts a stub, held by `lock`, for each id no record has ever had (a tombstone keeps its
   * id), then reads every id's record. Late or twice: an id once inserted stays taken.
   */
  reserve(model: string, stubs: readonly Stub[], lock: RecordLock): Promise<DocRecord[]>;
  /**
   * R9 for updates: each record `lock` holds claims the new values of its unique keys, all of them
   * or — when one is taken, by a live document, a stub or another claim — none (`already_exists`).
   * The record's version stays (its apply is judged by it); its apply or its release ends the claim.
   * Optional: a store without it (none of the bundled three) has such an update refused
   * (`unique_change_unsupported`).
   */
  claimUnique?(model: string, claims: readonly Stub[], lock: RecordLock): Promise<void>;
  /** The records of `ids` (absent ones as `absent`, version 0). Read-only. */
  read(model: string, ids: readonly string[]): Promise<DocRecord[]>;
  /**
   * Each write lands only if its record is held by its token at its version (R2), atomically per
   * record, in order; returns `model:id` of those that landed. Late or twice: finds the version
   * moved, and lands nowhere.
   */
  write(writes: readonly GuardedWrite[]): Promise<Set<string>>;
  /** Sets the lease of every record of `model` `token` holds. */
  renew(model: string, token: string, until: number): Promise<void>;
  /** Records of `model` whose lock lease ended before `before`, oldest first, at most `limit`. */
  findExpired(model: string, before: number, limit: number): Promise<DocRecord[]>;
  /**
   * Committed reads' raw material, for several requests (lib/reads/redo.ts). A store whose view is
   * one instant across its documents reads the holders' logs inside it with `logsOf` (RecordView.logs);
   * one that returns no logs has its views validated by a second read. Read-only.
   */
  view(requests: readonly ViewRequest[], logsOf: LogsOf): Promise<RecordView>;
}

export function lockToken(txId: string, epoch: number): string {
  return `${txId}.${epoch}`;
}

/** The transaction id and epoch of a token (ids of archived attempts contain dots too: split at the last). */
export function parseToken(token: string): { txId: string; epoch: number } {
  const dot = token.lastIndexOf('.');
  return { txId: token.slice(0, dot), epoch: Number(token.slice(dot + 1)) };
}

/** What R5 says of a record held by someone else, given its holder's log (null: none). */
export type Holding =
  /** The holder may still commit: wait. */
  | { kind: 'live' }
  /** The holder has no log and its lease is over: tombstone its log, then take over. */
  | { kind: 'orphaned' }
  /** The holder's log is pending and its lease is over: roll it back (R7), then take over. */
  | { kind: 'expired' }
  /** The holder committed this record and did not apply it yet: apply it (R4). */
  | { kind: 'unapplied'; after: Image | null }
  /** The holder cannot write it any more: take over (R6). */
  | { kind: 'free' };

/**
 * R5: who holds a record, by its holder's log. `now` is the datastore's clock minus the skew
 * allowance: leases decide only when to act, never whether a write lands.
 */
export function holding(record: DocRecord, log: LogDocument | null, now: number): Holding {
  if (record.lock === null) return { kind: 'free' };
  const { txId, epoch } = parseToken(record.lock.token);
  if (log === null || log.id !== txId) return record.lock.until < now ? { kind: 'orphaned' } : { kind: 'live' };
  if (log.epoch !== epoch) return { kind: 'free' };
  if (log.state === 'pending') return log.leaseUntil < now ? { kind: 'expired' } : { kind: 'live' };
  if (log.state !== 'committed') return { kind: 'free' };
  const last = lastStepOn(log.steps, record.model, record.id);
  if (last === undefined || last.version !== record.version) return { kind: 'free' };
  return { kind: 'unapplied', after: last.after };
}

/** The last step a log made on a document: its after-image is the document's committed image. */
export function lastStepOn(steps: readonly Step[], model: string, id: string): Step | undefined {
  for (let i = steps.length - 1; i >= 0; i--) if (steps[i].model === model && steps[i].id === id) return steps[i];
  return undefined;
}
