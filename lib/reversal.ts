/**
 * Reversal: undoing a committed transaction with a new, linked one. Planning is pure: given the
 * original's steps and the documents as they are now (read under lock), it returns the
 * compensating operations, or the documents that changed since and make it a conflict.
 */
import { jsonEqual } from './json';
import type { ModelInfo } from './model-info';
import { changedFields, documentKey, withoutKey } from './operations';
import type { Image, LogDocument, Operation, Step } from './types';

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
