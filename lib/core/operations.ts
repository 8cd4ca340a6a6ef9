/**
 * Operations and their inverses, as pure functions: planning a batch against the current
 * images, and turning a log step into the write that redoes or undoes it.
 */
import { TransactError } from './errors';
import { type ModelInfo, newRecordImage, timestamps } from './model-info';
import { jsonEqual } from './json';
import type { Image, Operation, Step, Values } from './types';

/** Identifies one document across models: also the id of its lock. */
export function documentKey(model: string, id: string): string {
  return `${model}:${id}`;
}

/** Document references (or steps) grouped by model: each model's ids, each once, in the order first named. */
export function idsByModel(refs: Iterable<{ model: string; id: string }>): Map<string, Set<string>> {
  const ids = new Map<string, Set<string>>();
  for (const { model, id } of refs) ids.set(model, (ids.get(model) ?? new Set()).add(id));
  return ids;
}

/** A write to one document; insert and remove are idempotent by construction. */
export type Action =
  | { type: 'insert'; model: string; id: string; values: Values } // create unless it exists
  | { type: 'patch'; model: string; id: string; values: Values } // set these attributes
  | { type: 'remove'; model: string; id: string }; // destroy if it exists

/** The image without its primary key: what Waterline accepts in `.set()` or `create()` besides the id. */
export function withoutKey(image: Image, primaryKey: string): Values {
  const { [primaryKey]: _key, ...rest } = image;
  return rest;
}

/** Attributes whose value differs between two images (compared deeply, as JSON would). */
export function changedFields(before: Image, after: Image): Values {
  const changed: Values = {};
  for (const [name, value] of Object.entries(after)) {
    if (!jsonEqual(before[name], value)) changed[name] = value;
  }
  return changed;
}

/**
 * The attributes a patch from `before` to `after` writes: the changed ones, and always the
 * auto-updated timestamp. Two steps in the same millisecond leave it unchanged between them, and
 * a Waterline update that omits it stamps its own time: the stored document would then differ
 * from the logged after-image (seen as a conflict by reversal, and as a break by drills).
 */
export function patchValues(before: Image, after: Image, info: ModelInfo): Values {
  const values = withoutKey(changedFields(before, after), info.primaryKey);
  if (info.updatedAt !== null && after[info.updatedAt] !== undefined) values[info.updatedAt] = after[info.updatedAt];
  return values;
}

/** The write that applies a step (used when running it, and when recovery rolls forward). */
export function forwardAction(step: Step, info: ModelInfo): Action {
  switch (step.kind) {
    case 'create':
      return { type: 'insert', model: step.model, id: step.id, values: withoutKey(step.after as Image, info.primaryKey) };
    case 'update':
    case 'increment':
      return { type: 'patch', model: step.model, id: step.id, values: patchValues(step.before as Image, step.after as Image, info) };
    case 'destroy':
      return { type: 'remove', model: step.model, id: step.id };
  }
}

/**
 * The compensation of a step: restore the before-image exactly (every attribute, timestamps
 * included), remove what was created, re-create what was destroyed.
 */
export function inverseAction(step: Step, info: ModelInfo): Action {
  switch (step.kind) {
    case 'create':
      return { type: 'remove', model: step.model, id: step.id };
    case 'update':
    case 'increment':
      return { type: 'patch', model: step.model, id: step.id, values: withoutKey(step.before as Image, info.primaryKey) };
    case 'destroy':
      return { type: 'insert', model: step.model, id: step.id, values: withoutKey(step.before as Image, info.primaryKey) };
  }
}

/** One document write, with the fence the document carried before this transaction wrote it. */
export interface FencedWrite {
  action: Action;
  /** Only known where fences live in the documents (sails-mongo); null elsewhere. */
  fenceBefore: string | null;
}

function fenced(step: Step, action: Action): FencedWrite {
  return { action, fenceBefore: step.fence ?? null };
}

/**
 * The net write per document of a whole transaction, in first-touch order: what the documents
 * must become, whatever steps led there (several steps on one document make one write).
 */
export function netActions(steps: readonly Step[], infoOf: (model: string) => ModelInfo): Action[] {
  const byDocument = new Map<string, { first: Step; last: Step }>();
  for (const step of steps) {
    const key = documentKey(step.model, step.id);
    const seen = byDocument.get(key);
    byDocument.set(key, { first: seen?.first ?? step, last: step });
  }
  const actions: Action[] = [];
  for (const { first, last } of byDocument.values()) {
    const { model, id } = first;
    const info = infoOf(model);
    if (first.before === null && last.after === null) continue;
    if (first.before === null) actions.push({ type: 'insert', model, id, values: withoutKey(last.after as Image, info.primaryKey) });
    else if (last.after === null) actions.push({ type: 'remove', model, id });
    else {
      const values = patchValues(first.before, last.after, info);
      if (Object.keys(values).length > 0) actions.push({ type: 'patch', model, id, values });
    }
  }
  return actions;
}

/** Compensation of a whole transaction: inverse of each step, last step first. */
export function compensationPlan(steps: readonly Step[], infoOf: (model: string) => ModelInfo): FencedWrite[] {
  return [...steps].reverse().map((step) => fenced(step, inverseAction(step, infoOf(step.model))));
}

/** Redo of a whole transaction: each step's forward write, in order. */
export function redoPlan(steps: readonly Step[], infoOf: (model: string) => ModelInfo): FencedWrite[] {
  return steps.map((step) => fenced(step, forwardAction(step, infoOf(step.model))));
}

/** Applies one operation to the working image of its document; returns the step it makes. */
export function planOperation(
  operation: Operation,
  current: Image | null,
  info: ModelInfo,
  seq: number,
  now: number,
  path: string,
): Step {
  const { model } = operation;
  if (operation.op === 'create') {
    const id = operation.id as string; // assigned before planning
    if (current !== null) throw new TransactError('already_exists', `${model} ${id} already exists`, { path: `${path}.id` });
    // Explicit timestamps win: re-creating a document (a reversal) restores its original ones.
    const after = newRecordImage(info, operation.values, id, now);
    return { seq, kind: 'create', model, id, before: null, after };
  }
  const { id } = operation;
  if (current === null) throw new TransactError('not_found', `${model} ${id} does not exist`, { path: `${path}.id` });
  switch (operation.op) {
    case 'update': {
      const after = { ...current, ...operation.set, ...timestamps(info, now, false) };
      return { seq, kind: 'update', model, id, before: current, after };
    }
    case 'increment': {
      const { field, by, min, max } = operation;
      const value = current[field] ?? 0;
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
        throw new TransactError('validation_failed', `${model} ${id}: ${field} is ${JSON.stringify(value)}, not an integer`, { path: `${path}.field` });
      }
      const next = value + by;
      if (!Number.isSafeInteger(next) || (min !== undefined && next < min) || (max !== undefined && next > max)) {
        throw new TransactError('bound_violation', `${model} ${id}: ${field} would become ${next}, outside [${min ?? '-∞'}, ${max ?? '∞'}]`, {
          path,
          details: { model, id, field, value, by, min, max },
        });
      }
      if (info.validate !== null) {
        // The model's own rules (min, max, isInteger…) bound an increment too, reversals included.
        try {
          info.validate(field, next);
        } catch (err) {
          throw new TransactError('bound_violation', `${model} ${id}: ${field} would become ${next}, which the model's rules refuse`, {
            path,
            details: { model, id, field, value, by, min, max, rule: err instanceof Error ? err.message : String(err) },
          });
        }
      }
      const after = { ...current, [field]: next, ...timestamps(info, now, false) };
      const delta = { field, by, ...(min === undefined ? {} : { min }), ...(max === undefined ? {} : { max }) };
      return { seq, kind: 'increment', model, id, before: current, after, delta };
    }
    case 'destroy':
      return { seq, kind: 'destroy', model, id, before: current, after: null };
  }
}

/**
 * Plans a whole batch against the current images (keyed by documentKey, null = absent):
 * each operation sees the effect of the ones before it. Throws before anything is written.
 */
export function planBatch(
  operations: readonly Operation[],
  images: ReadonlyMap<string, Image | null>,
  infoOf: (model: string) => ModelInfo,
  now: number,
): Step[] {
  const working = new Map(images);
  return operations.map((operation, seq) => {
    const key = documentKey(operation.model, operation.id as string);
    const step = planOperation(operation, working.get(key) ?? null, infoOf(operation.model), seq, now, `ops.${seq}`);
    working.set(key, step.after);
    return step;
  });
}
