/** Declarative batches: validated, planned against images read under lock, written all-or-nothing. */
import { crashPoint } from '../core/crash-points';
import { TransactError } from '../core/errors';
import { newId } from '../core/ids';
import { Lease } from '../protocol/lease';
import { fingerprint, keyedTransactionId, touchedDocuments } from '../core/log-document';
import { documentKey, netActions, planBatch, redoPlan } from '../core/operations';
import { ownerToken } from '../protocol/recovery';
import { checkAgainstModel, type TransactionOptions, validateBatch, validateOptions } from '../core/validation';
import type { RedoBatches } from './redo/batch';
import type { NativeTransaction } from '../store/contract';
import type { Image, LogDocument, Operation, Step } from '../core/types';
import { unavailableIfTransient } from '../store/retrying';
import { type CommitProtocol, logFor } from './commit';
import type { EngineContext } from './context';
import { type Idempotency, keyedIdOf, type Reopened } from './idempotency';
import type { NativeRunner } from './native';
import type { EngineReferences } from './references';
import { withReruns } from './reruns';
import type { TransactionResult } from './options';

export class Batches {
  constructor(
    private readonly ctx: Pick<EngineContext, 'store' | 'clock' | 'locks' | 'documents' | 'stats' | 'options' | 'models'>,
    private readonly commit: CommitProtocol,
    private readonly idempotency: Pick<Idempotency, 'runOnce'>,
    private readonly references: Pick<EngineReferences, 'referenceLocks' | 'checkBatchReferences'>,
    /** PostgreSQL's native path, where the datastore has it. */
    private readonly native: NativeRunner | undefined,
    /** Log protocol v3 (lib/redo), where the datastore runs it. */
    private readonly redo?: RedoBatches,
  ) {}

  /** What Engine.batch promises, its doc says (lib/engine/index.ts). */
  async batch(input: unknown, rawOptions?: TransactionOptions): Promise<TransactionResult> {
    const options = validateOptions(rawOptions);
    const operations = validateBatch(input, this.ctx.options.maxOps).map((operation, i) => {
      checkAgainstModel(operation, (identity) => this.ctx.models.infoOf(identity), `ops.${i}`);
      return operation;
    });
    return withReruns(options, this.ctx.options.lockTimeoutMs, this.ctx.stats, (once) => this.batchOnce(operations, once));
  }

  /** One run of a validated batch: a new id each time unkeyed (a failed run created nothing), the key's otherwise. */
  private batchOnce(operations: Operation[], options: TransactionOptions): Promise<TransactionResult> {
    const { idempotencyKey, idempotencyScope } = options;
    if (idempotencyKey === undefined) return this.runBatch(newId(), withIds(operations), options, null);
    const txId = keyedIdOf({ idempotencyKey, idempotencyScope });
    // The fingerprint is taken before ids are chosen: the same request must hash the same.
    const print = fingerprint(operations);
    // Ids of created documents derive from the key (and its scope) too, so a repeat cannot create twice.
    const keyed = operations.map((operation, i) => (operation.op === 'create' && operation.id === undefined ? { ...operation, id: keyedTransactionId(`${idempotencyKey}#${i}`, idempotencyScope ?? null) } : operation));
    const replay = (log: LogDocument): TransactionResult => ({ id: log.id, state: 'committed', steps: log.steps });
    return this.idempotency.runOnce({ idempotencyKey, idempotencyScope }, print, replay, (reopened) => this.runBatch(txId, keyed, options, print, reopened));
  }

  private async runBatch(txId: string, operations: Operation[], options: TransactionOptions, print: string | null, reopened?: Reopened): Promise<TransactionResult> {
    if (this.redo !== undefined) return this.redo.run(txId, operations, options, print, reopened);
    const { store, clock, locks, documents, models } = this.ctx;
    const { commit, references, native } = this;
    // Roll-forward needs a log that outlives the crash: such a batch always takes the log protocol.
    if (native !== undefined && (options.onCrash ?? this.ctx.options.onCrash) === 'rollback') {
      return native.run(txId, 'batch', options, print, reopened, (tx, log) => this.nativeBatch(tx, log, operations), 'batch');
    }
    const owner = reopened?.owner ?? ownerToken(this.ctx.options.instanceId);
    const fence = { txId, epoch: reopened?.epoch ?? 0 };
    const refs = [...operations.map((operation) => ({ model: operation.model, id: operation.id as string })), ...references.referenceLocks(operations)];
    const keyed = print !== null;
    let lease = new Lease(store, fence, owner, this.ctx.options.leaseMs, clock);
    if (keyed) {
      // A keyed batch logs first: inserting the log under the key's id is what makes it run once.
      const log = logFor(this.ctx.options, txId, owner, 'batch', options, lease.leaseUntil, []);
      if (reopened === undefined && !(await store.insertLog({ ...log, fingerprint: print }))) throw new TransactError('in_progress', 'duplicate', { details: { duplicate: true } });
      crashPoint('batch:logged');
      // Logged before it waits for its locks: a wait past leaseMs must not let recovery roll it
      // back as owner_died under it (and a repeat reopen the key) while this attempt lives.
      lease.startHeartbeat();
    }
    let steps: Step[] = [];
    let logOutcomeUnknown = false;
    try {
      await locks.acquire(refs.map((ref) => documentKey(ref.model, ref.id)), txId, fence.epoch, options.lockTimeoutMs ?? this.ctx.options.lockTimeoutMs);
      crashPoint('batch:locked');
      const { images, fences } = await documents.read(refs);
      const planned = planBatch(operations, images, models.knownInfo, Date.now());
      await references.checkBatchReferences(operations, planned, lockedImages(refs, images));
      steps = withFences(planned, fences);
      if (keyed) {
        // Logged empty above (or emptied by the reopen): this append extends no steps.
        const logged = await lease.writeSteps(steps, 0);
        if (!logged) throw new TransactError('lease_lost', `transaction ${txId} was taken over by recovery before it could log its steps`);
      } else {
        lease = new Lease(store, fence, owner, this.ctx.options.leaseMs, clock);
        logOutcomeUnknown = true;
        const inserted = await store.insertLog(logFor(this.ctx.options, txId, owner, 'batch', options, lease.leaseUntil, steps));
        logOutcomeUnknown = false;
        if (!inserted) throw new TransactError('lease_lost', `transaction ${txId} was declared dead by recovery before it could log`);
      }
    } catch (err) {
      lease.stopHeartbeat();
      if (keyed) throw await commit.failAttempt(lease, true, [], err);
      // Nothing written yet, so the locks are only freed — unless the log may have landed: then
      // they guard its documents until recovery settles it (it rolls the log back under them, or
      // frees them once they expire with no log), as the compensation of its steps needs them.
      if (logOutcomeUnknown) locks.abandon(txId);
      else await locks.release(txId, fence.epoch).catch(() => undefined); // recovery frees what this misses
      throw unavailableIfTransient(err);
    }
    if (!keyed) crashPoint('batch:logged');
    await commit.runToCommit(lease, keyed, () => steps, null, false, async () => {
      for (const write of redoPlan(steps, models.knownInfo)) {
        lease.assertHeld();
        // A pause here (GC, a frozen VM) comes after the lease check: only the fence stops the write.
        crashPoint('batch:writing');
        await documents.write([write], fence);
        crashPoint('batch:applied');
      }
    });
    this.ctx.stats.committed++;
    crashPoint('batch:committed');
    await commit.releaseAfterCommit(fence);
    crashPoint('batch:released');
    return { id: txId, state: 'committed', steps };
  }

  /** A batch on the native path, inside its transaction: lock and read, plan, one statement for every write and the log row. */
  private async nativeBatch(tx: NativeTransaction, log: LogDocument, operations: Operation[]): Promise<TransactionResult> {
    const { knownInfo } = this.ctx.models;
    // A document the batch only creates needs no read: it is new, or the INSERT fails (already_exists).
    const createdOnly = new Set(operations.filter((operation) => operation.op === 'create').map((operation) => documentKey(operation.model, operation.id as string)));
    for (const operation of operations) if (operation.op !== 'create') createdOnly.delete(documentKey(operation.model, operation.id as string));
    const refs = [...operations.map((operation) => ({ model: operation.model, id: operation.id as string })), ...this.references.referenceLocks(operations, true)].filter((ref) => !createdOnly.has(documentKey(ref.model, ref.id)));
    // A created id's lock record too: a log-protocol transaction may be creating (or undoing) it.
    await tx.lockRecords([...refs.map((ref) => documentKey(ref.model, ref.id)), ...createdOnly], true);
    const images = await tx.lockAll(refs, true);
    crashPoint('batch:locked');
    const steps = planBatch(operations, images, knownInfo, Date.now());
    await this.references.checkBatchReferences(operations, steps, images, tx.connection);
    // Every document's net write and the log row, in one statement.
    // Stamped now, after the row locks were granted: a batch that waited for a lock commits after the holder.
    await tx.writeAllWithLog(netActions(steps, knownInfo), { ...log, endedAt: Date.now(), steps, documents: touchedDocuments(steps) }).catch((err: unknown) => {
      const taken = (err as { code?: unknown }).code === '23505' ? steps.find((step) => step.kind === 'create' && String((err as { detail?: unknown }).detail).includes(step.id)) : undefined;
      if (taken === undefined) throw err;
      throw new TransactError('already_exists', `${taken.model} ${taken.id} already exists`, { path: `ops.${taken.seq}.id`, cause: err });
    });
    crashPoint('batch:applied');
    crashPoint('batch:logged');
    return { id: log.id, state: 'committed' as const, steps };
  }
}

/** Creates get their id now, before anything is written, so recovery can undo them. */
function withIds(operations: Operation[]): Operation[] {
  return operations.map((operation) => (operation.op === 'create' && operation.id === undefined ? { ...operation, id: newId() } : operation));
}

/** Steps planned against images read under lock, with the fences those documents carried (sails-mongo). */
function withFences(steps: Step[], fences: ReadonlyMap<string, string | null>): Step[] {
  if (fences.size === 0) return steps;
  return steps.map((step) => {
    const key = documentKey(step.model, step.id);
    return fences.has(key) ? { ...step, fence: fences.get(key) ?? null } : step;
  });
}

/** The images read for `refs`, every one of them (null: no such document). */
function lockedImages(refs: readonly { model: string; id: string }[], images: ReadonlyMap<string, Image | null>): Map<string, Image | null> {
  const out = new Map<string, Image | null>();
  for (const { model, id } of refs) {
    const key = documentKey(model, id);
    out.set(key, images.get(key) ?? null);
  }
  return out;
}
