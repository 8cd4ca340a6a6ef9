/**
 * Reversal: undoing a committed transaction with a new, linked one. Planning is pure: given the
 * original's steps and the documents as they are now (read under lock), it returns the
 * compensating operations, or the documents that changed since and make it a conflict.
 */
import { TransactError } from '../core/errors';
import { newId } from '../core/ids';
import { ownerToken, tombstone } from '../protocol/recovery';
import { type ReversalInput, validateReversal } from '../core/validation';
import { isTerminal } from '../core/state';
import type { EngineContext } from './context';
import type { InteractiveTransactions } from './interactive';
import type { ReversalResult } from './options';
import { jsonEqual } from '../core/json';
import type { ModelInfo } from '../core/model-info';
import { changedFields, documentKey, withoutKey } from '../core/operations';
import type { Image, LogDocument, Operation, Step } from '../core/types';

export interface ReversalPlan {
  operations: Operation[];
  /** `model:id` of documents changed since the original committed: the reversal must not run. */
  conflicts: string[];
  /** `model:id` of financial documents the original created and that cannot be taken back. */
  irreversible: string[];
}

/** The original's steps grouped per document, in order of first touch. */
export function stepsByDocument(steps: readonly Step[]): Map<string, Step[]> {
  const groups = new Map<string, Step[]>();
  for (const step of steps) {
    const key = documentKey(step.model, step.id);
    groups.set(key, [...(groups.get(key) ?? []), step]);
  }
  return groups;
}

export function planReversal(original: Pick<LogDocument, 'steps'>, current: ReadonlyMap<string, Image | null>, infoOf: (model: string) => ModelInfo): ReversalPlan {
  const plan: ReversalPlan = { operations: [], conflicts: [], irreversible: [] };
  for (const [key, steps] of [...stepsByDocument(original.steps)].reverse()) {
    const { model, id } = steps[0];
    const info = infoOf(model);
    const now = current.get(key) ?? null;
    if (steps.every((step) => step.kind === 'increment' && step.delta !== undefined)) {
      // An increment's inverse is a decrement: later changes to the document don't conflict with it.
      if (now === null) {
        plan.conflicts.push(key);
        continue;
      }
      for (const step of [...steps].reverse()) {
        const { field, by, min, max } = step.delta as NonNullable<Step['delta']>;
        plan.operations.push({ op: 'increment', model, id, field, by: -by, ...(min === undefined ? {} : { min }), ...(max === undefined ? {} : { max }) });
      }
      continue;
    }
    const first = steps[0].before;
    const last = steps[steps.length - 1].after;
    if (!jsonEqual(now, last)) {
      plan.conflicts.push(key);
      continue;
    }
    if (first === null && last === null) continue;
    if (first === null) {
      if (!info.financial) plan.operations.push({ op: 'destroy', model, id });
      else if (info.reverseCreate !== null) plan.operations.push({ op: 'update', model, id, set: { ...info.reverseCreate } });
      else plan.irreversible.push(key);
    } else if (last === null) {
      plan.operations.push({ op: 'create', model, id, values: withoutKey(first, info.primaryKey) });
    } else {
      const set = withoutKey(changedFields(last as Image, first), info.primaryKey);
      if (info.updatedAt !== null) delete set[info.updatedAt];
      if (Object.keys(set).length > 0) plan.operations.push({ op: 'update', model, id, set });
    }
  }
  return plan;
}

/** `model:id` back into its parts (ids may contain ':'; identities may not). */
function splitKey(key: string): [string, string] {
  const colon = key.indexOf(':');
  return [key.slice(0, colon), key.slice(colon + 1)];
}

export class Reversals {
  constructor(
    private readonly ctx: Pick<EngineContext, 'store' | 'clock' | 'options' | 'models'>,
    /** A reversal runs as an interactive transaction. */
    private readonly interactive: Pick<InteractiveTransactions, 'interactive'>,
  ) {}

  /** What Engine.reverse promises, its doc says (lib/engine/index.ts). */
  async reverse(txId: string, input: ReversalInput): Promise<ReversalResult> {
    const { reason } = validateReversal(input);
    const original = await this.ctx.store.getLog(txId);
    if (original === null) throw new TransactError('not_found', `no transaction ${txId}`, { path: 'id' });
    if (original.state !== 'committed') throw new TransactError('not_committed', `transaction ${txId} is ${original.state}; only committed transactions are reversed`);
    const reversalId = newId();
    await this.claimReversal(original, reversalId);
    try {
      await this.interactive.interactive(
        async (tx) => {
          const current = new Map<string, Image | null>();
          for (const key of stepsByDocument(original.steps).keys()) {
            const [model, id] = splitKey(key);
            current.set(key, await tx.read(model, id));
          }
          const plan = planReversal(original, current, this.ctx.models.knownInfo);
          if (plan.conflicts.length > 0) {
            throw new TransactError('conflict', `documents changed since ${txId} committed: ${plan.conflicts.join(', ')}`, { details: { documents: plan.conflicts } });
          }
          if (plan.irreversible.length > 0) {
            throw new TransactError('irreversible', `financial documents created by ${txId} cannot be taken back: ${plan.irreversible.join(', ')}`, { details: { documents: plan.irreversible } });
          }
          for (const operation of plan.operations) await tx.apply(operation);
        },
        { label: `reversal of ${txId}` },
        { txId: reversalId, reverses: txId, reason },
      );
    } catch (err) {
      await this.ctx.store.updateLog(txId, { states: ['committed'], reversedBy: reversalId }, { reversedBy: null }).catch(() => undefined);
      throw err;
    }
    return { id: reversalId, reverses: txId };
  }

  /**
   * Marks the original as being reversed by `reversalId`, with a compare-and-set so that two
   * reversals never both run. A mark left by a reversal that rolled back, or died before it
   * logged (it gets a tombstone first), is taken over.
   */
  private async claimReversal(original: LogDocument, reversalId: string): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = (await this.ctx.store.getLog(original.id)) as LogDocument;
      const previous = current.reversedBy;
      if (previous === reversalId) return; // this claim landed, and its reply was lost
      if (previous !== null) {
        const earlier = await this.ctx.store.getLog(previous);
        if (earlier?.state === 'committed') {
          throw new TransactError('already_reversed', `transaction ${original.id} was already reversed by ${previous}`, { details: { reversal: previous } });
        }
        if (earlier !== null && !isTerminal(earlier.state)) {
          throw new TransactError('in_progress', `transaction ${original.id} is being reversed by ${previous}`, { details: { reversal: previous } });
        }
        if (earlier === null) {
          await this.ctx.store.insertLog(tombstone(previous, ownerToken(this.ctx.options.instanceId), 'abandoned_reversal', 'a reversal claimed the transaction but never logged', this.ctx.clock.now()));
          continue;
        }
      }
      if (await this.ctx.store.updateLog(original.id, { states: ['committed'], reversedBy: previous }, { reversedBy: reversalId })) return;
    }
    throw new TransactError('in_progress', `transaction ${original.id} is being reversed concurrently`);
  }
}
