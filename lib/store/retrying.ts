/**
 * Transient adapter errors — a dropped connection, a pool that timed out, a write conflict —
 * are retried (bounded attempts, jittered exponential backoff, with async-retry); every other
 * error fails fast. Only idempotent calls are re-sent as they are; the store wrapper below
 * (retryingStore, made from the AtomicStore contract) makes the non-idempotent ones safe by
 * checking, after an ambiguous failure, whether the first try landed.
 */
import retry = require('async-retry');
import { TransactError } from '../core/errors';
import { jsonEqual } from '../core/json';
import type { AtomicStore } from './';
import type { LogDocument, LogPatch } from '../core/types';

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

type Contract = AtomicStore;
/** The contract's methods (its other members, kind, multiProcess and fenceField, are plain values). */
type Method = { [K in keyof Contract]: Contract[K] extends (...args: never[]) => unknown ? K : never }[keyof Contract];
/** The methods that answer synchronously: there is no failed promise to retry. */
type SyncMethod = { [K in Method]: ReturnType<Contract[K]> extends PromiseLike<unknown> ? never : K }[Method];
type AsyncMethod = Exclude<Method, SyncMethod>;

/**
 * The methods not retried, each with why. Every synchronous method must be listed (the compiler
 * checks it): a method the contract gains is retried, unless it is deliberately listed here.
 */
const NOT_RETRIED = {
  adopt: 'synchronous: it prepares the models in memory, and has no failure a retry could mend',
} as const satisfies Record<SyncMethod, string> & Partial<Record<Method, string>>;

/**
 * The calls a plain re-send would get wrong: a non-idempotent one whose first try may have landed
 * with only its reply lost. Each runs inside the retry policy, told whether an earlier try failed,
 * and then checks what landed. Every other method is idempotent (or read-only) and simply sent again.
 */
type Checked = { [K in AsyncMethod]?: (inner: Contract, afterFailure: boolean, ...args: Parameters<Contract[K]>) => ReturnType<Contract[K]> };
const CHECKED: Checked = {
  async insertLog(inner, afterFailure, doc) {
    if (await inner.insertLog(doc)) return true;
    // Refused after a failed try: our own first insert may have landed.
    if (!afterFailure) return false;
    const stored = await inner.getLog(doc.id);
    return stored !== null && stored.owner === doc.owner && stored.startedAt === doc.startedAt;
  },

  async updateLog(inner, afterFailure, id, guard, patch) {
    if (await inner.updateLog(id, guard, patch)) return true;
    return afterFailure && patchLanded(await inner.getLog(id), patch);
  },

  /**
   * After a failed try, some locks may have landed: a lock refused now counts as ours when it
   * carries our owner at our epoch — a lock of the same (keyed, reopened) transaction id at an
   * older epoch is an earlier attempt's, not ours — and, when the call carries a grant, that
   * grant: an earlier round's lock of the same owner and epoch is one that round's give-back may
   * still free (AtomicStore.deleteLocks). One call's locks share owner, epoch and grant.
   */
  async insertLocks(inner, afterFailure, locks) {
    const got = await inner.insertLocks(locks);
    if (!afterFailure || got.size === locks.length) return got;
    const { owner, epoch, grant } = locks[0];
    const missing = locks.filter((lock) => !got.has(lock.id)).map((lock) => lock.id);
    for (const found of await inner.findLocks(missing)) {
      if (found.owner === owner && found.epoch === epoch && (grant === undefined || found.grant === grant)) got.add(found.id);
    }
    return got;
  },
};

function isMethod(name: string | symbol, table: object): boolean {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(table, name);
}

/**
 * An AtomicStore whose every call is retried on transient errors, without ever applying twice:
 * made from the contract, not restated method by method. Each async method of `inner` is run
 * through the policy — plainly re-sent where the contract says a re-send is safe (reads; deletes
 * and renewals at an epoch; fenced writes, idempotent under their fence: AtomicStore), or with
 * its landing checked (CHECKED) — except the few NOT_RETRIED. Values (kind, multiProcess,
 * fenceField, stats) are read from `inner`. The retrying store is an object of its own whose
 * prototype is that view of `inner`: a property set on it (a test's counter around a method)
 * stays on it, outside the retries, and `inner` is never changed through it.
 */
export function retryingStore(inner: AtomicStore, policy: RetryPolicy): AtomicStore {
  /** Per method name: the function last read from `inner`, and its retrying wrapper. */
  const wrapped = new Map<string, { method: unknown; retrying: (...args: unknown[]) => unknown }>();
  const wrap = (name: string, method: (...args: unknown[]) => unknown): ((...args: unknown[]) => unknown) => {
    if (isMethod(name, NOT_RETRIED)) return (...args) => method.apply(inner, args);
    const checked = isMethod(name, CHECKED) ? (CHECKED[name as AsyncMethod] as (inner: Contract, afterFailure: boolean, ...args: unknown[]) => Promise<unknown>) : undefined;
    if (checked !== undefined) return (...args) => policy.run((afterFailure) => checked(inner, afterFailure, ...args));
    return (...args) => policy.run(() => method.apply(inner, args) as Promise<unknown>);
  };
  const view = new Proxy(inner, {
    get(target, name) {
      const value: unknown = Reflect.get(target, name);
      // Only the store's own methods: not `constructor`, `toString` and the like.
      if (typeof value !== 'function' || typeof name !== 'string' || name in Object.prototype) return value;
      let entry = wrapped.get(name);
      if (entry?.method !== value) wrapped.set(name, (entry = { method: value, retrying: wrap(name, value as (...args: unknown[]) => unknown) }));
      return entry.retrying;
    },
    // A set through the retrying store defines the property on the retrying store itself (the receiver).
    set(_target, name, value, receiver) {
      return Reflect.defineProperty(receiver as object, name, { value, writable: true, enumerable: true, configurable: true });
    },
  });
  return Object.create(view) as AtomicStore;
}
