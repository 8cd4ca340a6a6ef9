/**
 * The handle an interactive transaction's callback works through. Each write locks its
 * document, appends its step (with the before-image) to the log, and only then writes:
 * the log always knows at least as much as the database, so recovery can undo it.
 */
import { crashPoint } from './crash-points';
import type { Documents } from './documents';
import { TransactError } from './errors';
import { newId } from './ids';
import type { Lease } from './lease';
import { touchedDocuments } from './log';
import type { Locks } from './locks';
import type { ModelInfo } from './model-info';
import { documentKey, forwardAction, planOperation } from './operations';
import { checkAgainstModel, validateOperation } from './schema';
import type { Image, Operation, Step, Values } from './types';

export interface TransactionContext {
  locks: Locks;
  documents: Documents;
  lease: Lease;
  infoOf: (model: string) => ModelInfo | undefined;
  lockTimeoutMs: number;
}

export interface IncrementBounds {
  min?: number;
  max?: number;
}

export class Transaction {
  private readonly images = new Map<string, Image | null>();
  private written: Step[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private open = true;

  constructor(readonly id: string, private readonly context: TransactionContext) {}

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

  async destroy(model: string, id: string): Promise<void> {
    await this.write({ op: 'destroy', model, id });
  }

  /** Runs one operation given as data (the same shape as a batch's). */
  async apply(operation: Operation): Promise<void> {
    await this.write(operation);
  }

  /** Ends the handle's life: calls after the callback returned are refused. */
  close(): void {
    this.open = false;
  }

  /** Operations of one transaction run one at a time, in call order, even if not awaited. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    if (!this.open) return Promise.reject(new TransactError('aborted', `transaction ${this.id} has already ended`));
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async lock(info: ModelInfo, id: string): Promise<Image | null> {
    const key = documentKey(info.identity, id);
    if (!this.images.has(key)) {
      await this.context.locks.acquire([key], this.id, this.context.lockTimeoutMs);
      crashPoint('tx:locked');
      const images = await this.context.documents.readImages([{ model: info.identity, id }]);
      this.images.set(key, images.get(key) ?? null);
    }
    return this.images.get(key) ?? null;
  }

  private write(input: Operation): Promise<Image | null> {
    return this.serial(async () => {
      const operation = validateOperation(input, 'op');
      const info = checkAgainstModel(operation, this.context.infoOf, 'op');
      const id = operation.id as string;
      const current = await this.lock(info, id);
      const step = planOperation(operation, current, info, this.written.length, Date.now(), 'op');
      const { lease } = this.context;
      lease.assertHeld();
      const steps = [...this.written, step];
      if (!(await lease.writeLog({ states: ['pending'], owner: lease.owner }, { steps, documents: touchedDocuments(steps), leaseUntil: lease.renewal() }))) {
        lease.markLost();
        lease.assertHeld();
      }
      this.written = steps;
      crashPoint('tx:logged');
      await this.context.documents.apply(forwardAction(step, info));
      crashPoint('tx:applied');
      this.images.set(documentKey(info.identity, id), step.after);
      return structuredClone(step.after);
    });
  }
}
