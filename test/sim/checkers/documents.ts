/** The app's documents as the checkers compare them: `model:id` → the record as Waterline returns it, without the fence and the write number. */
import { FENCE_FIELD, WRITE_FIELD } from '../../../lib/store/mongo';
import { documentKey } from '../../../lib/operations';
import type { SimWorld } from '../cluster';
import type { Doc } from '../database';

export function storedDocuments(world: SimWorld): Map<string, Doc> {
  const documents = new Map<string, Doc>();
  for (const identity of world.models.keys()) {
    for (const [id, doc] of world.db.table(identity)) documents.set(documentKey(identity, id), record(world, doc));
  }
  return documents;
}

export function record(world: SimWorld, doc: Doc): Doc {
  const { [world.pkColumn]: id, [FENCE_FIELD]: _fence, [WRITE_FIELD]: _write, ...rest } = structuredClone(doc);
  return { id, ...rest };
}
