/**
 * Reading and writing application documents through Waterline. Every write here runs under
 * the document's lock, which is what makes a plain Waterline update safe to use.
 */
import { rawDestroy } from './history-guard';
import { type Action, documentKey } from './operations';
import type { RetryPolicy } from './retry';
import type { Image } from './types';
import { isUniqueViolation, type WaterlineModel } from './waterline';

export type ModelResolver = (identity: string) => WaterlineModel;

export interface DocumentRef {
  model: string;
  id: string;
}

export class Documents {
  constructor(private readonly modelOf: ModelResolver, private readonly policy: RetryPolicy) {}

  /** Current images of the given documents, one query per model; absent ones map to null. */
  readImages(refs: readonly DocumentRef[]): Promise<Map<string, Image | null>> {
    return this.policy.run(() => this.read(refs));
  }

  /** Applies one write; every action is idempotent, so a transient failure is simply retried. */
  apply(action: Action): Promise<void> {
    return this.policy.run(() => this.write(action));
  }

  private async read(refs: readonly DocumentRef[]): Promise<Map<string, Image | null>> {
    const images = new Map<string, Image | null>();
    const idsByModel = new Map<string, Set<string>>();
    for (const { model, id } of refs) {
      images.set(documentKey(model, id), null);
      idsByModel.set(model, (idsByModel.get(model) ?? new Set()).add(id));
    }
    for (const [identity, ids] of idsByModel) {
      const model = this.modelOf(identity);
      const rows = await model.find({ [model.primaryKey]: { in: [...ids] } });
      for (const row of rows) images.set(documentKey(identity, String(row[model.primaryKey])), row);
    }
    return images;
  }

  private async write(action: Action): Promise<void> {
    const model = this.modelOf(action.model);
    const where = { [model.primaryKey]: action.id };
    switch (action.type) {
      case 'insert':
        try {
          await model.create({ ...action.values, [model.primaryKey]: action.id });
        } catch (err) {
          // Already there: this insert ran before a crash. Inserts are idempotent by id.
          if (!isUniqueViolation(err)) throw err;
        }
        return;
      case 'patch':
        if (Object.keys(action.values).length > 0) await model.update(where).set(action.values);
        return;
      case 'remove':
        await rawDestroy(model)(where);
        return;
    }
  }
}
