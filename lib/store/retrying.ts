/**
 * Transient adapter errors — a dropped connection, a pool that timed out, a write conflict —
 * are retried (bounded attempts, jittered exponential backoff, with async-retry); every other
 * error fails fast. Only idempotent calls are retried; the store wrapper below makes the
 * non-idempotent ones safe by checking, after an ambiguous failure, whether the first try landed.
 */
import type { Where } from '../query/criteria';
import type { SumCandidates, SumCandidatesRequest } from '../query/sums';
import retry = require('async-retry');
import { TransactError } from '../core/errors';
import { jsonEqual } from '../core/json';
import type { AtomicStore } from './';
import type { StoreView, ViewRequest } from './contract';
import type { FencedWrite } from '../core/operations';
import type { WaterlineModel } from '../core/waterline';
import type { Fence, LockDocument, LogDocument, LogGuard, LogPatch, TxState } from '../core/types';

export interface RetryOptions {
  /** Retries after the first attempt (0 turns retrying off). */
  retries: number;
  minTimeoutMs: number;
  maxTimeoutMs: number;
  factor: number;
}

const NODE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH']);
/** MongoDB server codes: WriteConflict, shutdown/stepdown, not primary, and the like. */
const MONGO_CODES = new Set([112, 91, 189, 10107, 11600, 11602, 13435, 13436, 6, 7, 89, 9001, 262]);
const MONGO_NAMES = new Set(['MongoNetworkError', 'MongoNetworkTimeoutError', 'MongoServerSelectionError', 'MongoPoolClearedError', 'MongoWaitQueueTimeoutError']);
/**
 * PostgreSQL SQLSTATEs: serialization failure, deadlock, shutdown, connection failures, too many
 * connections, and a session ended for idling in a transaction (a stalled writer: its retry is
 * then refused by the fence, or goes through if nothing took over).
 */
const PG_CODES = new Set(['40001', '40P01', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004', '53300', '25P03']);
const MESSAGES = [/timeout exceeded when trying to connect/i, /Connection terminated/i, /connection .*(closed|reset)/i];

/** Whether an error (or what it wraps: Waterline puts the driver's error in `raw`) is worth retrying. */
export function isTransient(err: unknown, depth = 0): boolean {
  if (err === null || typeof err !== 'object' || depth > 4) return false;
  const e = err as { code?: unknown; name?: unknown; message?: unknown; raw?: unknown; cause?: unknown; errorLabels?: unknown; hasErrorLabel?: unknown };
  if (typeof e.code === 'string' && (NODE_CODES.has(e.code) || PG_CODES.has(e.code))) return true;
  if (typeof e.code === 'number' && MONGO_CODES.has(e.code)) return true;
  if (typeof e.name === 'string' && MONGO_NAMES.has(e.name)) return true;
  if (Array.isArray(e.errorLabels) && e.errorLabels.some((label) => label === 'TransientTransactionError' || label === 'RetryableWriteError')) return true;
  if (typeof e.message === 'string' && MESSAGES.some((pattern) => pattern.test(e.message as string))) return true;
  return isTransient(e.raw, depth + 1) || isTransient(e.cause, depth + 1);
}

/** A transient store error that outlived its retries reaches the caller as `unavailable` (a typed error, never the driver's). */
export function unavailableIfTransient(err: unknown): unknown {
  if (err instanceof TransactError || !isTransient(err)) return err;
  return new TransactError('unavailable', `the datastore failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/** `work`'s result, or its error typed: a caller of the engine never gets a driver's error (see unavailableIfTransient). */
export async function typedFailure<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    throw unavailableIfTransient(err);
  }
}

export class RetryPolicy {
  retried = 0;

  constructor(private readonly options: RetryOptions) {}

  /** Runs `attempt` (told whether an earlier try failed), retrying transient failures only. */
  run<T>(attempt: (afterFailure: boolean) => Promise<T>): Promise<T> {
    let failed = false;
    return retry(
      async (bail) => {
        try {
          return await attempt(failed);
        } catch (err) {
          if (!isTransient(err)) {
            bail(err instanceof Error ? err : new Error(String(err)));
            return undefined as never;
          }
          failed = true;
          throw err;
        }
      },
      {
        retries: this.options.retries,
        minTimeout: this.options.minTimeoutMs,
        maxTimeout: this.options.maxTimeoutMs,
        factor: this.options.factor,
        randomize: true,
        onRetry: () => {
          this.retried++;
        },
      },
    );
  }
}

function patchLanded(doc: LogDocument | null, patch: LogPatch): boolean {
  return doc !== null && Object.entries(patch).every(([field, value]) => jsonEqual(doc[field as keyof LogDocument], value));
}

/** An AtomicStore whose every call is retried on transient errors, without ever applying twice. */
export class RetryingStore implements AtomicStore {
  readonly kind: AtomicStore['kind'];
  readonly multiProcess: boolean;
  readonly fenceField: string | null;

  constructor(private readonly inner: AtomicStore, private readonly policy: RetryPolicy) {
    this.kind = inner.kind;
    this.multiProcess = inner.multiProcess;
    this.fenceField = inner.fenceField;
  }

  adopt(models: readonly WaterlineModel[]): void {
    this.inner.adopt(models);
  }

  setup(): Promise<void> {
    return this.policy.run(() => this.inner.setup());
  }

  sumCandidates(request: SumCandidatesRequest): Promise<SumCandidates> {
    return this.policy.run(() => this.inner.sumCandidates(request));
  }

  sum(model: string, field: string, where: Where): Promise<number> {
    return this.policy.run(() => this.inner.sum(model, field, where));
  }


  insertLog(doc: LogDocument): Promise<boolean> {
    return this.policy.run(async (afterFailure) => {
      if (await this.inner.insertLog(doc)) return true;
      // Refused after a failed try: our own first insert may have landed.
      if (!afterFailure) return false;
      const stored = await this.inner.getLog(doc.id);
      return stored !== null && stored.owner === doc.owner && stored.startedAt === doc.startedAt;
    });
  }

  getLog(id: string): Promise<LogDocument | null> {
    return this.policy.run(() => this.inner.getLog(id));
  }

  updateLog(id: string, guard: LogGuard, patch: LogPatch): Promise<boolean> {
    return this.policy.run(async (afterFailure) => {
      if (await this.inner.updateLog(id, guard, patch)) return true;
      return afterFailure && patchLanded(await this.inner.getLog(id), patch);
    });
  }

  findExpiredLogs(states: readonly TxState[], leaseBefore: number, limit: number): Promise<LogDocument[]> {
    return this.policy.run(() => this.inner.findExpiredLogs(states, leaseBefore, limit));
  }

  findCommittedTouching(key: string): Promise<LogDocument[]> {
    return this.policy.run(() => this.inner.findCommittedTouching(key));
  }

  /**
   * After a failed try, some locks may have landed: a lock refused now counts as ours when it
   * carries our owner at our epoch — a lock of the same (keyed, reopened) transaction id at an
   * older epoch is an earlier attempt's, not ours — and, when the call carries a grant, that
   * grant: an earlier round's lock of the same owner and epoch is one that round's give-back may
   * still free (AtomicStore.deleteLocks). One call's locks share owner, epoch and grant.
   */
  insertLocks(locks: readonly LockDocument[]): Promise<Set<string>> {
    return this.policy.run(async (afterFailure) => {
      const got = await this.inner.insertLocks(locks);
      if (!afterFailure || got.size === locks.length) return got;
      const { owner, epoch, grant } = locks[0];
      const missing = locks.filter((lock) => !got.has(lock.id)).map((lock) => lock.id);
      for (const found of await this.inner.findLocks(missing)) {
        if (found.owner === owner && found.epoch === epoch && (grant === undefined || found.grant === grant)) got.add(found.id);
      }
      return got;
    });
  }

  findLocks(ids: readonly string[]): Promise<LockDocument[]> {
    return this.policy.run(() => this.inner.findLocks(ids));
  }

  renewLocks(owner: string, epoch: number, leaseUntil: number): Promise<void> {
    return this.policy.run(() => this.inner.renewLocks(owner, epoch, leaseUntil));
  }

  findExpiredLocks(leaseBefore: number, limit: number, skipPrefix?: string): Promise<LockDocument[]> {
    return this.policy.run(() => this.inner.findExpiredLocks(leaseBefore, limit, skipPrefix));
  }

  /** Safe to retry: a delete at an epoch (and grant) spares whatever a later holder (or round) took meanwhile. */
  deleteLocks(owner: string, epoch: number, ids?: readonly string[], grant?: string): Promise<void> {
    return this.policy.run(() => this.inner.deleteLocks(owner, epoch, ids, grant));
  }

  serverTime(): Promise<number> {
    return this.policy.run(() => this.inner.serverTime());
  }

  fenceLocks(txId: string, epoch: number): Promise<void> {
    return this.policy.run(() => this.inner.fenceLocks(txId, epoch));
  }

  /** Read-only: a retry reads again. */
  readView(requests: readonly ViewRequest[]): Promise<StoreView> {
    return this.policy.run(() => this.inner.readView(requests));
  }

  findLateInserts(fences: ReadonlyMap<string, string>): Promise<Set<string>> {
    return this.policy.run(() => this.inner.findLateInserts(fences));
  }

  /** Fenced writes are idempotent under their fence: a retry after a lost reply re-applies the same images. */
  writeDocuments(writes: readonly FencedWrite[], fence: Fence): Promise<void> {
    return this.policy.run(() => this.inner.writeDocuments(writes, fence));
  }
}
