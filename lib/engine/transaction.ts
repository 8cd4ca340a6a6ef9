/**
 * The handle an interactive transaction's callback works through. Each write locks its
 * document, appends its step (with the before-image) to the log, and only then writes, fenced:
 * the log always knows at least as much as the database, so recovery can undo it, and a write
 * from an owner that lost the transaction is refused by the datastore.
 *
 * Calls run one at a time in call order, awaited or not. When the callback returns, the engine
 * waits for every call still running; a call that failed without the callback ever looking at
 * its outcome fails the transaction (never a commit without one of its writes).
 */
import { crashPoint } from '../core/crash-points';
import type { Documents } from '../protocol/documents';
import { TransactError } from '../core/errors';
import { newId } from '../core/ids';
import type { Lease } from '../protocol/lease';
import type { Locks } from '../protocol/locks';
import type { ModelInfo } from '../core/model-info';
import { documentKey, forwardAction, planOperation } from '../core/operations';
import { type AfterCommit, type AfterRollback, type HookKind, OutcomeHooks } from './outcome-hooks';
import { checkNotReferenced, checkReferences, type ReferenceContext } from './references';
import { checkAgainstModel, validateOperation } from '../core/validation';
import type { Image, Operation, Step, Values } from '../core/types';
import type { TxBackend } from '../store/contract';

export interface TransactionContext {
  backend: TxBackend;
  infoOf: (model: string) => ModelInfo | undefined;
  now: () => number;
  /** How references are checked (lib/references.ts); without it, they are not. */
  references?: ReferenceContext;
}

/** The log protocol: lock records, each step appended to the log (guarded by the lease) before its fenced write. */
export class LoggedWrites implements TxBackend {
  constructor(
    private readonly txId: string,
    private readonly locks: Locks,
    private readonly documents: Documents,
    private readonly lease: Lease,
    private readonly lockTimeoutMs: number,
  ) {}

  async lock(info: ModelInfo, id: string): Promise<{ image: Image | null; fence?: string | null }> {
    const key = documentKey(info.identity, id);
    await this.locks.acquire([key], this.txId, this.lease.fence.epoch, this.lockTimeoutMs);
    const { images, fences } = await this.documents.read([{ model: info.identity, id }]);
    return fences.has(key) ? { image: images.get(key) ?? null, fence: fences.get(key) ?? null } : { image: images.get(key) ?? null };
  }

  async record(steps: readonly Step[]): Promise<void> {
    const { lease } = this;
    lease.assertHeld();
    // Every step before the last was recorded by an append that succeeded (Transaction.writeStep).
    if (!(await lease.writeSteps(steps, steps.length - 1))) {
      lease.markLost();
      lease.assertHeld();
    }
  }

  apply(step: Step, info: ModelInfo): Promise<void> {
    return this.documents.write([{ action: forwardAction(step, info), fenceBefore: step.fence ?? null }], this.lease.fence);
  }
}

export interface IncrementBounds {
  min?: number;
  max?: number;
}

/**
 * A call's promise that knows whether anyone looked at its outcome (`await`, `then`, `catch`):
 * `await` on a Promise subclass goes through its `then`.
 */
class TrackedCall<T> extends Promise<T> {
  observed = false;

  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }

  override then<A = T, B = never>(ok?: ((value: T) => A | PromiseLike<A>) | null, ko?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    this.observed = true;
    return super.then(ok, ko);
  }
}

interface CallRecord {
  promise: TrackedCall<unknown>;
  settled: boolean;
  error: unknown;
  failed: boolean;
}

export class Transaction {
  private readonly images = new Map<string, Image | null>();
  private readonly fences = new Map<string, string | null>();
  private written: Step[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private readonly calls: CallRecord[] = [];
  private open = true;
  /**
   * A write failed after its step was logged (the document may or may not show it), or a step
   * append failed (the log may or may not hold it): only a rollback is safe.
   */
  private broken: unknown;
  /** What afterCommit / afterRollback registered: the engine runs them once the outcome is known (lib/engine/outcome-hooks.ts). */
  readonly hooks = new OutcomeHooks();

  constructor(readonly id: string, private readonly context: TransactionContext) {}

  /**
   * Runs `fn` once this transaction has committed (the commit point durable, before the caller's
   * promise resolves), after the afterCommit hooks registered before it. Never after a rollback,
   * an outcome_unknown, or a keyed replay; in this process only (not durable). A throw is logged
   * and counted (stats().hookFailures), never the transaction's error.
   */
  afterCommit(fn: AfterCommit): void {
    this.register('afterCommit', fn);
  }

  /** Runs `fn(err)` once this transaction is rolled back for good (the callback threw, a lock wait ran out, …); as afterCommit otherwise. */
  afterRollback(fn: AfterRollback): void {
    this.register('afterRollback', fn);
  }

  private register(kind: HookKind, fn: unknown): void {
    // Once the callback is done the outcome is being decided: a hook added now could miss it.
    if (!this.open) throw new TransactError('transaction_ended', `transaction ${this.id} has already ended: register ${kind} hooks inside its callback`, { details: { transaction: this.id } });
    this.hooks.add(kind, fn);
  }

  /** The backend's connection inside this transaction, if it has one (TxBackend.connection). */
  get connection(): unknown {
    return this.context.backend.connection;
  }

  /** The steps written so far, in order. */
  get steps(): readonly Step[] {
    return this.written;
  }

  /** Reads a document under its lock: no other transaction can change it until this one ends. */
  read(model: string, id: string): Promise<Image | null> {
    return this.serial(async () => {
      const info = this.context.infoOf(model);
      if (info === undefined) throw new TransactError('unknown_model', `no transactional model "${model}"`, { path: 'model' });
      return structuredClone(await this.lock(info, id));
    });
  }

  /** Creates a document; its id is chosen now (or given) so that the log can undo it. */
  create(model: string, values: Values, id: string = newId()): Promise<Image> {
    return this.write({ op: 'create', model, id, values }) as Promise<Image>;
  }

  update(model: string, id: string, set: Values): Promise<Image> {
    return this.write({ op: 'update', model, id, set }) as Promise<Image>;
  }

  /** Adds `by` to a numeric field, failing with `bound_violation` if it would leave the bounds. */
  increment(model: string, id: string, field: string, by: number, bounds: IncrementBounds = {}): Promise<Image> {
    return this.write({ op: 'increment', model, id, field, by, ...bounds }) as Promise<Image>;
  }

  destroy(model: string, id: string): Promise<void> {
    return this.serial(async () => {
      await this.writeStep({ op: 'destroy', model, id });
    });
  }

  /** Runs one operation given as data (the same shape as a batch's). */
  apply(operation: Operation): Promise<void> {
    return this.serial(async () => {
      await this.writeStep(operation);
    });
  }

  /**
   * Runs the transaction's callback on this handle: if it throws, the calls it did not await may
   * still run (and lock, or write): they end before the error goes on, so the caller undoes or
   * frees after them. If it returns, settle() decides whether the transaction may commit.
   */
  async run<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await work(this);
    } catch (err) {
      await this.drain();
      throw err;
    }
    await this.settle();
    return result;
  }

  /**
   * Called by the engine when the callback returned: waits for every call still running, then
   * throws if the transaction must not commit — a write broke after logging, or a call failed
   * and the callback never looked at its outcome.
   */
  async settle(): Promise<void> {
    await this.queue;
    this.open = false;
    if (this.broken !== undefined) throw this.broken;
    const unseen = this.calls.find((call) => call.failed && !call.promise.observed);
    if (unseen !== undefined) throw unseen.error;
  }

  /** Closes the handle and waits for the calls still running (their outcome no longer matters: the transaction is failing). */
  async drain(): Promise<void> {
    this.open = false;
    await this.queue;
  }

  /** Ends the handle's life: calls after the callback returned are refused. */
  close(): void {
    this.open = false;
  }

  /** Operations of one transaction run one at a time, in call order, even if not awaited. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    if (!this.open) return Promise.reject(new TransactError('aborted', `transaction ${this.id} has already ended`));
    const record: CallRecord = { promise: undefined as unknown as TrackedCall<unknown>, settled: false, error: undefined, failed: false };
    const run = this.queue.then(work, work).then(
      (value) => {
        record.settled = true;
        return value;
      },
      (err: unknown) => {
        record.settled = true;
        record.failed = true;
        record.error = err;
        throw err;
      },
    );
    this.queue = run.catch(() => undefined);
    const tracked = new TrackedCall<T>((resolve, reject) => {
      run.then(resolve, reject);
    });
    // The engine handles a rejection nobody awaited (settle() fails the transaction with it).
    Promise.prototype.then.call(tracked, undefined, () => undefined);
    record.promise = tracked as TrackedCall<unknown>;
    this.calls.push(record);
    return tracked;
  }

  private async lock(info: ModelInfo, id: string, create?: Values): Promise<Image | null> {
    const key = documentKey(info.identity, id);
    if (!this.images.has(key)) {
      const { image, fence } = await this.context.backend.lock(info, id, create);
      crashPoint('tx:locked');
      this.images.set(key, image);
      if (fence !== undefined) this.fences.set(key, fence);
    }
    return this.images.get(key) ?? null;
  }

  /** Before anything is logged or written: references exist, a destroyed document is not referenced. */
  private async checkReferences(operation: Operation, info: ModelInfo): Promise<void> {
    const references = this.context.references;
    if (references === undefined) return;
    if (operation.op === 'create' || operation.op === 'update') {
      const values = operation.op === 'create' ? operation.values : operation.set;
      await checkReferences(info, values, `op.${operation.op === 'create' ? 'values' : 'set'}`, async (target, id) => {
        const key = documentKey(target, id);
        if (this.images.has(key)) return this.images.get(key) ?? null;
        const targetInfo = this.context.infoOf(target);
        // Locked until this transaction ends: a destroy of it waits, then finds this reference.
        // With a connection of its own (native path) every target is locked on it (no second connection).
        if (targetInfo !== undefined && (references.destroyable(target) || this.connection !== undefined)) return this.lock(targetInfo, id);
        return references.committed(target, id);
      });
    } else if (operation.op === 'destroy') {
      const referrers = references.referrers(info.identity);
      if (referrers.length === 0) return;
      const local = (model: string, id: string): Image | null | undefined => {
        const key = documentKey(model, id);
        return this.images.has(key) ? this.images.get(key) ?? null : undefined;
      };
      const touched = (model: string): [string, Image | null][] =>
        [...this.images].filter(([key]) => key.startsWith(`${model}:`)).map(([key, image]) => [key.slice(model.length + 1), image]);
      await checkNotReferenced(info, operation.id as string, 'op.id', referrers, references.find, local, touched, this.connection);
    }
  }

  private write(input: Operation): Promise<Image | null> {
    return this.serial(() => this.writeStep(input));
  }

  private async writeStep(input: Operation): Promise<Image | null> {
    if (this.broken !== undefined) throw this.broken;
    const operation = validateOperation(input, 'op');
    const info = checkAgainstModel(operation, this.context.infoOf, 'op');
    const id = operation.id as string;
    const key = documentKey(info.identity, id);
    const current = await this.lock(info, id, operation.op === 'create' ? operation.values : undefined);
    const planned = planOperation(operation, current, info, this.written.length, this.context.now(), 'op');
    await this.checkReferences(operation, info);
    const step: Step = this.fences.has(key) ? { ...planned, fence: this.fences.get(key) ?? null } : planned;
    const steps = [...this.written, step];
    try {
      await this.context.backend.record(steps);
    } catch (err) {
      // The append may have landed (its reply lost): the log may hold a step beyond `written`, and
      // every later append is guarded by the count it extends (Lease.writeSteps), so none could follow.
      this.broken = err;
      throw err;
    }
    this.written = steps;
    crashPoint('tx:logged');
    try {
      await this.context.backend.apply(step, info);
    } catch (err) {
      this.broken = err;
      throw err;
    }
    crashPoint('tx:applied');
    this.images.set(key, step.after);
    return structuredClone(step.after);
  }
}
