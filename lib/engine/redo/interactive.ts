/**
 * Interactive transactions on log protocol v3 (docs/protocol-v3.md): every document the callback
 * touches is held from its first read (R1; an absent one by a stub, so nobody creates it
 * meanwhile), its writes are buffered in the transaction handle — which answers its own reads
 * from them — and nothing reaches a document before the commit point (R3). Then the writes are
 * applied (R4). A callback that throws leaves nothing to undo: its records are freed.
 */
import { crashPoint } from '../../core/crash-points';
import type { InternalOptions } from '../options';
import type { Reopened } from '../idempotency';
import { jsonResult } from '../../core/log-document';
import type { ModelInfo } from '../../core/model-info';
import { documentKey } from '../../core/operations';
import type { TransactionOptions } from '../../core/validation';
import type { TxBackend } from '../../store/contract';
import type { ReferenceContext } from '../references';
import { Transaction } from '../transaction';
import type { Image, Values } from '../../core/types';
import { type RedoAttempts, withVersions } from './attempt';
import type { RecordLocks } from '../../protocol/redo/locks';
import type { DocRecord, RecordLock } from '../../store/records';

/** The handle's backend on v3: locks are records held by the attempt's token; steps wait for the commit. */
export class RecordWrites implements TxBackend {
  /** `model:id` → the record as held: its version is what the apply is guarded by. */
  readonly held = new Map<string, DocRecord>();
  /** The collections held in (the heartbeat renews each). */
  readonly models = new Set<string>();
  /** `model:id` of the records first held for a create and held as its stub: the stub carries the create's unique values (R9). */
  readonly reservedByCreate = new Set<string>();

  constructor(private readonly locks: RecordLocks, private readonly attemptLock: RecordLock, private readonly lockTimeoutMs: number) {}

  async lock(info: ModelInfo, id: string, create?: Values): Promise<{ image: Image | null }> {
    this.models.add(info.identity);
    const acquired = await this.locks.acquire([{ model: info.identity, id, anyState: true, ...(create === undefined ? {} : { create }) }], this.attemptLock, this.lockTimeoutMs);
    for (const record of acquired.held) this.held.set(documentKey(record.model, record.id), record);
    const record = acquired.records.get(documentKey(info.identity, id));
    if (create !== undefined && record?.state === 'reserved') this.reservedByCreate.add(documentKey(info.identity, id));
    return { image: record?.state === 'live' ? record.image : null };
  }

  /** Nothing is logged before the commit point: the steps are the handle's, buffered. */
  async record(): Promise<void> {}

  /** Nothing is written before the commit point: the handle answers its own reads from its steps. */
  async apply(): Promise<void> {}
}

export interface RedoInteractiveContext {
  infoOf: (model: string) => ModelInfo | undefined;
  references: ReferenceContext;
}

export class RedoInteractive {
  constructor(private readonly attempts: RedoAttempts, private readonly ctx: RedoInteractiveContext) {}

  /** One attempt of an interactive transaction (`reopened`: a keyed one run again). */
  async run<T>(txId: string, work: (tx: Transaction) => Promise<T>, options: TransactionOptions, internal: InternalOptions, reopened?: Reopened): Promise<T> {
    const { attempts } = this;
    const attempt = await attempts.begin({ txId, mode: 'interactive', options, print: null, reverses: internal.reverses ?? null, reason: internal.reason ?? null, ...(reopened === undefined ? {} : { reopened }) });
    // Crash points (lib/core/crash-points.ts), as v2's: tx:begun here; tx:locked at each document's
    // first hold, tx:logged and tx:applied at each buffered write (Transaction: nothing reaches the
    // datastore there on v3); commit:sending with the callback done, every record held; tx:committed
    // past the commit point, before the apply (inside it: apply:written on sails-disk, per
    // document, apply:collection on sails-mongo, per collection); tx:released once applied (an
    // apply frees its record in the same write: no point between the two).
    crashPoint('tx:begun');
    const backend = new RecordWrites(attempts.ctx.locks, attempt.lock, options.lockTimeoutMs ?? attempts.ctx.options.lockTimeoutMs);
    const tx = new Transaction(txId, { backend, infoOf: this.ctx.infoOf, now: () => Date.now(), references: this.ctx.references });
    const heartbeat = attempts.heartbeat(attempt, backend.models);
    heartbeat.start();
    let result: T;
    let stored: unknown;
    try {
      result = await tx.run(work);
      await attempts.claimUniqueChanges(attempt, tx.steps, (model) => this.ctx.infoOf(model)?.uniqueKeys ?? [], backend.reservedByCreate);
      stored = attempt.keyed ? jsonResult(result) : null;
    } catch (err) {
      heartbeat.stop();
      throw await attempts.fail(attempt, [...backend.held.values()], err);
    } finally {
      tx.close();
    }
    heartbeat.stop();
    const held = [...backend.held.values()];
    const steps = withVersions(tx.steps, backend.held);
    // A transaction that wrote nothing leaves no log (keyed ones and reversals excepted), as on v2.
    if (steps.length === 0 && !attempt.keyed && internal.reverses === undefined) {
      await attempts.ctx.locks.free(held).catch(() => undefined);
      return result;
    }
    crashPoint('commit:sending');
    await attempts.commit(attempt, steps, stored, held);
    crashPoint('tx:committed');
    await attempts.apply(held, steps);
    crashPoint('tx:released');
    return result;
  }
}
