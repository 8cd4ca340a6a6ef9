/**
 * Committed reads: documents as the last committed transaction left them. On the log protocol a
 * transaction writes its documents before its commit point, so a plain `Model.find` sees writes
 * that may still be rolled back; these reads answer every document an unfinished transaction
 * wrote with its before-image from the log, hide what it created, and still return what it
 * destroyed. Several queries read together (`snapshot`) see one instant: never half of a
 * transaction, across models too.
 *
 * The datastore-specific part (reading rows, locks/fences and logs as of one instant) is each
 * store's `readView`; everything here is adapter-free.
 */
import { TransactError } from '../core/errors';
import type { ModelInfo } from '../core/model-info';
import { unavailableIfTransient } from '../store/retrying';
import type { AtomicStore } from '../store';
import type { Image } from '../core/types';
import { type NullOrder, type ParsedQuery, parseQuery, parseWhere } from '../query/criteria';
import { parseSumCheck, type SumCheck } from '../query/sums';
import { committedRows } from '../query/view';

/** One query of a snapshot: a model and its criteria (`{where, sort, skip, limit}` or a bare where clause). */
export interface ReadQuery {
  model: string;
  criteria?: unknown;
}

/** A document whose stored total is not the sum of its lines, committed. */
export interface SumMismatch {
  id: string;
  /** The sum of its lines (0: none). */
  expected: number;
  /** What the document holds; null when there is no such document (lines name a missing one). */
  actual: number | null;
  document: Image | null;
}

export interface SumCheckPage {
  items: SumMismatch[];
  /** Pass as `after` for the next page; null when the check is complete. */
  next: string | null;
  /** How many keys the datastore proposed (items are those the committed re-check confirmed). */
  candidates: number;
}

/** One query of a committed answer, parsed against its model. */
export interface CommittedQuery {
  info: ModelInfo;
  parsed: ParsedQuery;
}

/**
 * The protocol's part of committed reads: per query, its committed rows (skip and limit applied),
 * all as of one instant. Log protocol v2's is the store's readView with lib/query/view.ts'
 * rules (the default); log protocol v3's is lib/reads/redo.ts.
 */
export interface CommittedSource {
  answer(queries: readonly CommittedQuery[], nulls: NullOrder): Promise<Image[][]>;
}

export class CommittedReads {
  constructor(
    private readonly store: AtomicStore,
    /** App models only: the hook's log and lock models are not read through here. */
    private readonly infoOf: (identity: string) => ModelInfo | undefined,
    /**
     * Told about documents a read left out because a late insert put them back after a committed
     * transaction took them over (sails-mongo: StoreView.lateInserts): `model:id` → the late
     * write's fence. They stay in the datastore for an operator to look at (the hook warns).
     */
    private readonly onLateInserts: (found: ReadonlyMap<string, string>) => void = () => undefined,
    /** Log protocol v3's committed answers (lib/reads/redo.ts); by default v2's, from the store's readView. */
    private readonly source?: CommittedSource,
  ) {}

  /** Documents matching `criteria`, committed. Criteria: Waterline's shapes, see lib/query/criteria.ts for what is accepted. */
  async find(model: string, criteria?: unknown): Promise<Image[]> {
    const [rows] = await this.snapshot([{ model, criteria }]);
    return rows;
  }

  /** One document by id (or by criteria matching at most one), committed; null when there is none. */
  async findOne(model: string, idOrCriteria: string | Record<string, unknown>): Promise<Image | null> {
    const info = this.require(model);
    // An id, a bare where clause, or `{where}` (sort/skip/limit mean nothing for at most one).
    const where = typeof idOrCriteria === 'string' ? { [info.primaryKey]: idOrCriteria } : 'where' in idOrCriteria ? idOrCriteria.where : idOrCriteria;
    const rows = await this.find(model, { where, limit: 2 });
    if (rows.length > 1) throw new TransactError('validation_failed', `more than one ${model} matches: findOne needs criteria that match at most one`, { path: 'criteria' });
    return rows[0] ?? null;
  }

  /** How many documents match, committed (reads them: the committed count is not the datastore's count). */
  async count(model: string, where?: unknown): Promise<number> {
    const info = this.require(model);
    const parsed = parseQuery(info, where === undefined ? undefined : { where });
    return (await this.run([{ info, parsed }]))[0].length;
  }

  /** Several queries, answered as of one instant: the results, in the order of `queries`. */
  async snapshot(queries: readonly ReadQuery[]): Promise<Image[][]> {
    return this.run(queries.map(({ model, criteria }) => {
      const info = this.require(model);
      return { info, parsed: parseQuery(info, criteria) };
    }));
  }

  /**
   * One page of a sum check (see lib/query/sums.ts): the documents of `check.model` whose `field`
   * is not the sum of their lines, committed, in key order. The datastore proposes candidates from
   * the raw data (a GROUP BY or a $group pipeline: nothing loaded here but the page); each is then
   * re-checked through committed reads — its document and its lines, as of one instant — so a
   * transaction in flight never shows as a mismatch. `next` continues the check (null: complete).
   * Lines without a document show with `actual: null, document: null`.
   */
  async checkSums(check: SumCheck, page: { after?: string | null; limit: number }): Promise<SumCheckPage> {
    const { documents, linesInfo, ...lines } = parseSumCheck(check, this.infoOf);
    if (!Number.isSafeInteger(page.limit) || page.limit < 1) throw new TransactError('validation_failed', 'limit is a positive integer', { path: 'limit' });
    const after = page.after ?? null;
    if (after !== null && typeof after !== 'string') throw new TransactError('validation_failed', 'after is a key from an earlier page', { path: 'after' });
    const found = await this.store.sumCandidates({ model: documents.identity, field: check.field, lines, after, limit: page.limit });
    if (found.keys.length === 0) return { items: [], next: found.next, candidates: 0 };
    const [docs, lineRows] = await this.run([
      { info: documents, parsed: parseQuery(documents, { where: { [documents.primaryKey]: { in: found.keys } } }) },
      { info: linesInfo, parsed: parseQuery(linesInfo, { where: { and: [lines.where, { [lines.by]: { in: found.keys } }] } }) },
    ]);
    const totals = new Map<string, number>();
    for (const line of lineRows) totals.set(String(line[lines.by]), (totals.get(String(line[lines.by])) ?? 0) + Number(line[lines.sum]));
    const byKey = new Map(docs.map((doc) => [String(doc[documents.primaryKey]), doc]));
    const items: SumMismatch[] = [];
    for (const key of found.keys) {
      const expected = totals.get(key) ?? 0;
      const document = byKey.get(key) ?? null;
      const actual = document === null ? null : ((document[check.field] as number | null | undefined) ?? null);
      if (document === null ? expected !== 0 : actual !== expected) items.push({ id: key, expected, actual, document });
    }
    return { items, next: found.next, candidates: found.keys.length };
  }

  /**
   * SUM of `field` over the documents matching `where`, computed by the datastore. Raw, not
   * committed: a transaction in flight counts with what it has written so far (totals for a
   * report; per-document answers come from checkSums and the committed reads).
   */
  async aggregateSum(model: string, field: string, where: Record<string, unknown> = {}): Promise<number> {
    const info = this.require(model);
    if (info.attributes[field] === undefined) throw new TransactError('unknown_attribute', `${model} has no attribute "${field}"`, { path: 'field' });
    return this.store.sum(info.identity, field, parseWhere(info, where));
  }

  private async run(queries: readonly CommittedQuery[]): Promise<Image[][]> {
    if (queries.length === 0) return [];
    const nulls: NullOrder = this.store.kind === 'postgresql' ? 'last' : 'first';
    if (this.source !== undefined) return this.source.answer(queries, nulls).catch((err: unknown) => {
      throw unavailableIfTransient(err);
    });
    const view = await this.store
      .readView(
        queries.map(({ info, parsed }) => ({
          model: info.identity,
          where: parsed.where,
          sort: parsed.sort,
          ...(parsed.limit === undefined ? {} : { limit: parsed.skip + parsed.limit }),
        })),
      )
      .catch((err: unknown) => {
        throw unavailableIfTransient(err);
      });
    if (view.lateInserts !== undefined && view.lateInserts.size > 0) this.onLateInserts(view.lateInserts);
    return queries.map(({ info, parsed }, i) => committedRows(info.identity, info.primaryKey, parsed, view.rows[i], view, nulls));
  }

  private require(model: string): ModelInfo {
    const info = typeof model === 'string' ? this.infoOf(model) : undefined;
    if (info === undefined) throw new TransactError('unknown_model', `no model "${String(model)}" to read`, { path: 'model' });
    return info;
  }
}
