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
import { TransactError } from '../errors';
import type { ModelInfo } from '../model-info';
import type { AtomicStore } from '../store';
import type { Image } from '../types';
import { type NullOrder, type ParsedQuery, parseQuery } from './criteria';
import { committedRows } from './view';

/** One query of a snapshot: a model and its criteria (`{where, sort, skip, limit}` or a bare where clause). */
export interface ReadQuery {
  model: string;
  criteria?: unknown;
}

export class CommittedReads {
  constructor(
    private readonly store: AtomicStore,
    /** App models only: the hook's log and lock models are not read through here. */
    private readonly infoOf: (identity: string) => ModelInfo | undefined,
  ) {}

  /** Documents matching `criteria`, committed. Criteria: Waterline's shapes, see lib/reads/criteria.ts for what is accepted. */
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

  private async run(queries: readonly { info: ModelInfo; parsed: ParsedQuery }[]): Promise<Image[][]> {
    if (queries.length === 0) return [];
    const view = await this.store.readView(
      queries.map(({ info, parsed }) => ({
        model: info.identity,
        where: parsed.where,
        sort: parsed.sort,
        ...(parsed.limit === undefined ? {} : { limit: parsed.skip + parsed.limit }),
      })),
    );
    const nulls: NullOrder = this.store.kind === 'postgresql' ? 'last' : 'first';
    return queries.map(({ info, parsed }, i) => committedRows(info.identity, info.primaryKey, parsed, view.rows[i], view, nulls));
  }

  private require(model: string): ModelInfo {
    const info = typeof model === 'string' ? this.infoOf(model) : undefined;
    if (info === undefined) throw new TransactError('unknown_model', `no model "${String(model)}" to read`, { path: 'model' });
    return info;
  }
}
