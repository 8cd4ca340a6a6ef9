/**
 * Where Waterline's model calls meet the engine. Waterline runs a model call (`Account.update(…)
 * .set(…).usingConnection(db)`) in full — normalization, validation, `beforeUpdate`, `.fetch()`,
 * `afterUpdate` — and hands the adapter one stage-3 query, whose `meta.leasedConnection` is the
 * `db` given. Each model's `_adapter` is replaced by a thin object that inherits the real adapter
 * and, only when that connection is an engine token (./connection.ts), runs the query through
 * the token's transaction: locked reads, logged and fenced writes. Any other query goes to the
 * real adapter untouched. So lifecycle callbacks and validation are never bypassed, and a query
 * given an engine token can never run outside its transaction: it is run inside, or refused.
 */
import { OUTSIDE } from './ambient';
import { isTransactError, TransactError } from '../core/errors';
import type { Transaction } from '../engine/transaction';
import type { Image } from '../core/types';
import { isUniqueViolation, type WaterlineModel } from '../core/waterline';
import { matches, type SortClause, type Where } from '../query/criteria';
import { type ColumnMap, columnMap, compileWhere, fromColumns, restrictedIds, sortImages, toColumns, window } from './criteria';
import { type EngineConnection, isEngineConnection, isNativeAmbientConnection, type NativeAmbientConnection } from './connection';

/** The stage-3 query Waterline hands an adapter method (the parts this module reads). */
export interface StageThreeQuery {
  method: string;
  using: string;
  criteria?: { where?: unknown; sort?: SortClause; skip?: number; limit?: number; select?: string[] };
  newRecord?: Record<string, unknown>;
  newRecords?: Record<string, unknown>[];
  valuesToSet?: Record<string, unknown>;
  numericAttrName?: string;
  /** `.populate()` as Waterline hands it to an adapter's `join` (sails-postgresql). */
  joins?: Join[];
  meta?: { leasedConnection?: unknown; fetch?: boolean; [key: string]: unknown };
  [key: string]: unknown;
}

/** One join instruction of a stage-3 query (the parts read here; Waterline's help-find.js). */
export interface Join {
  alias: string;
  childCollectionIdentity: string;
  child: string;
  /** The parent's column the child is found by, and the child's column that holds it. */
  parentKey: string;
  childKey: string;
  /** A to-many collection (the alias gets the children) or a to-one model (the parent key gets the child, or null). */
  collection: boolean;
  criteria?: { where?: Record<string, unknown>; sort?: SortClause; skip?: number; limit?: number; select?: string[] };
}

type AdapterCallback = (err?: unknown, result?: unknown) => void;
type AdapterMethod = (datastore: string, query: StageThreeQuery, done: AdapterCallback) => unknown;
type Adapter = Record<string | symbol, unknown>;

/** A Waterline model as this module sees it: its adapter is reachable (and replaceable) as `_adapter`. */
export type AdaptedModel = WaterlineModel & { _adapter: Adapter };

/** The adapter methods a model call may reach with a connection; each is run or refused. */
const STATEMENTS = ['find', 'count', 'sum', 'avg', 'create', 'createEach', 'update', 'destroy', 'join'] as const;
type Statement = (typeof STATEMENTS)[number];

/** Marks an adapter this module already wrapped, so installing twice wraps once. */
const WRAPPED = Symbol.for('sails-hook-transact.wrapped-adapter');
/** Where a wrapped adapter keeps its model's statements: a join runs its children's finds through them. */
const STATEMENTS_OF = Symbol.for('sails-hook-transact.model-statements');

/** The statements of one model, run inside an engine transaction. */
export class ModelStatements {
  private readonly columns: ColumnMap;
  private readonly primaryKey: string;
  /** Its ids come from the database's sequence: a create must give one (see create). */
  private readonly autoIncrement: boolean;

  constructor(
    private readonly model: WaterlineModel,
    /** The real adapter: asked for candidate ids (a plain read), never to write. */
    private readonly adapter: Adapter,
    /** Why this model cannot take part in engine transactions, if it cannot. */
    private readonly refusal: string | null,
  ) {
    // Waterline's normalized `schema` names every attribute's column; `attributes` may not
    // (sails-mongo's `_id` primary key shows only there).
    const schema = model.schema as Record<string, { columnName?: string }> | undefined;
    this.columns = columnMap(schema ?? model.attributes);
    this.primaryKey = model.primaryKey;
    const key = model.attributes[model.primaryKey] as WaterlineModel['attributes'][string] | undefined;
    this.autoIncrement = key?.autoIncrement === true || key?.autoMigrations?.autoIncrement === true;
  }

  get identity(): string {
    return this.model.identity;
  }

  run(statement: Statement, query: StageThreeQuery, connection: EngineConnection): Promise<unknown> {
    return connection.run(async (tx) => {
      if (this.refusal !== null) throw new TransactError('unsupported_query', `${this.identity}: ${this.refusal}; nothing was run`, { details: { model: this.identity } });
      if (this.model.datastore !== connection.datastore) {
        throw new TransactError('unsupported_query', `${this.identity} lives on datastore "${this.model.datastore}", and this transaction spans datastore "${connection.datastore}" only; nothing was run`, { details: { model: this.identity } });
      }
      switch (statement) {
        case 'find':
          return this.find(tx, query);
        case 'count':
          return (await this.lockedMatches(tx, query)).length;
        case 'sum':
        case 'avg':
          return this.aggregate(tx, query, statement);
        case 'create':
          return this.create(tx, [query.newRecord ?? {}], query.meta?.fetch === true).then((records) => records?.[0]);
        case 'createEach':
          return this.create(tx, query.newRecords ?? [], query.meta?.fetch === true);
        case 'update':
          return this.update(tx, query);
        case 'destroy':
          return this.destroy(tx, query);
        case 'join':
          return this.join(tx, query, connection);
      }
    });
  }

  /**
   * The error Waterline is given for a failed statement. A taken id or unique value — the
   * engine's `already_exists`, or the store's own write refused (Waterline's `E_UNIQUE` on the log
   * protocol, PostgreSQL's 23505 on the native path) — goes as Waterline knows it from an adapter,
   * a `notUnique` footprint, so that Waterline reports `E_UNIQUE` naming the attributes, as it
   * does outside a transaction and inside sails-postgresql's own. Any other error goes as it is.
   */
  forWaterline(err: unknown): unknown {
    const keys = this.takenColumns(err);
    if (keys === null) return err;
    return Object.assign(new Error((err as Error).message), { footprint: { identity: 'notUnique', keys }, raw: err });
  }

  /** The columns whose values a unique violation says are taken, or null when it is none. */
  private takenColumns(err: unknown): string[] | null {
    const toColumn = (attribute: unknown): string => this.columns.toColumn.get(String(attribute)) ?? String(attribute);
    if (isTransactError(err, 'already_exists')) {
      const named = err.details?.attributes;
      if (Array.isArray(named)) return named.map(toColumn);
      // The native path names them in PostgreSQL's message; the engine's own check of an id names none.
      return postgresKeyColumns(err.cause) ?? [toColumn(this.primaryKey)];
    }
    if (isUniqueViolation(err)) {
      const named = (err as { attrNames?: unknown }).attrNames;
      return Array.isArray(named) ? named.map(toColumn) : [];
    }
    if ((err as { code?: unknown } | null)?.code === '23505') return postgresKeyColumns(err) ?? [];
    return null;
  }

  private condition(query: StageThreeQuery): Where {
    return compileWhere(query.criteria?.where, this.columns, this.identity);
  }

  /**
   * The ids that may match: the ones the criteria name (`{id}` / `{id: {in}}`), else the ones the
   * adapter finds now (a plain read; on PostgreSQL's native path, on the transaction's own
   * connection) — plus every document this transaction wrote (kept for any backend whose plain
   * reads would not see them).
   */
  private async candidates(tx: Transaction, query: StageThreeQuery, condition: Where, limit?: number): Promise<string[]> {
    const named = restrictedIds(condition, this.primaryKey);
    const ids = new Set<string>(named ?? []);
    if (named === null) {
      // On PostgreSQL's native path the read runs on the transaction's own client: it sees the
      // transaction's writes, and needs no second pooled connection (N transactions each waiting
      // for a second connection from a pool of N would wait for each other until their leases end).
      const { leasedConnection: _token, ...rest } = query.meta ?? {};
      const meta = tx.connection === undefined ? rest : { ...rest, leasedConnection: tx.connection };
      const criteria = { where: query.criteria?.where ?? {}, sort: query.criteria?.sort ?? [], skip: 0, limit: limit ?? Number.MAX_SAFE_INTEGER };
      const rows = (await this.plainFind({ method: 'find', using: query.using, criteria, meta, joins: [] })) ?? [];
      const pkColumn = this.columns.toColumn.get(this.primaryKey) ?? this.primaryKey;
      for (const row of rows) ids.add(String(row[pkColumn]));
      for (const step of tx.steps) if (step.model === this.identity && step.after !== null) ids.add(step.id);
    }
    // Locks in one order: two transactions locking overlapping sets meet on the first shared id.
    return [...ids].sort();
  }

  private plainFind(query: StageThreeQuery): Promise<Record<string, unknown>[] | undefined> {
    const find = this.adapter.find as AdapterMethod;
    return new Promise((resolve, reject) => {
      find.call(this.adapter, this.model.datastore, query, (err, rows) => (err ? reject(err) : resolve(rows as Record<string, unknown>[] | undefined)));
    });
  }

  /**
   * Every document that matches, each locked and re-checked after locking: one that stopped
   * matching meanwhile is left out (and stays locked until the transaction ends).
   */
  private async lockedMatches(tx: Transaction, query: StageThreeQuery, limit?: number): Promise<Image[]> {
    const condition = this.condition(query);
    const found: Image[] = [];
    for (const id of await this.candidates(tx, query, condition, limit)) {
      const image = await tx.read(this.identity, id);
      if (image !== null && matches(image, condition)) found.push(image);
    }
    return found;
  }

  private async find(tx: Transaction, query: StageThreeQuery): Promise<Record<string, unknown>[]> {
    const { skip, limit, sort, select } = query.criteria ?? {};
    // Asking the adapter for the first skip+limit is enough: the window is cut again after locking.
    const enough = limit === undefined || limit >= Number.MAX_SAFE_INTEGER ? undefined : (skip ?? 0) + limit;
    const images = window(sortImages(await this.lockedMatches(tx, query, enough), sort, this.columns), skip, limit);
    return images.map((image) => toColumns(this.project(image, select), this.columns));
  }

  private project(image: Image, select: string[] | undefined): Image {
    if (select === undefined || select.includes('*')) return image;
    const attributes = new Set([this.primaryKey, ...select.map((column) => this.columns.toAttribute.get(column) ?? column)]);
    return Object.fromEntries(Object.entries(image).filter(([name]) => attributes.has(name)));
  }

  /**
   * `.populate()` where Waterline hands the adapter a join (sails-postgresql): run the way
   * Waterline runs it on adapters without one (its polypopulate, help-find.js) — the parents,
   * then each parent's children by their own find — with every find inside the transaction, so
   * the children are locked and seen as this transaction wrote them. A many-to-many alias (two
   * joins, through a junction table) is refused.
   */
  private async join(tx: Transaction, query: StageThreeQuery, connection: EngineConnection): Promise<Record<string, unknown>[]> {
    const { joins = [], ...parentQuery } = query;
    const parents = await this.find(tx, parentQuery);
    for (const alias of new Set(joins.map((join) => join.alias))) {
      const aliasJoins = joins.filter((join) => join.alias === alias);
      if (aliasJoins.length !== 1) {
        throw new TransactError('unsupported_query', `${this.identity}: .populate('${alias}') through a junction table (a many-to-many association) as a database join inside an engine transaction; nothing was run`, { details: { model: this.identity } });
      }
      const [join] = aliasJoins;
      const child = this.statementsOf(join.childCollectionIdentity);
      for (const parent of parents) {
        const key = parent[join.parentKey];
        const children = key === undefined || key === null ? [] : ((await child.run('find', childQuery(join, key, query.meta), connection)) as Record<string, unknown>[]);
        if (join.collection) parent[alias] = children;
        else parent[join.parentKey] = children[0] ?? null;
      }
    }
    return parents;
  }

  /** Another model's statements, through its wrapped adapter (Waterline's own registry of models). */
  private statementsOf(identity: string): ModelStatements {
    const collections = (this.model.waterline as { collections?: Record<string, { _adapter?: Adapter }> } | undefined)?.collections;
    const statements = collections?.[identity]?._adapter?.[STATEMENTS_OF];
    if (!(statements instanceof ModelStatements)) {
      throw new TransactError('unsupported_query', `${this.identity}: .populate() of ${identity}, whose queries the engine does not run, inside an engine transaction; nothing was run`, { details: { model: this.identity } });
    }
    return statements;
  }

  private async aggregate(tx: Transaction, query: StageThreeQuery, kind: 'sum' | 'avg'): Promise<number> {
    const column = query.numericAttrName ?? '';
    const attribute = this.columns.toAttribute.get(column) ?? column;
    const values = (await this.lockedMatches(tx, query)).map((image) => image[attribute]).filter((value): value is number => typeof value === 'number');
    const total = values.reduce((sum, value) => sum + value, 0);
    return kind === 'sum' ? total : values.length === 0 ? 0 : total / values.length;
  }

  private async create(tx: Transaction, records: Record<string, unknown>[], fetch: boolean): Promise<Record<string, unknown>[] | undefined> {
    const pkColumn = this.columns.toColumn.get(this.primaryKey) ?? this.primaryKey;
    if (this.autoIncrement && records.some((record) => record[pkColumn] === undefined || record[pkColumn] === null)) {
      // The engine picks an id before inserting, so that a crash leaves an undo it can decide; a
      // number from the database's sequence comes only after. (Waterline's `.archive()` creates
      // its rows so, on sails-postgresql's auto-increment archive.)
      throw new TransactError('unsupported_query', `${this.identity}: a create without an id on an auto-increment primary key inside an engine transaction (the engine chooses ids before inserting); nothing was run`, { details: { model: this.identity } });
    }
    const created: Record<string, unknown>[] = [];
    for (const record of records) {
      const { [this.primaryKey]: id, ...values } = fromColumns(record, this.columns);
      // No id given: the engine picks one now, so that the log can undo the create.
      const image = id === undefined || id === null ? await tx.create(this.identity, values) : await tx.create(this.identity, values, String(id));
      created.push(toColumns(image, this.columns));
    }
    return fetch ? created : undefined;
  }

  private async update(tx: Transaction, query: StageThreeQuery): Promise<Record<string, unknown>[] | undefined> {
    const set = fromColumns(query.valuesToSet ?? {}, this.columns);
    if (Object.hasOwn(set, this.primaryKey)) {
      throw new TransactError('unsupported_query', `${this.identity}: changing the primary key inside an engine transaction; nothing was run`, { details: { model: this.identity } });
    }
    const updated: Record<string, unknown>[] = [];
    for (const image of await this.lockedMatches(tx, query)) {
      const id = String(image[this.primaryKey]);
      updated.push(toColumns(Object.keys(set).length === 0 ? image : await tx.update(this.identity, id, set), this.columns));
    }
    return query.meta?.fetch === true ? updated : undefined;
  }

  private async destroy(tx: Transaction, query: StageThreeQuery): Promise<Record<string, unknown>[] | undefined> {
    const destroyed: Record<string, unknown>[] = [];
    for (const image of await this.lockedMatches(tx, query)) {
      await tx.destroy(this.identity, String(image[this.primaryKey]));
      destroyed.push(toColumns(image, this.columns));
    }
    return query.meta?.fetch === true ? destroyed : undefined;
  }
}

/** The columns PostgreSQL's unique violation names (`Key (email)=(…) already exists.`), if it does. */
function postgresKeyColumns(err: unknown): string[] | null {
  const detail = (err as { detail?: unknown } | null | undefined)?.detail;
  const listed = typeof detail === 'string' ? /^Key \((.+?)\)=/.exec(detail) : null;
  return listed === null ? null : listed[1].split(', ').map((column) => column.replace(/^"|"$/g, ''));
}

/**
 * The find of one parent's children, built as Waterline's polypopulate builds it: the join's
 * subcriteria, AND the child's column equal to the parent's key; the parent query's meta (its
 * connection among it).
 */
function childQuery(join: Join, key: unknown, meta: StageThreeQuery['meta']): StageThreeQuery {
  const { where = {}, skip = 0, limit = Number.MAX_SAFE_INTEGER, sort = [], select } = join.criteria ?? {};
  const subcriteria = Object.keys(where).length === 0 ? [] : Array.isArray(where.and) ? (where.and as unknown[]) : [where];
  return { method: 'find', using: join.child, criteria: { where: { and: [...subcriteria, { [join.childKey]: key }] }, skip, limit, sort, ...(select === undefined ? {} : { select }) }, meta };
}

/**
 * Where a model call without a connection of its own finds the ambient transaction
 * (lib/waterline-api/ambient.ts, `config.transact.ambient`): the hook instance's, so two apps never mix.
 */
export interface AmbientSource {
  /** The connection of the transaction the caller runs in, if any: the engine's, or sails-postgresql's own. */
  current(): EngineConnection | NativeAmbientConnection | undefined;
  /** Runs the engine's own work outside the ambient transaction (its Waterline calls must not join it). */
  outside<T>(work: () => T): T;
  /** An adapter callback, called back in its caller's context. */
  bind<A extends unknown[], R>(callback: (...args: A) => R): (...args: A) => R;
}

/**
 * The engine connection a query runs on: the one it was given (`.usingConnection(db)`); else,
 * with an ambient source, the caller's ambient transaction, unless the query names another
 * connection (PostgreSQL's own client) or opts out (`.meta({ transact: 'outside' })`).
 */
function connectionOf(query: StageThreeQuery | undefined, ambient: AmbientSource | undefined): EngineConnection | NativeAmbientConnection | undefined {
  const given = query?.meta?.leasedConnection;
  if (isEngineConnection(given)) return given;
  if (ambient === undefined || (given !== undefined && given !== null) || query?.meta?.transact === OUTSIDE) return undefined;
  return ambient.current();
}

/**
 * Replaces the model's `_adapter` with one that runs queries carrying an engine connection (or,
 * with `ambient`, made inside an ambient transaction) through the engine, and passes every other
 * query to the real adapter. Adds no method the real adapter lacks (Waterline decides how to
 * populate by whether the adapter has `join`).
 */
export function wrapModelAdapter(model: AdaptedModel, refusal: string | null, ambient?: AmbientSource): void {
  const adapter = model._adapter;
  if (adapter[WRAPPED] === true) return;
  const statements = new ModelStatements(model, adapter, refusal);
  const wrapped: Adapter = Object.create(adapter) as Adapter;
  wrapped[WRAPPED] = true;
  wrapped[STATEMENTS_OF] = statements;
  for (const statement of STATEMENTS) {
    const real = adapter[statement];
    if (typeof real !== 'function') continue;
    wrapped[statement] = function (datastore: string, query: StageThreeQuery, done: AdapterCallback): unknown {
      const connection = connectionOf(query, ambient);
      // With ambient transactions, Waterline's continuation (`after*` callbacks, the caller's next
      // call) runs in the caller's context, not in that of the engine or of a driver's pool.
      const reply = ambient === undefined ? done : ambient.bind(done);
      if (connection === undefined) return (real as AdapterMethod).call(adapter, datastore, query, reply);
      if (isNativeAmbientConnection(connection)) return onNativeClient(model, refusal, connection, query, reply, (given, done) => (real as AdapterMethod).call(adapter, datastore, given, done));
      const run = (): Promise<unknown> => statements.run(statement, query, connection);
      (ambient === undefined ? run() : ambient.outside(run)).then(
        (result) => reply(undefined, result),
        (err: unknown) => reply(statements.forWaterline(err)),
      );
      return undefined;
    };
  }
  model._adapter = wrapped;
}

/**
 * A query made inside sails-postgresql's own transaction (the ambient one) without a connection
 * of its own: given the transaction's client, as `.usingConnection(db)` would have, and tracked
 * so that the transaction waits for it. Refused — never run outside, nor on another datastore's
 * adapter with this client — once the transaction ended, for a model on another datastore, and
 * for the hook's own models.
 */
function onNativeClient(model: WaterlineModel, refusal: string | null, connection: NativeAmbientConnection, query: StageThreeQuery, reply: AdapterCallback, run: (query: StageThreeQuery, done: AdapterCallback) => unknown): undefined {
  const refused = (code: 'transaction_ended' | 'unsupported_query', message: string): undefined => {
    reply(new TransactError(code, message, { details: { model: model.identity, transaction: connection.transactionId } }));
    return undefined;
  };
  if (connection.isEnded) {
    return refused('transaction_ended', `${model.identity}: called by code that PostgreSQL transaction ${connection.transactionId} scheduled and that ran after it ended; nothing was run (use sails.hooks.transact.outside(...) for work meant to run on its own)`);
  }
  if (refusal !== null) return refused('unsupported_query', `${model.identity}: ${refusal}; nothing was run`);
  if (model.datastore !== connection.datastore) {
    return refused('unsupported_query', `${model.identity} lives on datastore "${model.datastore}", and this PostgreSQL transaction is on datastore "${connection.datastore}" only; nothing was run`);
  }
  void connection.track(
    new Promise<void>((resolve) => {
      const given: StageThreeQuery = { ...query, meta: { ...query.meta, leasedConnection: connection.client } };
      try {
        run(given, (err, result) => {
          resolve();
          reply(err, result);
        });
      } catch (err) {
        resolve();
        reply(err);
      }
    }),
  );
  return undefined;
}
