/**
 * A declarative batch on log protocol v3 (docs/protocol-v3.md): lock and read (R1), plan, the
 * commit point (R3), then apply (R4), each through the attempt's lifecycle (attempt.ts). Nothing
 * but locks and stubs is written before the commit point, so a failure before it only frees them.
 */
import { crashPoint } from '../../core/crash-points';
import { documentKey, planBatch } from '../../core/operations';
import type { TransactionOptions } from '../../core/validation';
import type { Image, Operation, Step } from '../../core/types';
import type { ModelInfo } from '../../core/model-info';
import type { Reopened } from '../idempotency';
import type { TransactionResult } from '../options';
import { type RedoAttempts, withVersions } from './attempt';
import type { RecordRef } from '../../protocol/redo/locks';
import type { DocRecord } from '../../store/records';

/** What a v3 batch asks of the engine's reference checks (lib/engine/references.ts). */
export interface BatchReferences {
  referenceLocks(operations: readonly Operation[]): { model: string; id: string }[];
  checkBatchReferences(operations: readonly Operation[], steps: readonly Step[], locked: ReadonlyMap<string, Image | null>): Promise<void>;
}

export class RedoBatches {
  constructor(
    private readonly attempts: RedoAttempts,
    private readonly knownInfo: (model: string) => ModelInfo,
    private readonly references: BatchReferences,
  ) {}

  /**
   * One attempt of a batch (ids chosen, operations validated). `print` is the keyed batch's
   * fingerprint (null: not keyed); `reopened` the owner and epoch of a keyed batch run again.
   */
  async run(txId: string, operations: Operation[], options: TransactionOptions, print: string | null, reopened?: Reopened): Promise<TransactionResult> {
    const { attempts } = this;
    const attempt = await attempts.begin({ txId, mode: 'batch', options, print, ...(reopened === undefined ? {} : { reopened }) });
    if (attempt.keyed && reopened === undefined) crashPoint('batch:logged');
    const refs: RecordRef[] = [
      ...operations.map((operation) => ({ model: operation.model, id: operation.id as string, ...(operation.op === 'create' ? { create: operation.values } : {}) })),
      ...this.references.referenceLocks(operations),
    ];
    const heartbeat = attempts.heartbeat(attempt, new Set(refs.map((ref) => ref.model)));
    let held: DocRecord[] = [];
    let steps: Step[];
    try {
      heartbeat.start();
      const acquired = await attempts.ctx.locks.acquire(refs, attempt.lock, options.lockTimeoutMs ?? attempts.ctx.options.lockTimeoutMs);
      held = acquired.held;
      crashPoint('batch:locked');
      const images = new Map([...acquired.records].map(([key, record]) => [key, record.image]));
      const planned = planBatch(operations, images, this.knownInfo, Date.now());
      await this.references.checkBatchReferences(operations, planned, images);
      // A create's own stub holds its values; any other record it creates on claims them (R9).
      const reservedByCreate = new Set(operations.filter((operation) => operation.op === 'create' && acquired.records.get(documentKey(operation.model, operation.id as string))?.state === 'reserved').map((operation) => documentKey(operation.model, operation.id as string)));
      await attempts.claimUniqueChanges(attempt, planned, (model) => this.knownInfo(model).uniqueKeys, reservedByCreate);
      steps = withVersions(planned, acquired.records);
    } catch (err) {
      heartbeat.stop();
      throw await attempts.fail(attempt, held, err);
    }
    heartbeat.stop();
    crashPoint('commit:sending');
    await attempts.commit(attempt, steps, null, held);
    crashPoint('batch:committed');
    await attempts.apply(held, steps);
    crashPoint('batch:applied');
    return { id: txId, state: 'committed', steps };
  }
}
