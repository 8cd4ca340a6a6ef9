/**
 * The `db` a `datastore.transaction(async (db) => …)` callback gets when the engine runs it: a
 * token bound to one engine interactive transaction. Model calls given it with
 * `.usingConnection(db)` reach the adapter with `meta.leasedConnection === db`, and the wrapped
 * adapter (./adapter.ts) sends them through the transaction instead.
 *
 * It also keeps PostgreSQL's rule for a transaction's statements: one that failed aborts the
 * whole transaction, even if the callback caught its error — so a statement that failed halfway
 * (some documents written, not all) can never be committed.
 */
import { TransactError } from '../core/errors';
import type { AfterCommit, AfterRollback } from '../engine/outcome-hooks';
import type { Transaction } from '../engine/transaction';

/**
 * Recognizes a token by a registered symbol, not by class: Sails may load the hook's modules
 * twice (it clears the require cache of user hooks), and two copies have two classes.
 */
const BRAND = Symbol.for('sails-hook-transact.engine-connection');

export class EngineConnection {
  readonly [BRAND] = true;
  private ended = false;
  /** The first statement that failed: the transaction must not commit. */
  private failed: { error: unknown } | undefined;
  private readonly running = new RunningStatements();

  constructor(
    private readonly tx: Transaction,
    /** The datastore whose models this transaction may touch. */
    readonly datastore: string,
  ) {}

  /**
   * Waterline deep-copies a populate's child queries, `meta.leasedConnection` included (lodash's
   * cloneDeep, utils/query/help-find.js). A copy of the token would lose its brand and reach the
   * real adapter: sails-mongo fails (`db.collection is not a function`), sails-disk reads outside
   * the transaction (missing its own writes under log protocol v3). lodash keeps an object whose
   * tag it cannot clone as the same reference, so with this tag every copy is the token itself.
   */
  get [Symbol.toStringTag](): string {
    return 'EngineConnection';
  }

  /** The engine transaction's id: what its log document and history are found by. */
  get transactionId(): string {
    return this.tx.id;
  }

  /**
   * Runs one Waterline statement through the transaction. Refused once the transaction ended
   * (the token outlived its callback, or a statement was started and not awaited).
   */
  run<T>(statement: (tx: Transaction) => Promise<T>): Promise<T> {
    if (this.ended) {
      return Promise.reject(
        new TransactError('transaction_ended', `the connection of transaction ${this.tx.id} was used after that transaction ended; nothing was run (pass a live transaction's db to .usingConnection())`, {
          details: { transaction: this.tx.id },
        }),
      );
    }
    const run = statement(this.tx).catch((err: unknown) => {
      this.failed ??= { error: err };
      throw err;
    });
    return this.running.track(run);
  }

  /**
   * Called when the callback returned: waits for statements still running (started and not
   * awaited), then ends the token and throws the first failure, if any.
   */
  async settle(): Promise<void> {
    await this.running.over();
    this.ended = true;
    if (this.failed !== undefined) throw this.failed.error;
  }

  /** The engine transaction's `afterCommit` (lib/engine/transaction.ts): `fn` runs once it has committed. */
  afterCommit(fn: AfterCommit): void {
    this.refuseEnded('afterCommit');
    this.tx.afterCommit(fn);
  }

  /** The engine transaction's `afterRollback`: `fn(err)` runs once it is rolled back for good. */
  afterRollback(fn: AfterRollback): void {
    this.refuseEnded('afterRollback');
    this.tx.afterRollback(fn);
  }

  private refuseEnded(kind: string): void {
    if (this.ended) throw new TransactError('transaction_ended', `the connection of transaction ${this.tx.id} was used after that transaction ended; ${kind} was not registered`, { details: { transaction: this.tx.id } });
  }

  /** Whether the transaction's callback is over: every later statement is refused. */
  get isEnded(): boolean {
    return this.ended;
  }

  /** The first statement's failure, if one failed. */
  get failure(): unknown {
    return this.failed?.error;
  }

  /** Ends the token without waiting (the callback threw: the transaction rolls back anyway). */
  end(): void {
    this.ended = true;
  }

  /**
   * A node-postgres client's face, so that `datastore.sendNativeQuery(sql).usingConnection(db)`
   * fails with this error instead of running on some other connection, outside the transaction.
   */
  query(_sql: unknown, _bindings: unknown, callback: (err: Error) => void): void {
    const refusal = new TransactError('unsupported_query', 'a native query cannot run inside an engine transaction (the engine cannot lock, log or undo what it writes); nothing was run');
    this.failed ??= { error: refusal };
    callback(refusal);
  }

  /** Part of the same face: releasing is the transaction's business. */
  release(): void {
    // Nothing to release: the engine owns the transaction's resources.
  }
}

export function isEngineConnection(value: unknown): value is EngineConnection {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

const NATIVE_BRAND = Symbol.for('sails-hook-transact.native-ambient-connection');
let nativeCount = 0;

/**
 * sails-postgresql's own transaction (`datastore.transaction()` left to it:
 * `waterlineTransactions: 'native'`) as the ambient transaction (lib/waterline-api/ambient.ts): the client it
 * leased and began, which a model call made without `.usingConnection(db)` is given
 * (./adapter.ts), and its end. A PostgreSQL transaction, not an engine one: no log, no engine
 * locks; PostgreSQL's own row locks and rollback. Like the engine's `db`: statements still running
 * when the callback returns are waited for before the commit, later ones are refused.
 */
export class NativeAmbientConnection {
  readonly [NATIVE_BRAND] = true;
  private ended = false;
  private readonly running = new RunningStatements();
  /** A name for messages (PostgreSQL's transaction has no id the app sees). */
  readonly transactionId = `postgresql#${++nativeCount}`;

  constructor(
    /** The node-postgres client sails-postgresql leased for the transaction (its `db`). */
    readonly client: unknown,
    /** The datastore whose models may run on it. */
    readonly datastore: string,
  ) {}

  /** Tracks one statement running on the client, so that settle() waits for it. */
  track<T>(statement: Promise<T>): Promise<T> {
    return this.running.track(statement);
  }

  /** The callback returned: waits for statements still running, then ends. */
  async settle(): Promise<void> {
    await this.running.over();
    this.ended = true;
  }

  /** Ends without waiting (the callback threw: PostgreSQL rolls back). */
  end(): void {
    this.ended = true;
  }

  get isEnded(): boolean {
    return this.ended;
  }
}

export function isNativeAmbientConnection(value: unknown): value is NativeAmbientConnection {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[NATIVE_BRAND] === true;
}

/** Statements started on a transaction's connection and not over yet: what its end waits for. */
class RunningStatements {
  private readonly statements = new Set<Promise<unknown>>();

  /** Returns `statement` itself: the caller sees its outcome; the tracked copy only says when it is over. */
  track<T>(statement: Promise<T>): Promise<T> {
    const tracked = statement.finally(() => this.statements.delete(tracked));
    tracked.catch(() => undefined);
    this.statements.add(tracked);
    return statement;
  }

  /** Waits until none runs, those started meanwhile included. */
  async over(): Promise<void> {
    while (this.statements.size > 0) await Promise.allSettled([...this.statements]);
  }
}
