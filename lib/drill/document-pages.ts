/**
 * Streaming reads shared by drills and backups: documents of a model in pages of committed
 * images, and the log in pages by commit time, both with keyset cursors (never skip/offset, which
 * shift while writes go on), so memory holds one page whatever the collection's size.
 */
import type { Engine } from '../engine';
import { rawDestroy } from '../models/destroy-guard';
import { jsonEqual } from '../core/json';
import type { Image, LogDocument } from '../core/types';
import type { WaterlineModel } from '../core/waterline';

export const DEFAULT_PAGE_SIZE = 500;

/** Log entries per page for a page size of documents: a log entry carries up to maxOps steps with two images each. */
export function logPageSize(pageSize: number): number {
  return Math.max(1, Math.floor(pageSize / 5));
}

/**
 * Every committed document of `model`, in primary-key order, `pageSize` at a time. Each page is a
 * committed read (no uncommitted write of a running transaction, never half of one); two pages
 * may be read at different instants: callers make the whole consistent with the log (see
 * lib/drill/rebuild.ts and lib/drill/backup.ts). The cursor only moves forward, so the loop ends.
 */
export async function* committedPages(engine: Pick<Engine, 'reads' | 'infoOf'>, model: string, pageSize = DEFAULT_PAGE_SIZE): AsyncGenerator<Image[]> {
  const info = engine.infoOf(model);
  if (info === undefined) throw new Error(`sails-hook-transact: no model "${model}" to read`);
  const pk = info.primaryKey;
  let after: unknown;
  for (;;) {
    const where = after === undefined ? {} : { [pk]: { '>': after } };
    const rows = (await engine.reads.find(model, { where, sort: [{ [pk]: 'ASC' }], limit: pageSize })).map(storedValues);
    if (rows.length > 0) yield rows;
    if (rows.length < pageSize) return;
    const last = rows[rows.length - 1][pk];
    if (last === undefined || last === null || last === after) {
      throw new Error(`sails-hook-transact: the ${model} cursor did not move (primary key ${String(last)})`);
    }
    after = last;
  }
}

/**
 * A document's stored values only. Waterline gives the records of a model with `customToJSON` that
 * function as their (non-enumerable) `toJSON`, so serializing one writes what a client may see — without, say, a
 * password hash — and a backup of it could never be restored.
 */
export function storedValues(doc: Image): Image {
  const out: Image = {};
  for (const [name, value] of Object.entries(doc)) if (typeof value !== 'function') out[name] = value;
  return out;
}

export type LogOrder = 'newest-first' | 'oldest-first';

/**
 * Log documents in one of `states` whose `endedAt` is after `since`, by commit time (`endedAt`,
 * then id: a total order, so a keyset cursor never skips nor repeats one). Logs that commit
 * while this runs are included when they sort after the cursor (newest-first: never; they are
 * after every page's position only in oldest-first order).
 */
export async function* logPages(
  engine: Pick<Engine, 'findLogs'>,
  options: { states: readonly string[]; since?: number; order: LogOrder; pageSize?: number },
): AsyncGenerator<LogDocument[]> {
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  const dir = options.order === 'newest-first' ? 'DESC' : 'ASC';
  const beyond = options.order === 'newest-first' ? '<' : '>';
  let cursor: { endedAt: number; id: string } | undefined;
  for (;;) {
    const and: Record<string, unknown>[] = [{ state: options.states.length === 1 ? options.states[0] : { in: [...options.states] } }];
    if (options.since !== undefined) and.push({ endedAt: { '>': options.since } });
    else and.push({ endedAt: { '!=': null } });
    if (cursor !== undefined) and.push({ or: [{ endedAt: { [beyond]: cursor.endedAt } }, { endedAt: cursor.endedAt, id: { [beyond]: cursor.id } }] });
    const page = await engine.findLogs({ where: { and }, sort: [{ endedAt: dir }, { id: dir }], limit: pageSize });
    if (page.length > 0) yield page;
    if (page.length < pageSize) return;
    const last = page[page.length - 1];
    cursor = { endedAt: last.endedAt as number, id: last.id };
  }
}

/** Two images as the same document, whatever each adapter did to absent vs null and key order. */
export function sameImage(a: Image | null | undefined, b: Image | null | undefined): boolean {
  if (a === null || a === undefined || b === null || b === undefined) return (a ?? null) === (b ?? null);
  return jsonEqual(normalize(a), normalize(b));
}

function normalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalize);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value as Record<string, unknown>).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined && v !== null) out[key] = normalize(v);
    }
    return out;
  }
  return value;
}

/** Items grouped by their `model`, in first-seen order: one write per model. */
export function byModel<T extends { model: string }>(items: Iterable<T>): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const list = groups.get(item.model);
    if (list === undefined) groups.set(item.model, [item]);
    else list.push(item);
  }
  return groups;
}

/**
 * Replaces documents of a drill's or a restore's own datastore: deletes `ids` (past the history
 * guard), then inserts the images that are not null (null: the document is absent there).
 */
export async function replaceDocuments(target: WaterlineModel, primaryKey: string, ids: readonly string[], images: readonly (Image | null)[]): Promise<void> {
  if (ids.length > 0) await rawDestroy(target)({ [primaryKey]: { in: [...ids] } });
  const rows = images.filter((image): image is Image => image !== null).map((image) => ({ ...image }));
  if (rows.length > 0) await target.createEach(rows);
}
