/**
 * Simulated Waterline models over the simulated database's tables: the slice of the model API the
 * engine reads through (lib/core/waterline.ts `WaterlineModel`) — find/findOne/count with `where`
 * (equality, arrays as `in`, and what lib/query/criteria matches: in, nin, <, <=, >, >=, !=, and,
 * or), `sort`, `skip`, `limit` and `.meta()`; create/createEach/update().set()/destroy(). Each
 * query is one request to the database, answered as of one instant.
 *
 * The layout says how the adapter being imitated stores a record: the primary key's column
 * (`_id` on sails-mongo) and the fence field, which sails-mongo returns only to the engine's own
 * reads (`meta({transactFence: true})`, as MongoStore.adopt arranges on the real adapter).
 */
import { comparator, matches, type NullOrder, type SortClause } from '../../lib/query/criteria';
import type { Deferred, WaterlineAttribute, WaterlineDatastore, WaterlineModel } from '../../lib/core/waterline';
import { withoutRecords } from '../../lib/store/mongo/plain-reads';
import { RECORD_FIELDS } from '../../lib/store/mongo/store';
import { copy, type Doc, type SimDatabase, stepwise, type Transport } from './database';

export interface StorageLayout {
  /** The column holding the primary key: `_id` (sails-mongo) or `id`. */
  pkColumn: string;
  /** Where documents carry their fence (sails-mongo), or null. */
  fenceField: string | null;
  /** A field no read returns (sails-mongo's write number: MongoStore.adopt strips it), or null. */
  hiddenField: string | null;
  /** Where nulls sort (the store's `kind` tells committed reads the same). */
  nulls: NullOrder;
  /** What `getDatastore().config.adapter` answers. */
  adapter: string;
  /** What `getDatastore().manager` answers (the simulated driver's Db, for sails-mongo). */
  manager?: unknown;
  /**
   * Log protocol v3 on sails-mongo: the documents hold stubs, tombstones and the record fields, and
   * the hook wraps the adapter's queries (lib/store/mongo/plain-reads.ts hideRecords): every query's where
   * is ANDed with `withoutRecords` (no stub, no tombstone), and the records returned lose the record
   * fields unless the query asks to keep them (`meta({transactRecords: true})`: MongoRecords.view).
   */
  records?: boolean;
}

export interface SimModelDefinition {
  identity: string;
  attributes: Record<string, WaterlineAttribute>;
  /** Any extra model settings (`financial`, …), kept on the model as Waterline keeps them. */
  settings?: Record<string, unknown>;
}

interface Criteria {
  where: Record<string, unknown>;
  sort: SortClause;
  skip: number;
  limit: number | undefined;
}

const CRITERIA_KEYS = new Set(['where', 'sort', 'skip', 'limit', 'select', 'omit']);

/** Waterline's where: arrays mean `in`. */
function normalizeWhere(where: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(where)) {
    if (key === 'and' || key === 'or') out[key] = (value as Record<string, unknown>[]).map(normalizeWhere);
    else out[key] = Array.isArray(value) ? { in: value } : value;
  }
  return out;
}

function normalizeSort(sort: unknown): SortClause {
  if (sort === undefined || sort === null) return [];
  const one = (clause: unknown): SortClause => {
    if (typeof clause === 'string') {
      const [attribute, direction] = clause.trim().split(/\s+/);
      return [{ [attribute]: direction?.toUpperCase() === 'DESC' ? 'DESC' : 'ASC' }];
    }
    return Object.entries(clause as Record<string, unknown>).map(([attribute, direction]) => ({
      [attribute]: direction === -1 || String(direction).toUpperCase() === 'DESC' ? 'DESC' : 'ASC',
    }));
  };
  return Array.isArray(sort) ? sort.flatMap(one) : one(sort);
}

function normalizeCriteria(criteria: Record<string, unknown> | undefined): Criteria {
  const given = criteria ?? {};
  const full = Object.keys(given).some((key) => CRITERIA_KEYS.has(key));
  const where = full ? ((given.where as Record<string, unknown> | undefined) ?? {}) : given;
  return {
    where: normalizeWhere(where),
    sort: full ? normalizeSort(given.sort) : [],
    skip: full && typeof given.skip === 'number' ? given.skip : 0,
    limit: full && typeof given.limit === 'number' ? given.limit : undefined,
  };
}

/** A Waterline deferred: configured by meta()/set(), run once when awaited. */
class SimQuery<T> implements Deferred<T> {
  private metadata: Record<string, unknown> = {};
  private values: Record<string, unknown> = {};
  private running: Promise<T> | undefined;

  constructor(private readonly execute: (meta: Record<string, unknown>, values: Record<string, unknown>) => Promise<T>) {}

  meta(meta: Record<string, unknown>): Deferred<T> {
    this.metadata = { ...this.metadata, ...meta };
    return this;
  }

  set(values: Record<string, unknown>): Deferred<T> {
    this.values = { ...this.values, ...values };
    return this;
  }

  then<A = T, B = never>(ok?: ((value: T) => A | PromiseLike<A>) | null, ko?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    this.running ??= this.execute(this.metadata, this.values);
    return this.running.then(ok, ko);
  }
}

export class SimModel implements WaterlineModel {
  [setting: string]: unknown;
  readonly identity: string;
  readonly tableName: string;
  readonly primaryKey = 'id';
  readonly datastore = 'sim';
  readonly dontUseObjectIds = true;
  readonly attributes: Record<string, WaterlineAttribute>;

  constructor(definition: SimModelDefinition, private readonly db: SimDatabase, private readonly transport: Transport, private readonly layout: StorageLayout) {
    Object.assign(this, definition.settings ?? {});
    this.identity = definition.identity;
    this.tableName = definition.identity;
    this.attributes = { id: { type: 'string', required: true }, ...definition.attributes };
  }

  getDatastore(): WaterlineDatastore {
    return { manager: this.layout.manager, config: { adapter: this.layout.adapter } };
  }

  find(criteria: Record<string, unknown>): Deferred<Record<string, unknown>[]> {
    return new SimQuery((meta) => this.select(`${this.identity}.find(${keyOf(criteria)})`, this.refs(criteria), (docs) => this.selectFrom(docs, criteria, meta.transactFence === true, meta.transactRecords === true)));
  }

  findOne(criteria: Record<string, unknown>): Deferred<Record<string, unknown> | undefined> {
    return new SimQuery((meta) => this.select(`${this.identity}.findOne(${keyOf(criteria)})`, this.refs(criteria), (docs) => this.selectFrom(docs, criteria, meta.transactFence === true, meta.transactRecords === true)[0]));
  }

  count(criteria: Record<string, unknown>): Deferred<number> {
    return new SimQuery(() => this.select(`${this.identity}.count`, [this.identity], (docs) => this.selectFrom(docs, criteria, false).length));
  }

  /**
   * One read request: in one step, or on a v3 sails-mongo layout (`records`) as MongoDB scans, no
   * snapshot across documents — each document read at a step of its own (Transport.callSteps),
   * other requests landing between two — then the answer made of what was read.
   */
  private select<T>(label: string, refs: readonly string[], answer: (docs: Iterable<Doc>) => T): Promise<T> {
    const table = this.db.table(this.tableName);
    if (this.layout.records !== true) return this.transport.call(label, refs, () => answer(table.values()));
    return stepwise(this.transport, true, label, refs, () => {
      const seen: Doc[] = [];
      const steps = [...table.keys()].map((id) => () => {
        const doc = table.get(id);
        if (doc !== undefined) seen.push(copy(doc));
      });
      return { steps, result: () => answer(seen) };
    });
  }

  create(values: Record<string, unknown>): Deferred<Record<string, unknown> | undefined> {
    return new SimQuery(() => this.transport.call(`${this.identity}.create(${String(values.id)})`, [`${this.identity}:${String(values.id)}`], () => {
      this.insert(values);
      return undefined;
    }));
  }

  createEach(values: Record<string, unknown>[]): Deferred<Record<string, unknown>[] | undefined> {
    return new SimQuery(() => this.transport.call(`${this.identity}.createEach(${values.length})`, values.map((v) => `${this.identity}:${String(v.id)}`), () => {
      for (const record of values) this.insert(record);
      return undefined;
    }));
  }

  update(criteria: Record<string, unknown>): Deferred<Record<string, unknown>[] | undefined> {
    return new SimQuery((_meta, set) => this.transport.call(`${this.identity}.update(${keyOf(criteria)})`, this.refs(criteria), () => {
      const table = this.db.table(this.tableName);
      for (const record of this.selectNow(criteria, true)) {
        const id = String(record.id);
        table.set(id, { ...(table.get(id) as Doc), ...copy(set) });
      }
      return undefined;
    }));
  }

  destroy(criteria: Record<string, unknown>): Deferred<Record<string, unknown>[] | undefined> {
    return new SimQuery(() => this.transport.call(`${this.identity}.destroy(${keyOf(criteria)})`, this.refs(criteria), () => {
      const table = this.db.table(this.tableName);
      for (const record of this.selectNow(criteria, true)) table.delete(String(record.id));
      return undefined;
    }));
  }

  /** A stored document as Waterline returns it: the key as `id`, the fence only to the engine's own reads. */
  record(doc: Doc, keepFence: boolean): Record<string, unknown> {
    const { [this.layout.pkColumn]: id, ...rest } = copy(doc);
    if (this.layout.fenceField !== null && !keepFence) delete rest[this.layout.fenceField];
    if (this.layout.hiddenField !== null) delete rest[this.layout.hiddenField];
    return { id, ...rest };
  }

  /**
   * The matching records now, in one step: for code already running inside a delivered operation (a
   * store's). On a v3 sails-mongo layout (`records`), as the hook's wrap answers: no stub nor
   * tombstone, and the record fields only to `keepRecords`.
   */
  selectNow(given: Record<string, unknown>, keepFence: boolean, keepRecords = false): Record<string, unknown>[] {
    return this.selectFrom(this.db.table(this.tableName).values(), given, keepFence, keepRecords);
  }

  /** The records of `docs` matching `given`, as selectNow answers them. */
  private selectFrom(docs: Iterable<Doc>, given: Record<string, unknown>, keepFence: boolean, keepRecords = false): Record<string, unknown>[] {
    const criteria = normalizeCriteria(given);
    const where = this.layout.records === true ? withoutRecords(criteria.where) : criteria.where;
    const all = [...docs].map((doc) => this.record(doc, keepFence)).filter((record) => matches(record, where));
    if (criteria.sort.length > 0) all.sort(comparator(criteria.sort, this.layout.nulls));
    const selected = criteria.limit === undefined ? all.slice(criteria.skip) : all.slice(criteria.skip, criteria.skip + criteria.limit);
    if (this.layout.records === true && !keepRecords) for (const record of selected) for (const field of RECORD_FIELDS) delete record[field];
    return selected;
  }

  private insert(values: Record<string, unknown>): void {
    const table = this.db.table(this.tableName);
    const id = String(values.id);
    if (table.has(id)) throw Object.assign(new Error(`Would violate uniqueness constraint-- a record already exists with conflicting value(s) (${this.identity} ${id})`), { code: 'E_UNIQUE' });
    const { id: _id, ...rest } = copy(values);
    table.set(id, { [this.layout.pkColumn]: id, ...rest });
  }

  private refs(criteria: Record<string, unknown>): string[] {
    const { where } = normalizeCriteria(criteria);
    const id = where.id;
    if (typeof id === 'string') return [`${this.identity}:${id}`];
    const list = (id as { in?: unknown } | undefined)?.in;
    return Array.isArray(list) ? list.map((item) => `${this.identity}:${String(item)}`) : [this.identity];
  }
}

function keyOf(criteria: Record<string, unknown>): string {
  const { where } = normalizeCriteria(criteria);
  const id = where.id;
  if (typeof id === 'string') return id;
  const list = (id as { in?: unknown } | undefined)?.in;
  return Array.isArray(list) ? list.join(',') : Object.keys(where).join(',');
}
