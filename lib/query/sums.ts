/**
 * Sum checks: "every document of model A holds in `field` the sum of model B's `sum` over the
 * lines whose `by` names it" (an investor's cash against its ledger lines, a loan's raised
 * against its allocations), computed by the datastore rather than by loading both collections.
 *
 * The store's primitive (`AtomicStore.sumCandidates`) answers from the raw data: a transaction in
 * flight can make it disagree for a moment, so it only proposes candidates, in key order, a page
 * at a time; the committed reads re-check just those (lib/reads/reads.ts `checkSums`). This file
 * holds the adapter-free parts: the request, and a sorted merge used by the stores that stream.
 */
import { TransactError } from '../core/errors';
import type { ModelInfo } from '../core/model-info';
import type { WaterlineModel } from '../core/waterline';
import { isScalar, type Scalar } from './criteria';

/** One sum check, by attribute names. */
export interface SumCheck {
  /** The documents checked (A), and the attribute that holds the total. */
  model: string;
  field: string;
  /** The lines (B): the attribute summed, the attribute naming the document, and which lines count. */
  lines: {
    model: string;
    sum: string;
    by: string;
    /** Equality (`{account: 'cash'}`) or a list (`{account: ['cash', 'invested']}`) per attribute. */
    where?: Record<string, unknown>;
  };
}

/** What a store is asked: a checked SumCheck, and where the page starts. */
export interface SumCandidatesRequest extends Required<Omit<SumCheck, 'lines'>> {
  lines: Required<SumCheck['lines']> & { where: Record<string, Scalar | Scalar[]> };
  /** Keys (A's id, B's `by`) strictly after this one; null: from the first. */
  after: string | null;
  /** At most this many candidates, plus one to tell whether there are more. */
  limit: number;
}

/** Keys whose raw document and raw sum differ (or that have lines and no document), in key order. */
export interface SumCandidates {
  keys: string[];
  /** The last key of this page when more candidates follow; null when the check is complete. */
  next: string | null;
}

/** Checks a SumCheck against the models; refuses (validation_failed / unknown_attribute, with a path) what it cannot compute. */
export function parseSumCheck(check: SumCheck, infoOf: (identity: string) => ModelInfo | undefined): SumCandidatesRequest['lines'] & { documents: ModelInfo; linesInfo: ModelInfo } {
  const documents = infoOf(check.model);
  if (documents === undefined) throw new TransactError('unknown_model', `no model "${String(check.model)}" to check`, { path: 'model' });
  const linesInfo = infoOf(check.lines?.model);
  if (linesInfo === undefined) throw new TransactError('unknown_model', `no model "${String(check.lines?.model)}" to sum`, { path: 'lines.model' });
  const attribute = (info: ModelInfo, name: unknown, path: string): string => {
    if (typeof name !== 'string' || info.attributes[name] === undefined) throw new TransactError('unknown_attribute', `${info.identity} has no attribute "${String(name)}"`, { path });
    return name;
  };
  attribute(documents, check.field, 'field');
  const where: Record<string, Scalar | Scalar[]> = {};
  for (const [name, value] of Object.entries(check.lines.where ?? {})) {
    attribute(linesInfo, name, `lines.where.${name}`);
    if (!isScalar(value) && !(Array.isArray(value) && value.every(isScalar))) {
      throw new TransactError('validation_failed', 'a sum check selects lines by equality or by a list of values', { path: `lines.where.${name}` });
    }
    where[name] = value;
  }
  return { model: linesInfo.identity, sum: attribute(linesInfo, check.lines.sum, 'lines.sum'), by: attribute(linesInfo, check.lines.by, 'lines.by'), where, documents, linesInfo };
}

/** Code-unit order, as the stores are asked to sort keys (PostgreSQL `COLLATE "C"`, MongoDB's binary order: the same for ids in ASCII). */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Merges two streams sorted by key — the documents `[key, value]` and the line sums
 * `[key, total]` — into the keys where they disagree: a document whose value is not its lines'
 * total (0 without lines), or a nonzero total with no document. Stops after `limit + 1`
 * candidates: bounded by the streams and by the page.
 */
export async function mergeCandidates(
  documents: AsyncIterable<[string, unknown]>,
  sums: AsyncIterable<[string, number]>,
  limit: number,
): Promise<SumCandidates> {
  const keys: string[] = [];
  const docs = documents[Symbol.asyncIterator]();
  const lines = sums[Symbol.asyncIterator]();
  let doc = await docs.next();
  let line = await lines.next();
  try {
    while (keys.length <= limit && (doc.done !== true || line.done !== true)) {
      const order = doc.done === true ? 1 : line.done === true ? -1 : compareKeys(doc.value[0], line.value[0]);
      if (order < 0) {
        // a document without lines: its total is 0
        if (!sameNumber(doc.value[1], 0)) keys.push(doc.value[0]);
        doc = await docs.next();
      } else if (order > 0) {
        // lines without a document
        if (!sameNumber(line.value[1], 0)) keys.push(line.value[0]);
        line = await lines.next();
      } else {
        if (!sameNumber(doc.value[1], line.value[1])) keys.push(doc.value[0]);
        doc = await docs.next();
        line = await lines.next();
      }
    }
  } finally {
    await docs.return?.();
    await lines.return?.();
  }
  return keys.length > limit ? { keys: keys.slice(0, limit), next: keys[limit - 1] } : { keys, next: null };
}

function sameNumber(stored: unknown, total: number): boolean {
  return typeof stored === 'number' && stored === total;
}

// ---------------------------------------------------------------------------------------------
// The streaming implementation over Waterline (sails-disk; any adapter): chunks in key order

/** Rows per Waterline read: what a streaming check holds in memory at once. */
export const SUM_CHUNK = 1000;

/** `[id, field]` of every document after `after`, in id order, a chunk at a time (keyset on the primary key). */
export async function* documentValues(model: WaterlineModel, field: string, after: string | null, chunk = SUM_CHUNK): AsyncGenerator<[string, unknown]> {
  const pk = model.primaryKey;
  let cursor = after;
  // Bounded by the collection: each round moves the cursor past `chunk` documents or ends.
  for (;;) {
    const rows = await model.find({ where: cursor === null ? {} : { [pk]: { '>': cursor } }, sort: [{ [pk]: 'ASC' }], limit: chunk });
    for (const row of rows) yield [String(row[pk]), row[field]];
    if (rows.length < chunk) return;
    cursor = String(rows[rows.length - 1][pk]);
  }
}

/** `[key, total]` per value of `by` after `after` (nulls excluded), in key order: lines read sorted by (by, id), a chunk at a time. */
export async function* lineTotals(model: WaterlineModel, lines: SumCandidatesRequest['lines'], after: string | null, chunk = SUM_CHUNK): AsyncGenerator<[string, number]> {
  const pk = model.primaryKey;
  const { by, sum, where } = lines;
  let cursor: [string, string] | null = null;
  let current: string | null = null;
  let total = 0;
  for (;;) {
    const keyset: Record<string, unknown> = cursor === null
      ? { [by]: after === null ? { '!=': null } : { '>': after } }
      : { or: [{ [by]: { '>': cursor[0] } }, { [by]: cursor[0], [pk]: { '>': cursor[1] } }] };
    const rows = await model.find({ where: { and: [where, keyset] }, sort: [{ [by]: 'ASC' }, { [pk]: 'ASC' }], limit: chunk });
    for (const row of rows) {
      const key = String(row[by]);
      if (key !== current) {
        if (current !== null) yield [current, total];
        current = key;
        total = 0;
      }
      total += Number(row[sum]);
    }
    if (rows.length < chunk) break;
    const last = rows[rows.length - 1];
    cursor = [String(last[by]), String(last[pk])];
  }
  if (current !== null) yield [current, total];
}
