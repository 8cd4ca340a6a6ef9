/**
 * The ambient transaction (`config.transact.ambient: true`): inside `sails.transact(async (tx) =>
 * …)` and `datastore.transaction(async (db) => …)`, a Waterline model call made without
 * `.usingConnection(db)` — in a helper, a lifecycle callback, a `Promise.all` — joins the
 * transaction. The transaction's connection (./waterline-api/connection.ts) is kept in one
 * AsyncLocalStorage, owned by the hook instance (two Sails apps in one process never see each
 * other's transactions); the wrapped adapters (./waterline-api/adapter.ts) read it when a query
 * names no connection.
 *
 * Three rules keep the context from going where it must not:
 *
 * * The engine's own work never runs in it. The engine writes the log, the locks and the app's
 *   documents through Waterline too: had those calls joined the transaction that asked for them,
 *   a write would lock behind itself. Every way into the engine from the app's code (a statement,
 *   a `tx.*` call, `sails.hooks.transact.engine`) runs outside it (`outside`, `detached`).
 * * An adapter's callback returns to its caller's context (`bind`), not to whichever query a
 *   driver's pool or queue happened to be finishing (how CLS lost or swapped transactions).
 * * A leftover of an ended transaction (a timer, a callback) keeps its context: its model calls
 *   are refused (`transaction_ended`), never run outside, and so is a transaction it starts.
 */
import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import { TransactError } from '../core/errors';
import type { Transaction } from '../engine/transaction';
import { EngineConnection, type NativeAmbientConnection } from './connection';

/** An ambient transaction: the engine's (`sails.transact`, the engine's `datastore.transaction()`) or sails-postgresql's own. */
export type AmbientConnection = EngineConnection | NativeAmbientConnection;

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** `.meta({ transact: 'outside' })`: this one model call runs outside the ambient transaction. */
export const OUTSIDE = 'outside';

export class AmbientTransactions {
  private readonly scope = new AsyncLocalStorage<AmbientConnection | undefined>();
  private readonly views = new WeakMap<object, object>();

  /** The connection of the transaction the caller runs in (an ended one too: its use is refused). */
  current(): AmbientConnection | undefined {
    return this.scope.getStore();
  }

  /**
   * Refuses to start a transaction inside an ambient one: it would commit on its own whatever the
   * outer one then does — a write that escapes the rollback, the very thing ambient is for. Inside
   * the leftovers of an ended one, `transaction_ended`. `outside(...)` starts one on purpose.
   */
  refuseNested(what: string): void {
    const current = this.current();
    if (current === undefined) return;
    const details = { transaction: current.transactionId };
    if (current.isEnded) {
      throw new TransactError('transaction_ended', `${what} was called by code that transaction ${current.transactionId} scheduled and that ran after it ended; nothing was run (use sails.hooks.transact.outside(...) for work meant to run on its own)`, { details });
    }
    throw new TransactError('nested_transaction', `${what} inside the ambient transaction ${current.transactionId}: it would commit on its own, whatever that one does; nothing was run (do its work in the outer transaction, or start it in sails.hooks.transact.outside(...))`, { details });
  }

  /**
   * Runs the app's callback of transaction `tx` with a connection to it as the ambient
   * transaction: every model call it starts, however scheduled, joins. The callback gets a
   * detached `tx`. Like `datastore.transaction()`, statements still running when it returns are
   * waited for; one that failed fails the transaction; later use is `transaction_ended`.
   */
  async join<T>(tx: Transaction, datastore: string, work: (tx: Transaction) => Promise<T>): Promise<T> {
    const db = new EngineConnection(tx, datastore);
    let result: T;
    try {
      result = await this.within(db, () => work(this.detached(tx)));
    } catch (err) {
      db.end();
      throw err;
    }
    await db.settle();
    return result;
  }

  /** Runs `work` with `db` as the ambient transaction. */
  within<T>(db: AmbientConnection, work: () => Promise<T>): Promise<T> {
    return this.scope.run(db, work);
  }

  /**
   * Runs `work`, and everything it starts, with no ambient transaction. `run(undefined)`, not
   * `exit()`: on Node 20 `exit` switches the storage off while `work` runs, so the promises it
   * creates are not tracked and resume in the caller's context (measured: the engine's commit
   * then joined the transaction that called it).
   */
  outside<T>(work: () => T): T {
    return this.scope.run(undefined, work);
  }

  /**
   * `outside` for the app (`sails.hooks.transact.outside`): a Waterline query is a lazy deferred
   * that runs when awaited, so it is started here, inside, rather than by the caller's `await`.
   */
  async runOutside<T>(work: () => T | PromiseLike<T>): Promise<T> {
    return this.outside(() => {
      const result = work();
      return isThenable(result) ? new Promise<T>((resolve, reject) => result.then(resolve, reject)) : Promise.resolve(result);
    });
  }

  /** `callback`, called back in the context it was made in (a driver's pool may call it from another's). */
  bind<A extends unknown[], R>(callback: (...args: A) => R): (...args: A) => R {
    return AsyncResource.bind(callback);
  }

  /**
   * A view of `target` whose methods run outside the ambient transaction, and whose object
   * properties are views too (`engine.reads.findOne`). Methods are applied to the object itself,
   * so private state and `instanceof` are unchanged.
   */
  detached<T extends object>(target: T): T {
    const known = this.views.get(target);
    if (known !== undefined) return known as T;
    const view = new Proxy(target, {
      get: (object, key) => {
        const value: unknown = Reflect.get(object, key, object);
        if (typeof value === 'function') {
          return (...args: unknown[]): unknown => this.outside(() => (value as (...given: unknown[]) => unknown).apply(object, args));
        }
        return typeof value === 'object' && value !== null && !(value instanceof Promise) ? this.detached(value) : value;
      },
    });
    this.views.set(target, view);
    return view;
  }
}
