/**
 * Reading application documents through Waterline, and writing them through the store, which
 * accepts each write only while the writer's fence still owns the document.
 */
import { documentKey, type FencedWrite, idsByModel } from '../core/operations';
import type { RetryPolicy } from '../store/retrying';
import type { AtomicStore } from '../store';
import type { ModelResolver } from '../store/waterline-writes';
import type { Fence, Image } from '../core/types';

export interface DocumentRef {
  model: string;
  id: string;
}

/** Documents as read under lock: their images, and (sails-mongo) the fences they carried, both keyed `model:id`. */
export interface ReadDocuments {
  images: Map<string, Image | null>;
  fences: Map<string, string | null>;
}

export class Documents {
  constructor(
    private readonly modelOf: ModelResolver,
    /** Already retrying on transient errors. */
    private readonly store: AtomicStore,
    private readonly policy: RetryPolicy,
  ) {}

  /** Current images of the given documents, one query per model; absent ones map to null. */
  async readImages(refs: readonly DocumentRef[]): Promise<Map<string, Image | null>> {
    return (await this.read(refs)).images;
  }

  /** Images and fences, one query per model. */
  read(refs: readonly DocumentRef[]): Promise<ReadDocuments> {
    return this.policy.run(() => this.readOnce(refs));
  }

  /** Applies the writes under `fence`; throws `lease_lost` once the datastore refuses one. */
  write(writes: readonly FencedWrite[], fence: Fence): Promise<void> {
    return this.store.writeDocuments(writes, fence);
  }

  private async readOnce(refs: readonly DocumentRef[]): Promise<ReadDocuments> {
    const images = new Map<string, Image | null>(refs.map(({ model, id }) => [documentKey(model, id), null]));
    const fences = new Map<string, string | null>();
    const { fenceField } = this.store;
    const rowsByModel = await Promise.all(
      [...idsByModel(refs)].map(async ([identity, ids]) => {
        const model = this.modelOf(identity);
        // One id is an equality, not `in`: FerretDB scans the whole collection for `_id: {$in}`
        // (MongoDB and PostgreSQL use the primary key either way), and most reads are of one document.
        const [only] = ids;
        const query = model.find({ [model.primaryKey]: ids.size === 1 ? only : { in: [...ids] } });
        return { identity, model, rows: await (fenceField === null ? query : query.meta({ transactFence: true })) };
      }),
    );
    const fenced = new Map<string, string>();
    for (const { identity, model, rows } of rowsByModel) {
      for (const row of rows) {
        const key = documentKey(identity, String(row[model.primaryKey]));
        if (fenceField !== null) {
          const fence = (row[fenceField] as string | undefined) ?? null;
          fences.set(key, fence);
          if (fence !== null) fenced.set(key, fence);
          delete row[fenceField];
        }
        images.set(key, row);
      }
    }
    // A row a late insert put there is no committed document: absent to the plan. Its fence stays,
    // so the transaction's own write of the document is accepted over it (writeDocuments' fenceBefore).
    if (fenced.size > 0) for (const key of await this.store.findLateInserts(fenced)) images.set(key, null);
    return { images, fences };
  }
}
