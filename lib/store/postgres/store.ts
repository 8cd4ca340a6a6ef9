/**
 * The AtomicStore on sails-postgresql for the log protocol: each compare-and-set one conditional
 * statement, transactions through `inTransaction` (the one helper every PostgreSQL store opens
 * them with).
 */
import type { CreatedIndex, IndexSpec } from '../contract';
import { documentKey } from '../../core/operations';
import type { Fence, LockDocument, LogDocument, LogGuard, LogPatch, TxState } from '../../core/types';
import { columnOf, isUniqueViolation } from '../../core/waterline';
import type { Where } from '../../query/criteria';
import type { SumCandidates, SumCandidatesRequest } from '../../query/sums';
import { heldCount } from '../../query/view';
import type { WaterlineModel } from '../../core/waterline';
import { type AtomicStore, type FencedWrite, fencedOut, LOG_FIELDS, type StoreView, toLockDocument, toLogDocument, type ViewRequest, waterlineSum } from '../contract';
import { applyAction, type ModelResolver } from '../waterline-writes';

type QueryResult = Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;

/** A pooled pg client: what a native transaction runs on. */
export interface PgClient {
  query(sql: string, params?: unknown[]): QueryResult;
  release(destroy?: boolean | Error): void;
  on(event: 'error', listener: (err: Error) => void): unknown;
  off(event: 'error', listener: (err: Error) => void): unknown;
}

/** The pg Pool, typed structurally (the driver is sails-postgresql's). */
export interface PgPool {
  query(sql: string, params?: unknown[]): QueryResult;
  connect(): Promise<PgClient>;
}

/** How inTransaction begins a transaction: all of it goes in the BEGIN's own message (one round trip). */
export interface TransactionOptions {
  /** One REPEATABLE READ, READ ONLY snapshot, fixed by its first statement (else READ COMMITTED, read-write). */
  snapshot?: boolean;
  /** `idle_in_transaction_session_timeout`: a writer stalled this long has its session ended, and its locks go with it. */
  stalledWriterMs?: number;
  /** `lock_timeout`: how long one statement waits for a row lock. */
  lockTimeoutMs?: number;
  /** Transaction-scoped advisory locks taken with the BEGIN (bigint SQL expressions, in the order given). */
  advisoryLocks?: readonly string[];
  /** A statement sent last in the BEGIN's message (no parameters there): its rows go to `work`. */
  first?: string;
  /** Whether an error was the statement's answer: the connection is then reused (default: never). */
  reusable?: (err: unknown) => boolean;
}

/** The BEGIN message of inTransaction. */
function beginSql(options: TransactionOptions): string {
  const statements = [options.snapshot === true ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN'];
  if (options.stalledWriterMs !== undefined) statements.push(`SET LOCAL idle_in_transaction_session_timeout = ${Math.max(1, Math.floor(options.stalledWriterMs))}`);
  if (options.lockTimeoutMs !== undefined) statements.push(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(options.lockTimeoutMs))}`);
  if (options.advisoryLocks !== undefined && options.advisoryLocks.length > 0) statements.push(`SELECT ${options.advisoryLocks.map((key) => `pg_advisory_xact_lock(${key})`).join(', ')}`);
  if (options.first !== undefined) statements.push(options.first);
  return statements.join('; ');
}

/**
 * Runs `work` on one pooled client as one transaction — the one helper for every transaction the
 * stores open: this sends the BEGIN (with `options` in its message), `work` gets the rows of its
 * last statement, then COMMIT, or ROLLBACK on any error. A session PostgreSQL ends under us
 * (idle_in_transaction_session_timeout after a stall) fails the query in progress; the listener
 * keeps its 'error' event from also ending the process. A connection whose transaction failed is
 * not reused, unless `options.reusable(err)` says the error was the statement's answer.
 */
export async function inTransaction<T>(pool: PgPool, options: TransactionOptions, work: (client: PgClient, begun: Record<string, unknown>[]) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  const onError = (): void => undefined;
  client.on('error', onError);
  let broken: Error | undefined;
  try {
    // A message of several statements answers with one result each (pg): the last one's rows.
    const results = (await client.query(beginSql(options))) as unknown as { rows: Record<string, unknown>[] } | { rows: Record<string, unknown>[] }[];
    const result = await work(client, (Array.isArray(results) ? results[results.length - 1] : results).rows);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    if (options.reusable?.(err) !== true) broken = err instanceof Error ? err : new Error(String(err));
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/** Lock rows of the owner in parameter `owner` at the epoch in parameter `epoch` or below (a row from before locks had epochs counts as 0). */
function ownedUpTo(owner: string, epoch: string): string {
  return `"owner" = ${owner} AND COALESCE("epoch", 0) <= ${epoch}`;
}

const JSON_FIELDS = new Set<string>(['steps', 'error', 'documents', 'result', 'attention']);

export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A table as sails-postgresql addresses it: in the datastore's `schemaName` when one is configured. */
export function qualifiedTable(table: string, schema: string | null): string {
  return schema === null ? ident(table) : `${ident(schema)}.${ident(table)}`;
}

/**
 * CREATE INDEX IF NOT EXISTS, one per spec, named as declared (lib/store/indexes.ts). An elements index
 * is a GIN index on the JSON array (`documents @> …` / `? key` containment). A unique index on a
 * column that already holds duplicates fails here, loudly: the data needs fixing first.
 */
export async function createPgIndexes(pool: Pick<PgPool, 'query'>, specs: readonly IndexSpec[], schema: string | null): Promise<CreatedIndex[]> {
  const created: CreatedIndex[] = [];
  let trigrams: string | null | undefined;
  for (const spec of specs) {
    const table = qualifiedTable(spec.table, schema);
    if (spec.trigram) {
      trigrams ??= await trigramOperators(pool);
      if (trigrams === null) {
        created.push({ model: spec.model, name: spec.name, adapter: 'postgresql', created: false, skipped: 'the pg_trgm extension is not available to this role (CREATE EXTENSION pg_trgm failed): substring search scans' });
        continue;
      }
    }
    const columns = spec.elements
      ? `USING GIN (((${ident(spec.columns[0].column)})::jsonb))`
      : spec.trigram
        ? `USING GIN (${ident(spec.columns[0].column)} ${trigrams as string})`
        : `(${spec.columns.map((c) => `${ident(c.column)}${c.descending ? ' DESC' : ''}`).join(', ')})`;
    await pool.query(`CREATE ${spec.unique ? 'UNIQUE ' : ''}INDEX IF NOT EXISTS ${ident(spec.name)} ON ${table} ${columns}`);
    created.push({ model: spec.model, name: spec.name, adapter: 'postgresql', created: true });
  }
  return created;
}

/**
 * pg_trgm's GIN operator class, schema-qualified (the extension may live in any schema of the
 * search path), created first if missing: a trusted extension since PostgreSQL 13, which a
 * database owner may create. Null when it cannot be had (the index is then skipped, not failed:
 * searches still answer, by a scan).
 */
async function trigramOperators(pool: Pick<PgPool, 'query'>): Promise<string | null> {
  const find = async (): Promise<string | null> => {
    const { rows } = await pool.query(`SELECT n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'`);
    return rows.length === 0 ? null : `${ident(String(rows[0].schema))}.gin_trgm_ops`;
  };
  const found = await find();
  if (found !== null) return found;
  try {
    await pool.query('CREATE EXTENSION IF NOT EXISTS pg_trgm');
  } catch {
    return null;
  }
  return find();
}

function param(field: string, value: unknown): unknown {
  return JSON_FIELDS.has(field) && value !== null ? JSON.stringify(value) : value;
}

/** The parameters of one SQL statement, numbered as they are added. */
export class SqlParams {
  readonly values: unknown[] = [];

  add(value: unknown): string {
    return `$${this.values.push(value)}`;
  }
}

/**
 * `INSERT` of a whole log row into `table` (already quoted), followed by `suffix` (e.g. an ON
 * CONFLICT clause); its parameters are added to `params` (a statement may hold more than this).
 */
export function logInsert(table: string, doc: LogDocument, suffix: string, params = new SqlParams()): { sql: string; params: unknown[] } {
  const columns = LOG_FIELDS.map(ident).join(', ');
  const placeholders = LOG_FIELDS.map((field) => params.add(param(field, doc[field]))).join(', ');
  return { sql: `INSERT INTO ${table} (${columns}) VALUES (${placeholders}) ${suffix}`, params: params.values };
}

/**
 * PostgreSQL: `UPDATE … WHERE <guard> RETURNING` and `INSERT … ON CONFLICT DO NOTHING RETURNING`
 * are single atomic statements. Tables are the Waterline models' tables (auto-migrated or
 * created by the app's migrations), with columns named like the attributes.
 */
export class PostgresStore implements AtomicStore {
  readonly kind = 'postgresql' as const;
  readonly fenceField = null;
  readonly multiProcess = true;
  private readonly logs: string;
  private readonly locks: string;

  constructor(
    private readonly pool: PgPool,
    logTable: string,
    lockTable: string,
    private readonly modelOf: ModelResolver,
    /** How long PostgreSQL keeps a stalled writer's transaction (and its lock rows) before ending its session. */
    private readonly stalledWriterMs: number,
  ) {
    this.logs = ident(logTable);
    this.locks = ident(lockTable);
  }

  adopt(): void {}

  async setup(): Promise<void> {}

  async insertLog(doc: LogDocument): Promise<boolean> {
    const { sql, params } = logInsert(this.logs, doc, 'ON CONFLICT ("id") DO NOTHING RETURNING "id"');
    return (await this.pool.query(sql, params)).rows.length === 1;
  }

  async getLog(id: string): Promise<LogDocument | null> {
    const result = await this.pool.query(`SELECT * FROM ${this.logs} WHERE "id" = $1`, [id]);
    return result.rows.length === 0 ? null : toLogDocument(result.rows[0]);
  }

  async updateLog(id: string, guard: LogGuard, patch: LogPatch): Promise<boolean> {
    const params: unknown[] = [];
    const add = (value: unknown): string => `$${params.push(value)}`;
    const sets = Object.entries(patch).map(([field, value]) => `${ident(field)} = ${add(param(field, value))}`);
    const where = [`"id" = ${add(id)}`];
    if (guard.states !== undefined) where.push(`"state" = ANY(${add([...guard.states])}::text[])`);
    if (guard.owner !== undefined) where.push(`"owner" = ${add(guard.owner)}`);
    if (guard.leaseUntil !== undefined) where.push(`"leaseUntil" = ${add(guard.leaseUntil)}`);
    if (guard.epoch !== undefined) where.push(`"epoch" = ${add(guard.epoch)}`);
    if (guard.stepCount !== undefined) where.push(`jsonb_array_length(("steps")::jsonb) = ${add(guard.stepCount)}`);
    if (guard.reversedBy === null) where.push(`"reversedBy" IS NULL`);
    else if (guard.reversedBy !== undefined) where.push(`"reversedBy" = ${add(guard.reversedBy)}`);
    const result = await this.pool.query(`UPDATE ${this.logs} SET ${sets.join(', ')} WHERE ${where.join(' AND ')} RETURNING "id"`, params);
    return result.rows.length === 1;
  }

  async findExpiredLogs(states: readonly TxState[], leaseBefore: number, limit: number): Promise<LogDocument[]> {
    const result = await this.pool.query(
      `SELECT * FROM ${this.logs} WHERE "state" = ANY($1::text[]) AND "leaseUntil" < $2 ORDER BY "leaseUntil" LIMIT $3`,
      [[...states], leaseBefore, limit],
    );
    return result.rows.map(toLogDocument);
  }

  async findCommittedTouching(key: string): Promise<LogDocument[]> {
    const result = await this.pool.query(
      `SELECT * FROM ${this.logs} WHERE "state" = 'committed' AND ("documents")::jsonb ? $1 ORDER BY "endedAt"`,
      [key],
    );
    return result.rows.map(toLogDocument);
  }

  async insertLocks(locks: readonly LockDocument[]): Promise<Set<string>> {
    if (locks.length === 0) return new Set();
    const result = await this.pool.query(
      `INSERT INTO ${this.locks} ("id", "owner", "leaseUntil", "epoch", "grant")
       SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[], $5::text[]) ON CONFLICT ("id") DO NOTHING RETURNING "id"`,
      [locks.map((l) => l.id), locks.map((l) => l.owner), locks.map((l) => l.leaseUntil), locks.map((l) => l.epoch), locks.map((l) => l.grant ?? null)],
    );
    return new Set(result.rows.map((row) => String(row.id)));
  }

  async findLocks(ids: readonly string[]): Promise<LockDocument[]> {
    const result = await this.pool.query(`SELECT * FROM ${this.locks} WHERE "id" = ANY($1::text[])`, [[...ids]]);
    return result.rows.map(toLockDocument);
  }

  async renewLocks(owner: string, epoch: number, leaseUntil: number): Promise<void> {
    await this.pool.query(`UPDATE ${this.locks} SET "leaseUntil" = $1 WHERE ${ownedUpTo('$2', '$3')}`, [leaseUntil, owner, epoch]);
  }

  async findExpiredLocks(leaseBefore: number, limit: number, skipPrefix?: string): Promise<LockDocument[]> {
    const skip = skipPrefix === undefined ? '' : ` AND NOT starts_with("id", $3)`;
    const params = skipPrefix === undefined ? [leaseBefore, limit] : [leaseBefore, limit, skipPrefix];
    const result = await this.pool.query(`SELECT * FROM ${this.locks} WHERE "leaseUntil" < $1${skip} ORDER BY "leaseUntil" LIMIT $2`, params);
    return result.rows.map(toLockDocument);
  }

  async deleteLocks(owner: string, epoch: number, ids?: readonly string[], grant?: string): Promise<void> {
    const params: unknown[] = [owner, epoch];
    let where = ownedUpTo('$1', '$2');
    if (ids !== undefined) where += ` AND "id" = ANY($${params.push([...ids])}::text[])`;
    if (grant !== undefined) where += ` AND "grant" = $${params.push(grant)}`;
    await this.pool.query(`DELETE FROM ${this.locks} WHERE ${where}`, params);
  }

  async serverTime(): Promise<number> {
    const result = await this.pool.query(`SELECT (extract(epoch from clock_timestamp()) * 1000)::float8 AS "now"`);
    return Number(result.rows[0].now);
  }

  async fenceLocks(txId: string, epoch: number): Promise<void> {
    // Waits for a writer holding the lock rows FOR SHARE to finish: once this returns, no write
    // at an older epoch can land. A stalled writer's session ends after stalledWriterMs.
    await this.pool.query(`UPDATE ${this.locks} SET "epoch" = $2 WHERE "owner" = $1 AND "epoch" < $2`, [txId, epoch]);
  }

  /**
   * One native transaction: the lock rows are read FOR SHARE with the writer's owner and epoch
   * (recovery's fenceLocks must wait for it), then the documents are written through Waterline on
   * the same connection, then COMMIT. A stale writer finds the epoch moved and writes nothing.
   */
  async writeDocuments(writes: readonly FencedWrite[], fence: Fence): Promise<void> {
    try {
      await this.writeInTransaction(writes, fence, false);
    } catch (err) {
      // A retry after a lost COMMIT reply finds its own inserts: check them one by one this time.
      if (!isUniqueViolation(err)) throw err;
      await this.writeInTransaction(writes, fence, true);
    }
  }

  private async writeInTransaction(writes: readonly FencedWrite[], fence: Fence, insertsMayExist: boolean): Promise<void> {
    if (writes.length === 0) return;
    const keys = [...new Set(writes.map(({ action }) => documentKey(action.model, action.id)))];
    // A fenced-out write is the statement's answer: its connection is reused. Any other failure
    // (e.g. a session ended by idle_in_transaction_session_timeout) is not.
    await inTransaction(this.pool, { stalledWriterMs: this.stalledWriterMs, reusable: (err) => err instanceof Error && isFenced(err) }, async (client) => {
      // The log too must be at the fence's epoch: a late insertLocks delivery can put a lock back
      // at an older epoch after a takeover released, and that lock alone would let the old epoch write.
      const held = await client.query(
        `SELECT "id" FROM ${this.locks} WHERE "id" = ANY($1::text[]) AND "owner" = $2 AND "epoch" = $3
           AND NOT EXISTS (SELECT 1 FROM ${this.logs} WHERE "id" = $2 AND "epoch" <> $3) FOR SHARE`,
        [keys, fence.txId, fence.epoch],
      );
      if (held.rows.length !== keys.length) throw fencedOut(fence, `${keys.length - held.rows.length} of its locks moved on`);
      for (const { action } of writes) await applyAction(this.modelOf(action.model), action, client, insertsMayExist);
    });
  }

  async sumCandidates(request: SumCandidatesRequest): Promise<SumCandidates> {
    const documents = this.modelOf(request.model);
    const schema = documents.getDatastore().config.schemaName;
    const { sql, params } = sumCandidatesSql(documents, this.modelOf(request.lines.model), request, typeof schema === 'string' ? schema : null);
    const keys = (await this.pool.query(sql, params)).rows.map((row) => String(row.k));
    return keys.length > request.limit ? { keys: keys.slice(0, request.limit), next: keys[request.limit - 1] } : { keys, next: null };
  }

  sum(model: string, field: string, where: Where): Promise<number> {
    return waterlineSum(this.modelOf(model), field, where);
  }

  findLateInserts(): Promise<Set<string>> {
    return Promise.resolve(new Set()); // the lock is checked with every insert: none lands late
  }

  /**
   * One REPEATABLE READ, READ ONLY transaction: its first statement fixes the snapshot, so the lock
   * rows, their owners' logs and the documents are all read as of one instant. A log-protocol
   * writer holds its lock row from before its first write until after its commit or compensation,
   * so every document an unfinished transaction may have written has its lock row in the snapshot.
   * The native path's transactions are invisible until COMMIT: their documents need nothing, and
   * a native instance's roll-forward batches (log protocol) are covered like any other.
   */
  async readView(requests: readonly ViewRequest[]): Promise<StoreView> {
    return inTransaction(this.pool, { snapshot: true }, async (client) => {
      const prefixes = [...new Set(requests.map((request) => `${request.model}:`))];
      // Identities contain no ':', ids may: the prefix is everything up to the first one.
      const locks = (await client.query(`SELECT * FROM ${this.locks} WHERE left("id", strpos("id", ':')) = ANY($1::text[])`, [prefixes])).rows.map(toLockDocument);
      const owners = [...new Set(locks.map((lock) => lock.owner))];
      const logRows = owners.length === 0 ? [] : (await client.query(`SELECT * FROM ${this.logs} WHERE "id" = ANY($1::text[])`, [owners])).rows;
      const logs = new Map(logRows.map((row) => [String(row.id), toLogDocument(row)]));
      const rows: StoreView['rows'] = [];
      for (const request of requests) {
        const extra = request.limit === undefined ? undefined : request.limit + heldCount(logs.values(), request.model);
        const query = this.modelOf(request.model).find({ where: request.where, sort: request.sort, ...(extra === undefined ? {} : { limit: extra }) });
        // Waterline's own find (criteria, column types, JSON) on this connection, inside the snapshot.
        rows.push(await (query as unknown as { usingConnection(c: unknown): Promise<Record<string, unknown>[]> }).usingConnection(client));
      }
      return { rows, writers: new Map(locks.map((lock) => [lock.id, lock.owner])), logs };
    });
  }

}

/** A model's column for an attribute, quoted. */
function column(model: WaterlineModel, attribute: string): string {
  return ident(columnOf(model.attributes, attribute));
}

/**
 * One statement: the lines' totals per key (GROUP BY), full-joined with the documents by key,
 * keeping the keys whose stored value is not the total (0 without lines; lines without a
 * document count when nonzero). Keys compare as text in byte order (`COLLATE "C"`), the order the
 * other stores and the merge use. Only the page's keys come back; PostgreSQL holds the rest.
 */
export function sumCandidatesSql(documents: WaterlineModel, lines: WaterlineModel, request: SumCandidatesRequest, schema: string | null = null): { sql: string; params: unknown[] } {
  const params = new SqlParams();
  const conditions = [`l.${column(lines, request.lines.by)} IS NOT NULL`];
  for (const [attribute, value] of Object.entries(request.lines.where)) {
    if (Array.isArray(value)) conditions.push(`l.${column(lines, attribute)} = ANY(${params.add(value)})`);
    else if (value === null) conditions.push(`l.${column(lines, attribute)} IS NULL`);
    else conditions.push(`l.${column(lines, attribute)} = ${params.add(value)}`);
  }
  // Grouped and joined on the raw columns (a hash aggregate; a collation on the grouping key would
  // force a sort); byte order only where keys are compared with the cursor and sorted.
  const by = `l.${column(lines, request.lines.by)}`;
  const pk = `d.${column(documents, documents.primaryKey)}`;
  let docWhere = '';
  if (request.after !== null) {
    const after = params.add(request.after);
    conditions.push(`(${by})::text COLLATE "C" > ${after}`);
    docWhere = `WHERE (${pk})::text COLLATE "C" > ${after}`;
  }
  const sql = `WITH s AS (SELECT ${by} AS k, SUM(l.${column(lines, request.lines.sum)})::float8 AS total FROM ${qualifiedTable(lines.tableName, schema)} l WHERE ${conditions.join(' AND ')} GROUP BY ${by}),
    d AS (SELECT ${pk} AS k, d.${column(documents, request.field)} AS v FROM ${qualifiedTable(documents.tableName, schema)} d ${docWhere})
    SELECT COALESCE((d.k)::text, (s.k)::text) AS k FROM d FULL JOIN s ON (d.k)::text = (s.k)::text
    WHERE CASE WHEN d.k IS NULL THEN s.total <> 0 ELSE d.v IS DISTINCT FROM COALESCE(s.total, 0) END
    ORDER BY COALESCE((d.k)::text, (s.k)::text) COLLATE "C" LIMIT ${params.add(request.limit + 1)}`;
  return { sql, params: params.values };
}

function isFenced(err: Error): boolean {
  return (err as { details?: { fenced?: unknown } }).details?.fenced === true;
}

/** A listing's criteria (lib/operator), the subset of Waterline's that `findPgLogs` compiles. */
export interface PgLogCriteria {
  where: Record<string, unknown>;
  sort?: Record<string, 'ASC' | 'DESC'>[];
  skip?: number;
  limit?: number;
}

const COMPARISONS: Record<string, string> = { '<': '<', '<=': '<=', '>': '>', '>=': '>=', '!=': '<>' };

/** `%` `_` and `\` taken literally in a LIKE pattern (escape character `\`). */
function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (char) => `\\${char}`);
}

function logColumn(field: string): string {
  if (!(LOG_FIELDS as readonly string[]).includes(field) || JSON_FIELDS.has(field)) throw new Error(`sails-hook-transact: no log column "${field}" to filter or sort by`);
  return ident(field);
}

/**
 * The log listings' criteria (lib/operator/transactions.ts whereOf: equality, null, `in`, `<`
 * `<=` `>` `>=` `!=`, `contains`, `and`, `or`) as SQL, with `contains` case-insensitive: `ILIKE
 * '%…%'`, its text taken literally, which the log's trigram index on "label" answers (lib/models/hook-models.ts).
 * Waterline cannot say it: sails-postgresql's `contains` is a case-sensitive LIKE.
 */
export function pgLogWhere(where: Record<string, unknown>, params: SqlParams): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(where)) {
    if (key === 'and' || key === 'or') {
      const clauses = (value as Record<string, unknown>[]).map((clause) => `(${pgLogWhere(clause, params)})`);
      parts.push(clauses.length === 0 ? 'TRUE' : clauses.join(key === 'and' ? ' AND ' : ' OR '));
      continue;
    }
    const column = logColumn(key);
    if (value === null) parts.push(`${column} IS NULL`);
    else if (Array.isArray(value)) parts.push(`${column} = ANY(${params.add(value)})`);
    else if (typeof value !== 'object') parts.push(`${column} = ${params.add(value)}`);
    else {
      for (const [op, operand] of Object.entries(value as Record<string, unknown>)) {
        if (op === 'contains') parts.push(`${column} ILIKE ${params.add(`%${likeLiteral(String(operand))}%`)}`);
        else if (op === 'in') parts.push(`${column} = ANY(${params.add(operand)})`);
        else if (op === 'nin') parts.push(`NOT (${column} = ANY(${params.add(operand)}))`);
        else if (COMPARISONS[op] !== undefined) parts.push(`${column} ${COMPARISONS[op]} ${params.add(operand)}`);
        else throw new Error(`sails-hook-transact: log criteria: no operator "${op}"`);
      }
    }
  }
  return parts.length === 0 ? 'TRUE' : parts.join(' AND ');
}

/** Log documents matching `criteria` (see pgLogWhere), in `table` (already qualified). */
export async function findPgLogs(pool: Pick<PgPool, 'query'>, table: string, criteria: PgLogCriteria): Promise<LogDocument[]> {
  const params = new SqlParams();
  const where = pgLogWhere(criteria.where, params);
  const order = (criteria.sort ?? []).flatMap((clause) => Object.entries(clause).map(([field, dir]) => `${logColumn(field)} ${dir === 'DESC' ? 'DESC' : 'ASC'}`));
  const limit = criteria.limit === undefined ? '' : ` LIMIT ${params.add(criteria.limit)}`;
  const offset = criteria.skip === undefined || criteria.skip === 0 ? '' : ` OFFSET ${params.add(criteria.skip)}`;
  const sql = `SELECT * FROM ${table} WHERE ${where}${order.length === 0 ? '' : ` ORDER BY ${order.join(', ')}`}${limit}${offset}`;
  return (await pool.query(sql, params.values)).rows.map(toLogDocument);
}

/** How many log documents match `where` (see pgLogWhere). */
export async function countPgLogs(pool: Pick<PgPool, 'query'>, table: string, where: Record<string, unknown>): Promise<number> {
  const params = new SqlParams();
  const result = await pool.query(`SELECT count(*)::int AS n FROM ${table} WHERE ${pgLogWhere(where, params)}`, params.values);
  return Number(result.rows[0].n);
}
