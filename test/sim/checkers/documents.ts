/** The app's documents as the checkers compare them: `model:id` → the record as Waterline returns it, without the fence and the write number. */
import { LOG_IDENTITY } from '../../../lib/models';
import { documentKey } from '../../../lib/operations';
import { FENCE_FIELD, fenceEpoch, fenceOwner, WRITE_FIELD } from '../../../lib/store/mongo';
import { toLogDocument } from '../../../lib/store/store';
import type { LogDocument } from '../../../lib/types';
import type { SimWorld } from '../cluster';
import type { Doc } from '../database';

/**
 * The documents as committed state has them once recovery quiesced: every stored row, except the
 * rows a late insert put back on MongoDB. The contract documents those as detected, not
 * prevented (AtomicStore.writeDocuments: an insert of an absent document has no fence to check),
 * and committed reads leave them out (lib/reads/view.ts rules 2 and 3), so the end-state checkers
 * take them as what committed reads say: no such document. fence-ownership still reports each
 * such insert as it lands.
 */
export function storedDocuments(world: SimWorld): Map<string, Doc> {
  const logs = new Map<string, LogDocument>([...world.db.table(LOG_IDENTITY).values()].map((row) => {
    const log = toLogDocument({ ...row, id: row[world.pkColumn] ?? row.id });
    return [log.id, log];
  }));
  const documents = new Map<string, Doc>();
  for (const identity of world.models.keys()) {
    for (const [id, doc] of world.db.table(identity)) {
      const key = documentKey(identity, id);
      if (!isLateInsert(key, doc[FENCE_FIELD], logs)) documents.set(key, record(world, doc));
    }
  }
  return documents;
}

/**
 * Narrowly the two late inserts the contract names, of a document its fence's transaction W
 * created: W rolled back (its compensation removed the document before the insert arrived), or a
 * committed transaction X ≠ W took the document over from W at this epoch or later (X's step
 * records W's fence): MongoStore.lateInserts' rule.
 */
function isLateInsert(key: string, fence: unknown, logs: ReadonlyMap<string, LogDocument>): boolean {
  if (typeof fence !== 'string') return false;
  const writer = logs.get(fenceOwner(fence));
  const created = writer?.steps.find((step) => documentKey(step.model, step.id) === key)?.before === null;
  if (!created) return false;
  if (writer?.state === 'rolled-back') return true;
  return [...logs.values()].some(
    (taker) => taker.state === 'committed' && taker.id !== writer?.id && taker.steps.some((step) => documentKey(step.model, step.id) === key && typeof step.fence === 'string' && fenceOwner(step.fence) === writer?.id && fenceEpoch(step.fence) >= fenceEpoch(fence)),
  );
}

export function record(world: SimWorld, doc: Doc): Doc {
  const { [world.pkColumn]: id, [FENCE_FIELD]: _fence, [WRITE_FIELD]: _write, ...rest } = structuredClone(doc);
  return { id, ...rest };
}
