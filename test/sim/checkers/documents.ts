/** The app's documents as the checkers compare them: `model:id` → the record as Waterline returns it, without the fence and the write number. */
import { LOG_IDENTITY } from '../../../lib/models/hook-models';
import { documentKey } from '../../../lib/core/operations';
import { FENCE_FIELD, WRITE_FIELD } from '../../../lib/store/mongo/store';
import { parseFenceToken, toLogDocument } from '../../../lib/store/contract';
import type { LogDocument } from '../../../lib/core/types';
import type { SimWorld } from '../cluster';
import type { Doc } from '../database';
import { RECORD_FIELDS } from '../simulated-records';

/**
 * The documents as committed state has them once recovery quiesced: every stored row, except the
 * rows a late insert put back on MongoDB. The contract documents those as detected, not
 * prevented (AtomicStore.writeDocuments: an insert of an absent document has no fence to check),
 * and committed reads leave them out (lib/query/view.ts rules 2 and 3), so the end-state checkers
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
      // Log protocol v3: a stub or a tombstone is no document (plain reads hide them too).
      if (doc[RECORD_FIELDS.state] !== undefined) continue;
      if (!isLateInsert(key, doc[FENCE_FIELD], logs)) documents.set(key, record(world, doc));
    }
  }
  return documents;
}

/**
 * Narrowly the late inserts the contract names (MongoStore.lateInserts), of a row fenced W.k:
 * W's attempt that ran at epoch k rolled back with a create of the document (that attempt is W's
 * log itself, or, for a keyed transaction reopened since, its archive `W.e` with the first e ≥ k),
 * or W created it and a committed transaction X ≠ W took the document over from W at epoch ≥ k
 * (X's step records W's fence).
 */
function isLateInsert(key: string, fence: unknown, logs: ReadonlyMap<string, LogDocument>): boolean {
  if (typeof fence !== 'string') return false;
  const row = parseFenceToken(fence);
  const writer = logs.get(row.txId);
  if (writer === undefined) return false;
  const created = (log: LogDocument): boolean => log.steps.find((step) => documentKey(step.model, step.id) === key)?.before === null;
  const attempt = [...logs.values()]
    .filter((log) => log.id.startsWith(`${row.txId}.`) && parseFenceToken(log.id).epoch >= row.epoch)
    .sort((a, b) => parseFenceToken(a.id).epoch - parseFenceToken(b.id).epoch)[0] ?? writer;
  if (attempt.state === 'rolled-back' && created(attempt)) return true;
  if (!created(writer)) return false;
  return [...logs.values()].some(
    (taker) => taker.state === 'committed' && taker.id !== writer.id && taker.steps.some((step) => documentKey(step.model, step.id) === key && typeof step.fence === 'string' && parseFenceToken(step.fence).txId === writer.id && parseFenceToken(step.fence).epoch >= row.epoch),
  );
}

export function record(world: SimWorld, doc: Doc): Doc {
  const { [world.pkColumn]: id, [FENCE_FIELD]: _fence, [WRITE_FIELD]: _write, ...rest } = structuredClone(doc);
  for (const field of Object.values(RECORD_FIELDS)) delete rest[field];
  return { id, ...rest };
}
