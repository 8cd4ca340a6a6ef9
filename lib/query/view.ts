/**
 * The committed image of documents, as pure functions of what a store read at one instant (or
 * validated as if it had): the documents' current images, who last wrote or holds each one, and
 * the logs of those transactions.
 *
 * The committed image of a document D is D itself unless a transaction T that has not committed
 * wrote it (or may have): then it is the `before` of T's first step on D — the image T read under
 * its lock, which was committed (a lock passes on only after commit or compensation), and exactly
 * what compensation restores. So:
 *   1. T is pending or rolling-back and has a step on D → that before-image (null: T created D,
 *      which is then not returned; a destroyed D is returned). At most one such T exists per
 *      document: it holds D's lock.
 *   2. D's last writer (the lock owner on PostgreSQL/sails-disk, the fence's transaction on
 *      sails-mongo) is rolled back and has a step on D → that before-image. Compensation already
 *      restored it, except a sails-mongo insert that landed after its rollback (see docs/guarantees.md):
 *      that one is hidden here.
 *   3. Otherwise D as read: written by a committed transaction, or by none — unless the store found
 *      it put back by a late insert after a committed transaction took it over (sails-mongo:
 *      StoreView.lateInserts), which is then not returned.
 * Write-ahead makes 1 complete: a step is in T's log before T writes its document, and the store
 * reads the logs no earlier than the documents.
 */
import { documentKey } from '../core/operations';
import { ACTIVE_STATES, type Image, type LogDocument, type Step } from '../core/types';
import { comparator, matches, type NullOrder, type ParsedQuery } from './criteria';

/** What a store read for one or more queries, at one instant (see AtomicStore.readView). */
export interface StoreView {
  /** Per request, in its order: the documents matching it as stored (fence fields removed). */
  rows: Image[][];
  /** `model:id` → the transaction that last wrote (sails-mongo) or holds (lock) the document. */
  writers: Map<string, string>;
  /** Logs as of that instant: every unfinished transaction with steps on a requested model, and every writer above. */
  logs: Map<string, LogDocument>;
  /**
   * sails-mongo only: `model:id` → fence token of rows a late insert put back after a committed
   * transaction had taken the document over (MongoStore.lateInserts). Their committed image is
   * "no such document": they are left out, and reported — never deleted.
   */
  lateInserts?: ReadonlyMap<string, string>;
}

function isActive(log: LogDocument): boolean {
  return (ACTIVE_STATES as readonly string[]).includes(log.state);
}

function firstStepOn(log: LogDocument, key: string): Step | undefined {
  return log.steps.find((step) => documentKey(step.model, step.id) === key);
}

/**
 * `model:id` → committed image, for every document of `model` an unfinished transaction has a
 * step on (rule 1). These are the documents whose committed image may differ from what is stored.
 */
export function heldImages(logs: Iterable<LogDocument>, model: string): Map<string, Image | null> {
  const held = new Map<string, Image | null>();
  for (const log of logs) {
    if (!isActive(log)) continue;
    for (const step of log.steps) {
      const key = documentKey(step.model, step.id);
      if (step.model === model && !held.has(key)) held.set(key, step.before);
    }
  }
  return held;
}

/** How many documents of `model` may read differently committed: what a store adds to a limit. */
export function heldCount(logs: Iterable<LogDocument>, model: string): number {
  return heldImages(logs, model).size;
}

/** Rule 2: the before-image when the document's last writer rolled back; undefined when rule 3 applies. */
function rolledBackImage(key: string, writers: ReadonlyMap<string, string>, logs: ReadonlyMap<string, LogDocument>): Image | null | undefined {
  const writer = writers.get(key);
  const log = writer === undefined ? undefined : logs.get(writer);
  if (log?.state !== 'rolled-back') return undefined;
  const step = firstStepOn(log, key);
  return step === undefined ? undefined : step.before;
}

/**
 * The committed answer to one query: the stored rows, with every document an unfinished (or
 * rolled-back) transaction touched replaced by its committed image — dropped if that image does
 * not match, added if it matches and the stored document does not (moved out by the transaction,
 * or destroyed by it) — in the query's order, then skip and limit.
 *
 * `rows` must hold at least `skip + limit + heldCount` rows when limited: every row beyond the
 * first skip+limit untouched ones is then there to fill the page (at most heldCount rows differ).
 * The untouched rows keep the datastore's order; committed images are merged in by the
 * comparator (which orders the scalars like the datastores, strings by code point).
 */
export function committedRows(model: string, primaryKey: string, query: ParsedQuery, rows: readonly Image[], view: Pick<StoreView, 'writers' | 'logs' | 'lateInserts'>, nulls: NullOrder = 'first'): Image[] {
  const held = heldImages(view.logs.values(), model);
  const kept: Image[] = [];
  const replaced: Image[] = [];
  for (const row of rows) {
    const key = documentKey(model, String(row[primaryKey]));
    if (held.has(key)) continue; // answered from the log below, whatever is stored now
    if (view.lateInserts?.has(key) === true) continue; // not committed: a late write brought it back
    const before = rolledBackImage(key, view.writers, view.logs);
    if (before === undefined) kept.push(row);
    else if (before !== null && matches(before, query.where)) replaced.push(structuredClone(before));
  }
  const extra = [...replaced];
  for (const image of held.values()) if (image !== null && matches(image, query.where)) extra.push(structuredClone(image));
  return mergeRows(query, kept, extra, nulls);
}

/**
 * One page of a committed answer: `kept` (stored rows answered as stored, in the datastore's
 * order) and `extra` (committed images that replace or add to them, already filtered by the
 * query's where), merged in the query's order, then skip and limit.
 */
export function mergeRows(query: ParsedQuery, kept: readonly Image[], unsorted: readonly Image[], nulls: NullOrder): Image[] {
  const compare = comparator(query.sort, nulls);
  const extra = [...unsorted].sort(compare);
  // Merge: the datastore's order for its own rows, the comparator only to place the others.
  const merged: Image[] = [];
  let next = 0;
  for (const row of kept) {
    while (next < extra.length && compare(extra[next], row) < 0) merged.push(extra[next++]);
    merged.push(row);
  }
  while (next < extra.length) merged.push(extra[next++]);
  return query.limit === undefined ? merged.slice(query.skip) : merged.slice(query.skip, query.skip + query.limit);
}

