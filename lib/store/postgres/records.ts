/**
 * Log protocol v3's records on sails-postgresql: as on sails-disk (lib/store/disk/records.ts, the
 * reference semantics), each document's lock, version and state in a row of the hook's record
 * table (`transactrecord`, one row per `model:id` ever locked, never deleted), beside the
 * document; the document table decides live or destroyed, the row only whether a stub is reserved.
 * Plain queries on the app's tables see neither stubs nor tombstones: they have no document.
 *
 * Every contract call is one statement, except a reservation that claims unique values (one short
 * transaction) and a view of more than one document by id (one REPEATABLE READ snapshot). A statement is atomic, and all its parts
 * read one snapshot:
 * - grant: the free rows are locked by one `UPDATE … FROM s WHERE version = s.version` (s: the
 *   rows as the statement's snapshot read them), rows for documents that never had one inserted
 *   (`ON CONFLICT DO NOTHING`: a concurrent grant's row wins), and the records read from the same
 *   snapshot. A row moved between the snapshot and the update (PostgreSQL re-checks the updated
 *   row's WHERE on its newest version) fails the version guard and is not granted, so every
 *   granted record's image is the document as it was when it was granted.
 * - write: each guarded write is a data-modifying CTE on its row (`WHERE lock = token AND version
 *   = v`) and, for an apply, one on the document conditioned on it (`… WHERE EXISTS (row CTE)`):
 *   the document and its record move together or not at all (no window between them to recover).
 * - reserve: the stub rows inserted (`ON CONFLICT DO NOTHING`: an id once inserted stays taken)
 *   and free tombstones taken back (version-guarded as a grant). Unique claims (R9) are checked
 *   against live documents and other stubs' claims inside a transaction that first takes one
 *   transaction-level advisory lock per claimed value (sorted: no deadlock), so two reservations of
 *   one value are serialized and the second's check, a later statement of READ COMMITTED, sees the
 *   first's claim. An apply moves a claim into its document (or drops it, free) in one statement:
 *   the check sees the claim or the document, never neither.
 * Statements that lock several rows lock them in one key order (compareKeys), so two of them do
 * not deadlock; one PostgreSQL aborts for a deadlock all the same did nothing, and is sent again.
 */
import { createHash } from 'node:crypto';
import { TransactError } from '../../core/errors';
import { documentKey } from '../../core/operations';
import { type DocRecord, type GuardedWrite, parseToken, type RecordLock, type RecordState, type RecordStore, type RecordView, type Stub } from '../records';
import type { Image, LogDocument, Values } from '../../core/types';
import { ident, inTransaction, type PgClient, type PgPool, SqlParams } from './store';
import type { NativeTables } from './native';
import { toLogDocument, type ViewRequest } from '../contract';
import type { UniqueKeys } from '../mongo/records';
import type { ModelResolver } from '../waterline-writes';

type Row = Record<string, unknown>;

/** PostgreSQL's deadlock_detected, and how many times a statement it aborted is sent. */
const DEADLOCK = '40P01';
const DEADLOCK_ATTEMPTS = 5;

/** Prefix of the document columns in a record read (a record's own columns are `~…`). */
const DOC = 'd:';

export class PostgresRecords implements RecordStore {
  private readonly records: string;
  private readonly logs: string;

  constructor(
    private readonly pool: PgPool,
    recordTable: string,
    logTable: string,
    private readonly tables: NativeTables,
    private readonly modelOf: ModelResolver,
    private readonly uniqueKeys: UniqueKeys,
    /** How long a reservation stalled inside its transaction (holding advisory locks) may keep it before PostgreSQL ends its session. */
    private readonly stalledWriterMs: number,
  ) {
    this.records = ident(recordTable);
    this.logs = ident(logTable);
  }

  async grant(model: string, ids: readonly string[], lock: RecordLock): Promise<DocRecord[]> {
    if (ids.length === 0) return [];
    const table = this.table(model);
    const p = new SqlParams();
    const prefix = p.add(`${model}:`);
    const token = p.add(lock.token);
    const until = p.add(lock.until);
    const ctes = [
      `s AS (SELECT r."id", r."version" FROM ${this.records} r WHERE r."id" = ANY(${p.add(ids.map((id) => documentKey(model, id)))}::text[]))`,
      `d AS (SELECT (${table.primaryKey})::text AS "id" FROM ${table.name} WHERE ${table.primaryKey} = ANY(${p.add([...ids])}))`,
      // A document with no row yet (version 0, free): its row, held.
      `ins AS (INSERT INTO ${this.records} ("id", "lock", "lockUntil", "version", "state") SELECT ${prefix} || d."id", ${token}, ${until}, 1, 'live' FROM d
         WHERE NOT EXISTS (SELECT 1 FROM s WHERE s."id" = ${prefix} || d."id") ORDER BY d."id" COLLATE "C" ON CONFLICT ("id") DO NOTHING RETURNING "id")`,
      // R1: a free row, live or tombstone, never a stub; unmoved since the snapshot.
      ...inKeyOrder(model, ids).map((key, i) => `upd${i} AS (UPDATE ${this.records} r SET "lock" = ${token}, "lockUntil" = ${until}, "version" = r."version" + 1 FROM s
         WHERE r."id" = ${p.add(key)} AND r."id" = s."id" AND r."version" = s."version" AND r."lock" IS NULL AND r."state" <> 'reserved' RETURNING r."id")`),
      `g AS (SELECT "id" FROM ins${inKeyOrder(model, ids).map((_, i) => ` UNION ALL SELECT "id" FROM upd${i}`).join('')})`,
    ];
    const rows = (await this.statement(`WITH ${ctes.join(', ')} ${this.recordsSql(model, ids, p, `EXISTS (SELECT 1 FROM g WHERE g."id" = ${prefix} || u.k)`)}`, p.values)).rows;
    return rows.map((row) => {
      const record = this.toRecord(model, row);
      return row['~extra'] === true ? { ...record, lock: { token: lock.token, until: lock.until }, version: record.version + 1 } : record;
    });
  }

  async reserve(model: string, stubs: readonly Stub[], lock: RecordLock): Promise<DocRecord[]> {
    if (stubs.length === 0) return [];
    const claims = this.claimsOf(model, stubs);
    if (claims.every((claim) => claim === null)) return (await this.reserveStatement(model, stubs, claims, lock, { query: (sql, params) => this.statement(sql, params ?? []) })).records;
    // Claimed values: checked and claimed under one advisory lock per value (the module comment says why).
    const locks = claimLocks(claims);
    const { records, taken } = await inTransaction(this.pool, { stalledWriterMs: this.stalledWriterMs, advisoryLocks: locks, reusable: (err) => err instanceof TransactError }, (client) => this.reserveStatement(model, stubs, claims, lock, client));
    if (taken !== null) {
      throw new TransactError('already_exists', `a ${model} with ${taken.key.map((field) => `${field} ${JSON.stringify(taken.tuple[field])}`).join(', ')} exists already`, { details: { model, attributes: taken.key } });
    }
    return records;
  }

  /**
   * Each stub's claims (R9): per unique key whose values it gives, the key's tuple, and the
   * advisory lock keys of those values; null for a stub that claims nothing. Two stubs of one
   * call claiming one value: already_exists.
   */
  private claimsOf(model: string, stubs: readonly Stub[]): (Claims | null)[] {
    const keys = this.uniqueKeys(this.modelOf(model));
    const seen = new Set<string>();
    return stubs.map((stub) => {
      const claims: Claims = { values: {}, tuples: [], locks: [] };
      for (const key of keys) {
        if (key.some((field) => stub.values[field] === undefined || stub.values[field] === null)) continue;
        const tuple = Object.fromEntries(key.map((field) => [field, stub.values[field]]));
        const text = `${model}\u0000${JSON.stringify(key.map((field) => [field, tuple[field]]))}`;
        if (seen.has(text)) throw new TransactError('already_exists', `two ${model} creates claim ${key.map((field) => `${field} ${JSON.stringify(tuple[field])}`).join(', ')}`, { details: { model, attributes: key } });
        seen.add(text);
        claims.tuples.push({ key, tuple });
        Object.assign(claims.values, tuple);
        claims.locks.push(createHash('sha256').update(text).digest().readBigInt64BE(0).toString());
      }
      return claims.tuples.length === 0 ? null : claims;
    });
  }

  /**
   * One statement: every stub inserted whose id has no row and no document, every free tombstone
   * taken back (unmoved since the snapshot), unless one claimed value is taken — by a live
   * document or another stub — then nothing, and `taken` says which.
   */
  private async reserveStatement(model: string, stubs: readonly Stub[], claims: readonly (Claims | null)[], lock: RecordLock, on: Pick<PgClient, 'query'>): Promise<{ records: DocRecord[]; taken: { key: readonly string[]; tuple: Values } | null }> {
    const table = this.table(model);
    const ids = stubs.map((stub) => stub.id);
    const p = new SqlParams();
    const prefix = p.add(`${model}:`);
    const token = p.add(lock.token);
    const until = p.add(lock.until);
    const { checks, probes } = this.uniqueProbes(model, ids, claims, prefix, p);
    const free = probes.length === 0 ? '' : ' AND NOT EXISTS (SELECT 1 FROM taken)';
    const ctes = [
      `u AS (SELECT * FROM unnest(${p.add(ids)}::text[], ${p.add(claims.map((claim) => (claim === null ? null : JSON.stringify(claim.values))))}::text[]) AS u("id", "claim"))`,
      `s AS (SELECT r."id", r."version" FROM ${this.records} r WHERE r."id" = ANY(${p.add(ids.map((id) => documentKey(model, id)))}::text[]))`,
      `d AS (SELECT (${table.primaryKey})::text AS "id" FROM ${table.name} WHERE ${table.primaryKey} = ANY(${p.add([...ids])}))`,
      ...(probes.length === 0 ? [] : [`taken AS (${probes.join(' UNION ALL ')})`]),
      `ins AS (INSERT INTO ${this.records} ("id", "lock", "lockUntil", "version", "state", "unique") SELECT ${prefix} || u."id", ${token}, ${until}, 1, 'reserved', (u."claim")::json FROM u
         WHERE NOT EXISTS (SELECT 1 FROM s WHERE s."id" = ${prefix} || u."id") AND NOT EXISTS (SELECT 1 FROM d WHERE d."id" = u."id")${free}
         ORDER BY u."id" COLLATE "C" ON CONFLICT ("id") DO NOTHING RETURNING "id")`,
      ...inKeyOrder(model, ids).map((key, i) => `upd${i} AS (UPDATE ${this.records} r SET "lock" = ${token}, "lockUntil" = ${until}, "version" = r."version" + 1, "state" = 'reserved', "unique" = (u."claim")::json FROM s, u
         WHERE r."id" = ${p.add(key)} AND r."id" = s."id" AND s."id" = ${prefix} || u."id" AND r."version" = s."version" AND r."lock" IS NULL AND r."state" <> 'reserved'
           AND NOT EXISTS (SELECT 1 FROM d WHERE d."id" = u."id")${free} RETURNING r."id")`),
      `g AS (SELECT "id" FROM ins${inKeyOrder(model, ids).map((_, i) => ` UNION ALL SELECT "id" FROM upd${i}`).join('')})`,
    ];
    const takenColumn = probes.length === 0 ? '' : `, (SELECT min("n") FROM taken) AS "~taken"`;
    const rows = (await on.query(`WITH ${ctes.join(', ')} ${this.recordsSql(model, ids, p, `EXISTS (SELECT 1 FROM g WHERE g."id" = ${prefix} || u.k)`, takenColumn)}`, p.values)).rows;
    const takenAt = rows[0]?.['~taken'];
    const taken = takenAt === null || takenAt === undefined ? null : checks[Number(takenAt)];
    const records = rows.map((row) => {
      const record = this.toRecord(model, row);
      if (row['~extra'] !== true) return record;
      // Inserted at version 1, or a tombstone taken back at its version + 1.
      return { ...record, image: null, state: 'reserved' as const, lock: { token: lock.token, until: lock.until }, version: record.version + 1 };
    });
    return { records, taken };
  }

  /**
   * R9's question per claimed tuple, as SQL: a live document holding it, or another record's claim
   * on it (a stub's or an update's: always held, so the lease index finds the rows). `checks[n]`
   * is the tuple a probe answering `n` found taken.
   */
  private uniqueProbes(model: string, ids: readonly string[], claims: readonly (Claims | null)[], prefix: string, p: SqlParams): { checks: { key: readonly string[]; tuple: Values }[]; probes: string[] } {
    const table = this.table(model);
    const checks: { key: readonly string[]; tuple: Values }[] = [];
    const probes: string[] = [];
    claims.forEach((claim, i) => {
      if (claim === null) return;
      for (const { key, tuple } of claim.tuples) {
        const n = checks.push({ key, tuple }) - 1;
        const equal = key.map((field) => {
          const column = table.columns.get(field);
          const value = tuple[field];
          return `${ident(column?.column ?? field)} = ${p.add(column?.json === true ? JSON.stringify(value) : value)}`;
        });
        probes.push(`SELECT ${n} AS "n" FROM ${table.name} WHERE ${equal.join(' AND ')}`);
        probes.push(`SELECT ${n} AS "n" FROM ${this.records} WHERE "lockUntil" IS NOT NULL AND "unique" IS NOT NULL AND starts_with("id", ${prefix})
          AND "id" <> ${p.add(documentKey(model, ids[i]))} AND ("unique")::jsonb @> ${p.add(JSON.stringify(tuple))}::jsonb`);
      }
    });
    return { checks, probes };
  }

  /** Under one advisory lock per claimed value, as a reservation's claims (the module comment says why); the version stays. */
  async claimUnique(model: string, stubs: readonly Stub[], lock: RecordLock): Promise<void> {
    const claims = this.claimsOf(model, stubs);
    const locks = claimLocks(claims);
    if (locks.length === 0) return;
    const ids = stubs.map((stub) => stub.id);
    const { taken, claimed } = await inTransaction(this.pool, { stalledWriterMs: this.stalledWriterMs, advisoryLocks: locks, reusable: (err) => err instanceof TransactError }, async (client) => {
      const p = new SqlParams();
      const prefix = p.add(`${model}:`);
      const { checks, probes } = this.uniqueProbes(model, ids, claims, prefix, p);
      const sql = `WITH taken AS (${probes.join(' UNION ALL ')}),
        c AS (UPDATE ${this.records} r SET "unique" = (u."claim")::json FROM unnest(${p.add(ids)}::text[], ${p.add(claims.map((claim) => (claim === null ? null : JSON.stringify(claim.values))))}::text[]) AS u("id", "claim")
          WHERE r."id" = ${prefix} || u."id" AND r."lock" = ${p.add(lock.token)} AND NOT EXISTS (SELECT 1 FROM taken) RETURNING r."id")
        SELECT (SELECT min("n") FROM taken) AS "taken", (SELECT count(*) FROM c)::int AS "claimed"`;
      const row = (await client.query(sql, p.values)).rows[0] as { taken: number | null; claimed: number };
      return { taken: row.taken === null ? null : checks[Number(row.taken)], claimed: row.claimed };
    });
    if (taken !== null) throw new TransactError('already_exists', `a ${model} with ${taken.key.map((field) => `${field} ${JSON.stringify(taken.tuple[field])}`).join(', ')} exists already`, { details: { model, attributes: taken.key } });
    if (claimed !== ids.length) throw new TransactError('lease_lost', `${model}: a record claiming a unique value is no longer held by ${lock.token}; nothing was written`, { details: { model } });
  }

  async read(model: string, ids: readonly string[]): Promise<DocRecord[]> {
    if (ids.length === 0) return [];
    const p = new SqlParams();
    return (await this.pool.query(this.recordsSql(model, ids, p), p.values)).rows.map((row) => this.toRecord(model, row));
  }

  /**
   * One statement per run of writes that touch distinct records (a record written twice in one
   * call starts the next): each write's row CTE guarded by (token, version), and its document's
   * write conditioned on that row CTE having landed.
   */
  async write(writes: readonly GuardedWrite[]): Promise<Set<string>> {
    const landed = new Set<string>();
    let run: GuardedWrite[] = [];
    const runs: GuardedWrite[][] = [run];
    for (const write of writes) {
      if (run.some((other) => other.model === write.model && other.id === write.id)) runs.push((run = []));
      run.push(write);
    }
    for (const run of runs) {
      if (run.length === 0) continue;
      // Row locks in key order (each row CTE runs as the final SELECT reads it): see lockOrder.
      const group = [...run].sort((a, b) => compareKeys(documentKey(a.model, a.id), documentKey(b.model, b.id)));
      const p = new SqlParams();
      const ctes = group.flatMap((write, i) => this.writeCtes(write, i, p));
      const sql = `WITH ${ctes.join(', ')} ${group.map((_, i) => `SELECT "id" FROM g${i}`).join(' UNION ALL ')}`;
      for (const row of (await this.statement(sql, p.values)).rows) landed.add(String(row.id));
    }
    return landed;
  }

  private writeCtes(write: GuardedWrite, i: number, p: SqlParams): string[] {
    const guard = `"id" = ${p.add(documentKey(write.model, write.id))} AND "lock" = ${p.add(write.token)} AND "version" = ${p.add(write.version)}`;
    const next = `"version" = "version" + 1`;
    const { transition } = write;
    switch (transition.kind) {
      case 'take':
        // A claim (R9) is its holder's: a takeover does not inherit it (a stub's stays with the stub).
        return [`g${i} AS (UPDATE ${this.records} SET "lock" = ${p.add(transition.lock.token)}, "lockUntil" = ${p.add(transition.lock.until)}, ${next}, "unique" = CASE WHEN "state" = 'reserved' THEN "unique" END WHERE ${guard} RETURNING "id")`];
      case 'free':
        // A stub freed is a tombstone; its claim ends.
        return [`g${i} AS (UPDATE ${this.records} SET "lock" = NULL, "lockUntil" = NULL, ${next}, "state" = CASE WHEN "state" = 'reserved' THEN 'destroyed' ELSE "state" END, "unique" = NULL WHERE ${guard} RETURNING "id")`];
      case 'apply': {
        const { after } = transition;
        // Its unique values now live in the document (or nowhere): the stub's claim ends.
        const row = `g${i} AS (UPDATE ${this.records} SET "lock" = NULL, "lockUntil" = NULL, ${next}, "state" = '${after === null ? 'destroyed' : 'live'}', "unique" = NULL WHERE ${guard} RETURNING "id")`;
        const table = this.table(write.model);
        const landed = `EXISTS (SELECT 1 FROM g${i})`;
        if (after === null) return [row, `w${i} AS (DELETE FROM ${table.name} WHERE ${table.primaryKey} = ${p.add(write.id)} AND ${landed})`];
        // The committed after-image exactly (no lifecycle callbacks: they ran when the transaction planned it).
        const primaryKey = this.modelOf(write.model).primaryKey;
        const values: Values = { ...after, [primaryKey]: write.id };
        const names = Object.keys(values).filter((name) => table.columns.has(name));
        const columns = names.map((name) => ident(table.columns.get(name)?.column ?? name));
        const placeholders = names.map((name) => {
          const value = values[name];
          return p.add(table.columns.get(name)?.json === true && value !== null && value !== undefined ? JSON.stringify(value) : value);
        });
        const sets = names.filter((name) => name !== primaryKey).map((name) => `${ident(table.columns.get(name)?.column ?? name)} = EXCLUDED.${ident(table.columns.get(name)?.column ?? name)}`);
        const conflict = sets.length === 0 ? 'DO NOTHING' : `DO UPDATE SET ${sets.join(', ')}`;
        return [row, `w${i} AS (INSERT INTO ${table.name} (${columns.join(', ')}) SELECT ${placeholders.join(', ')} WHERE ${landed} ON CONFLICT (${table.primaryKey}) ${conflict})`];
      }
    }
  }

  async renew(model: string, token: string, until: number): Promise<void> {
    await this.statement(`UPDATE ${this.records} SET "lockUntil" = $1 WHERE "lockUntil" IS NOT NULL AND "lock" = $2 AND starts_with("id", $3)`, [until, token, `${model}:`]);
  }

  async findExpired(model: string, before: number, limit: number): Promise<DocRecord[]> {
    const prefix = `${model}:`;
    const rows = (await this.pool.query(`SELECT "id" FROM ${this.records} WHERE "lockUntil" < $1 AND "lock" IS NOT NULL AND starts_with("id", $2) ORDER BY "lockUntil", "id" LIMIT $3`, [before, prefix, limit])).rows;
    return this.read(model, rows.map((row) => String(row.id).slice(prefix.length)));
  }

  /**
   * One REPEATABLE READ, READ ONLY transaction: its first statement fixes the snapshot, so the held
   * records, the documents (through Waterline's own find, on this connection), their versions and
   * the holders' logs are one instant — PostgreSQL commits a document and its record together.
   */
  async view(requests: readonly ViewRequest[]): Promise<RecordView> {
    const id = requests.length === 1 ? this.byPrimaryKey(requests[0]) : null;
    if (id !== null) {
      // One document by id: one statement, one instant. Nothing holds it: that is the answer (no
      // log to read); held: its holder's log is read after, so committed reads validate the view.
      const [record] = await this.read(requests[0].model, [id]);
      const held = record.lock === null ? [] : [record];
      return { rows: [record.state === 'live' ? [record] : []], held: [held], ...(held.length === 0 ? { logs: new Map() } : {}) };
    }
    const models = [...new Set(requests.map((request) => request.model))];
    // The snapshot is fixed by its first statement, sent with the BEGIN (no parameters in one
    // message of several statements: the prefixes are literals). Only what is held right now
    // carries a lease (the lease index): few rows.
    const prefixes = models.map((model) => sqlLiteral(`${model}:`)).join(', ');
    const held = `SELECT "id" FROM ${this.records} WHERE "lockUntil" IS NOT NULL AND "lock" IS NOT NULL AND left("id", strpos("id", ':')) IN (${prefixes})`;
    const { found, heldOf, versions, logs } = await inTransaction(this.pool, { snapshot: true, first: held }, async (client, begun) => {
      const heldKeys = begun.map((row) => String(row.id));
      const heldOf = new Map<string, DocRecord[]>();
      for (const model of models) {
        const ids = heldKeys.filter((key) => key.startsWith(`${model}:`)).map((key) => key.slice(model.length + 1));
        const p = new SqlParams();
        heldOf.set(model, ids.length === 0 ? [] : (await client.query(this.recordsSql(model, ids, p), p.values)).rows.map((row) => this.toRecord(model, row)));
      }
      const found: Image[][] = [];
      for (const request of requests) {
        const target = this.modelOf(request.model);
        const held = (heldOf.get(request.model) as DocRecord[]).length;
        const query = target.find({ where: request.where, sort: request.sort, ...(request.limit === undefined ? {} : { limit: request.limit + held }) });
        found.push(await (query as unknown as { usingConnection(c: unknown): Promise<Image[]> }).usingConnection(client));
      }
      const keys = requests.flatMap((request, i) => found[i].map((image) => documentKey(request.model, String(image[this.modelOf(request.model).primaryKey]))));
      const holders = [...new Set([...heldOf.values()].flat().map((record) => parseToken((record.lock as RecordLock).token).txId))];
      const versions = new Map<string, number>();
      const logs = new Map<string, LogDocument>();
      if (keys.length + holders.length > 0) {
        // The found documents' versions and the holders' logs, in one statement.
        const both = await client.query(
          `SELECT "id", "version", NULL::json AS "log" FROM ${this.records} WHERE "id" = ANY($1::text[]) UNION ALL SELECT "id", NULL, row_to_json(l) FROM ${this.logs} l WHERE "id" = ANY($2::text[])`,
          [keys, holders],
        );
        for (const row of both.rows) {
          if (row.log === null) versions.set(String(row.id), Number(row.version));
          else logs.set(String(row.id), toLogDocument(row.log as Row));
        }
      }
      return { found, heldOf, versions, logs };
    });
    const rows = requests.map((request, i) => {
      const primaryKey = this.modelOf(request.model).primaryKey;
      return found[i].map((image): DocRecord => {
        const id = String(image[primaryKey]);
        return { model: request.model, id, image, state: 'live', lock: null, version: versions.get(documentKey(request.model, id)) ?? 0 };
      });
    });
    return { rows, held: requests.map((request) => heldOf.get(request.model) as DocRecord[]), logs };
  }

  /** The id a request asks for when its where is the primary key's equality alone (and its limit is not 0), else null. */
  private byPrimaryKey(request: ViewRequest): string | null {
    if (request.limit === 0) return null;
    const primaryKey = this.modelOf(request.model)?.primaryKey;
    let where: unknown = request.where;
    while (isObject(where) && Object.keys(where).length === 1 && Array.isArray(where.and) && where.and.length === 1) where = where.and[0];
    if (!isObject(where) || Object.keys(where).length !== 1 || primaryKey === undefined) return null;
    const value = where[primaryKey];
    return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value)) ? String(value) : null;
  }

  /**
   * One statement on the pool, sent again when PostgreSQL broke a deadlock by aborting it: an
   * aborted statement did nothing, and every statement here is judged by the rows as it finds them.
   * Statements take their row locks in key order (lockOrder), so deadlocks are rare: the rest is
   * a statement of several rows whose plan locks them in another order (renew).
   */
  private async statement(sql: string, params: unknown[]): Promise<{ rows: Row[]; rowCount: number | null }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.pool.query(sql, params);
      } catch (err) {
        if ((err as { code?: unknown }).code !== DEADLOCK || attempt >= DEADLOCK_ATTEMPTS) throw err;
      }
    }
  }

  private table(model: string): ReturnType<NativeTables['of']> {
    if (this.modelOf(model) === undefined) throw new TransactError('unknown_model', `no model ${model}`, { details: { model } });
    return this.tables.of(model);
  }

  /**
   * A SELECT of the records of `ids` (in their order), each with
   * its row's columns (`~…`) and its document's (`d:…`), plus `extra` as `~extra`. Its parameters
   * go to `p`; a statement's CTEs may precede it.
   */
  private recordsSql(model: string, ids: readonly string[], p: SqlParams, extra = 'false', more = ''): string {
    const table = this.table(model);
    const columns = [...table.columns.values()].map(({ column }) => `d.${ident(column)} AS ${ident(`${DOC}${column}`)}`);
    const source = `unnest(${p.add([...ids])}::text[]) WITH ORDINALITY AS u(k, n)`;
    const docs = `(SELECT *, (${table.primaryKey})::text AS "~pk" FROM ${table.name} WHERE ${table.primaryKey} = ANY(${p.add([...ids])}))`;
    return `SELECT u.k AS "~k", r."lock" AS "~lock", r."lockUntil" AS "~until", r."version" AS "~version", r."state" AS "~state", d."~pk" IS NOT NULL AS "~doc", ${extra} AS "~extra"${more}${columns.map((column) => `, ${column}`).join('')}
      FROM ${source} LEFT JOIN ${this.records} r ON r."id" = ${p.add(`${model}:`)} || u.k LEFT JOIN ${docs} d ON d."~pk" = u.k ORDER BY u.n`;
  }

  private toRecord(model: string, row: Row): DocRecord {
    const id = String(row['~k']);
    const hasRow = row['~state'] !== null && row['~state'] !== undefined;
    const hasDoc = row['~doc'] === true;
    // The document table is the truth for live or not (as on sails-disk): a document written before
    // v3 (or by a plain create) has no row, and a plain destroy or create leaves the row as it was.
    const state: RecordState = !hasRow ? (hasDoc ? 'live' : 'absent') : row['~state'] === 'reserved' ? 'reserved' : hasDoc ? 'live' : 'destroyed';
    let image: Image | null = null;
    if (state === 'live') {
      const stored: Row = {};
      for (const { column } of this.tables.of(model).columns.values()) stored[column] = row[`${DOC}${column}`];
      image = this.tables.imageOf(model, stored);
    }
    const token = row['~lock'];
    const lock = typeof token === 'string' ? { token, until: Number(row['~until']) } : null;
    return { model, id, image, state, lock, version: hasRow ? Number(row['~version']) : 0 };
  }
}

interface Claims {
  /** Every claimed attribute's value: the stub's `unique` column. */
  values: Values;
  tuples: { key: readonly string[]; tuple: Values }[];
  /** Advisory lock keys (bigint literals), one per claimed tuple. */
  locks: string[];
}

/** The advisory locks of the claims (null: nothing claimed), each once, in one order: two callers meet on the first shared one. */
function claimLocks(claims: readonly (Claims | null)[]): string[] {
  return [...new Set(claims.flatMap((claim) => (claim === null ? [] : claim.locks)))].sort();
}

/** A string as an SQL literal (standard_conforming_strings, PostgreSQL's default since 9.1). */
function sqlLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Lock order: every statement that locks several record rows locks them one by one in this order
 * of their keys (UTF-16 code units, as JavaScript sorts), and inserts new rows in `COLLATE "C"`
 * order, inserts before updates; two statements then never wait on each other in a cycle.
 */
function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function inKeyOrder(model: string, ids: readonly string[]): string[] {
  return [...new Set(ids.map((id) => documentKey(model, id)))].sort(compareKeys);
}
