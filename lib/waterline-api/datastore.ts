/**
 * `datastore.transaction(during)` run by the engine: `during` gets an engine connection, its model
 * calls `.usingConnection(db)` run inside one engine interactive transaction, which commits when
 * `during` returns and rolls back (every write compensated) when it throws.
 */
import type { TransactionOptions } from '../core/validation';
import type { Transaction } from '../engine/transaction';
import { isUniqueViolation } from '../core/waterline';
import { EngineConnection, NativeAmbientConnection } from './connection';

/** Runs `work` as one engine interactive transaction (Engine.interactive). */
export type RunInteractive = <T>(work: (tx: Transaction) => Promise<T>, options?: TransactionOptions) => Promise<T>;

/** `async (db) => …`, or Waterline's older callback style `(db, proceed) => …`. */
export type During = (db: EngineConnection | unknown, proceed?: (err?: unknown, result?: unknown) => void) => unknown;

type Callback = (err?: unknown, result?: unknown) => void;

/** What Waterline's `datastore.transaction()` returns: a deferred that runs when awaited or exec'd. */
export interface TransactionDeferred extends PromiseLike<unknown> {
  /** Waterline's meta; `meta.transact` may carry the engine's options (label, idempotencyKey, lockTimeoutMs). */
  meta(meta: Record<string, unknown>): TransactionDeferred;
  exec(callback: Callback): void;
  catch(onRejected: (reason: unknown) => unknown): Promise<unknown>;
}

function callDuring(during: During, db: unknown): Promise<unknown> {
  // Waterline tells the styles apart by a second parameter; so does this.
  if (during.length < 2) return Promise.resolve().then(() => during(db));
  return new Promise((resolve, reject) => {
    const returned = during(db, (err, result) => (err ? reject(err) : resolve(result)));
    if (returned instanceof Promise) returned.catch(reject);
  });
}

/**
 * The error the transaction reports. When the callback's error is a failed statement's — as is,
 * or wrapped by Waterline (`AdapterError`, whose `raw` it is) or by a driver (`cause`) — the
 * statement's own error, so that `err.code` says what happened (e.g. `unsupported_query`);
 * except a unique violation, which Waterline already names (`E_UNIQUE`).
 */
function reported(err: unknown, failure: unknown): unknown {
  if (failure === undefined) return err;
  // A unique violation stays Waterline's own `E_UNIQUE` (the engine's already_exists is its `raw`):
  // what Waterline reports outside a transaction and inside sails-postgresql's own.
  if (isUniqueViolation(err)) return err;
  // Waterline keeps the adapter's error as `raw`, a driver's exit as `raw.error`, flaverr as `cause`.
  let layer: unknown[] = [err];
  for (let depth = 0; depth < 4 && layer.length > 0; depth++) {
    if (layer.includes(failure)) return failure;
    layer = layer.flatMap((current) => {
      if (typeof current !== 'object' || current === null) return [];
      const { raw, cause, error } = current as { raw?: unknown; cause?: unknown; error?: unknown };
      return [raw, cause, error];
    });
  }
  return err;
}

/** The ambient transaction (lib/waterline-api/ambient.ts), as `transaction` uses it. */
export interface AmbientScope {
  /** Throws when called inside an ambient transaction (or what an ended one left running). */
  refuseNested(what: string): void;
  /** Runs the callback with `db` as the ambient transaction: its model calls join without `.usingConnection(db)`. */
  within<T>(db: EngineConnection | NativeAmbientConnection, work: () => Promise<T>): Promise<T>;
}

/** Builds the `transaction` method of the datastore named `datastore` (`ambient`: config.transact.ambient). */
export function engineTransactionMethod(run: RunInteractive, datastore: string, ambient?: AmbientScope) {
  return function transaction(during: During, explicitCallback?: Callback, meta?: Record<string, unknown>): TransactionDeferred | undefined {
    let options: TransactionOptions | undefined = transactOptions(meta);
    let started: Promise<unknown> | undefined;
    const start = (): Promise<unknown> => {
      started ??= (async () => {
        if (typeof during !== 'function') throw new TypeError('datastore.transaction(during): `during` must be a function');
        ambient?.refuseNested('datastore.transaction()');
        return run(async (tx) => {
          const db = new EngineConnection(tx, datastore);
          let result: unknown;
          try {
            result = await (ambient === undefined ? callDuring(during, db) : ambient.within(db, () => callDuring(during, db)));
          } catch (err) {
            db.end();
            throw reported(err, db.failure);
          }
          await db.settle();
          return result;
        }, options);
      })();
      return started;
    };
    return deferredOf(start, (given) => {
      options = transactOptions(given);
    }, explicitCallback);
  };
}

/**
 * Waterline's deferred over `start` (which runs once, at the first exec/then/catch): `.meta()`
 * hands its meta to `onMeta` first; with an explicit callback it runs at once and returns nothing.
 */
function deferredOf(start: () => Promise<unknown>, onMeta: (meta: Record<string, unknown>) => void, explicitCallback: Callback | undefined): TransactionDeferred | undefined {
  const deferred: TransactionDeferred = {
    meta(given) {
      onMeta(given);
      return deferred;
    },
    exec(callback) {
      start().then(
        (result) => callback(undefined, result),
        (err: unknown) => callback(err),
      );
    },
    then(onFulfilled, onRejected) {
      return start().then(onFulfilled, onRejected);
    },
    catch(onRejected) {
      return start().catch(onRejected);
    },
  };
  if (explicitCallback !== undefined) {
    deferred.exec(explicitCallback);
    return undefined;
  }
  return deferred;
}

function transactOptions(meta: Record<string, unknown> | undefined): TransactionOptions | undefined {
  const given = meta?.transact;
  return typeof given === 'object' && given !== null ? (given as TransactionOptions) : undefined;
}

/** sails-postgresql's own `datastore.transaction` (sails-hook-orm's RDI method). */
export type NativeTransactionMethod = (during: During, explicitCallback?: Callback, meta?: Record<string, unknown>) => PromiseLike<unknown> | undefined;

/**
 * sails-postgresql's own `datastore.transaction()` (kept with `waterlineTransactions: 'native'`),
 * with ambient transactions (config.transact.ambient): `during` runs with the client it leased
 * and began as the ambient transaction, so that model calls made without `.usingConnection(db)` —
 * a helper, `Promise.all`, a lifecycle callback, createEach/findOrCreate — run on it
 * (./adapter.ts); statements still running when `during` returns are waited for before the
 * commit; later ones are refused (`transaction_ended`). Refused inside an ambient transaction
 * (`nested_transaction`: it would lease a second client and commit on its own), before any
 * client is leased. The deferred is the engine's (`meta`, `exec`, `then`, `catch`).
 */
export function nativeAmbientTransactionMethod(original: NativeTransactionMethod, self: unknown, datastore: string, ambient: AmbientScope) {
  return function transaction(during: During, explicitCallback?: Callback, meta?: Record<string, unknown>): TransactionDeferred | undefined {
    let given = meta;
    let started: Promise<unknown> | undefined;
    const start = (): Promise<unknown> => {
      started ??= (async () => {
        if (typeof during !== 'function') throw new TypeError('datastore.transaction(during): `during` must be a function');
        ambient.refuseNested('datastore.transaction()');
        // A promise-style callback, as sails-hook-orm tells them (an async function, one parameter).
        const joined = async (db: unknown): Promise<unknown> => {
          const connection = new NativeAmbientConnection(db, datastore);
          let result: unknown;
          try {
            result = await ambient.within(connection, () => callDuring(during, db));
          } catch (err) {
            connection.end();
            throw err;
          }
          await connection.settle();
          return result;
        };
        // An explicit callback: the error `during` threw comes back as it is (parley's promise
        // would wrap a plain Error in bluebird's OperationalError).
        return new Promise((resolve, reject) => {
          original.call(self, joined, (err, result) => (err ? reject(err) : resolve(result)), given);
        });
      })();
      return started;
    };
    return deferredOf(start, (next) => {
      given = next;
    }, explicitCallback);
  };
}
