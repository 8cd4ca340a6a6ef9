/**
 * The native path on sails-postgresql: the whole transaction in one `BEGIN … COMMIT` — row locks
 * (`SELECT … FOR UPDATE`, in one fixed order for a batch), the document writes, and the log row,
 * written `committed` in the same transaction, so history, reversal and idempotency keep working.
 * PostgreSQL's own atomicity is the commit point: a crash or a stall anywhere before COMMIT leaves
 * nothing to recover, and a stalled session is ended (and rolled back) by the server after
 * `stalledWriterMs` idle in its transaction. One WAL flush per transaction instead of one per
 * protocol step.
 *
 * Documents are read and written with SQL over the model's table and columns, not through
 * Waterline: Waterline's per-query CPU cost bounds every Waterline path on a small machine. The
 * images it reads equal what Waterline's find returns (auto-timestamps as numbers, JSON parsed).
 *
 * With `protocol: 'auto'` the log protocol runs beside it on the same documents (a batch that
 * rolls forward, recovery's compensations), and the log protocol never sees row locks: it reads
 * and writes outside any transaction, under its lock records. So a native transaction takes the
 * same lock records, inside its own transaction, before it locks the rows: an uncommitted record
 * makes the log protocol's insert of it wait in PostgreSQL until this transaction ends; a record
 * the log protocol holds (committed) makes this one wait, with backoff, up to its lock timeout.
 * The records are deleted in the transaction's last statement: committed, they never existed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { TransactError } from '../../core/errors';
import { newId } from '../../core/ids';
import type { ModelInfo } from '../../core/model-info';
import { type Action, documentKey, forwardAction, idsByModel } from '../../core/operations';
import type { NativeTransaction, NativeTransactions } from '../contract';
import type { Image, LogDocument, Step } from '../../core/types';
import { columnOf, type WaterlineModel } from '../../core/waterline';
import { ident, inTransaction, logInsert, type PgClient, type PgPool, SqlParams } from './store';
import { LOG_FIELDS } from '../contract';
import type { ModelResolver } from '../waterline-writes';

/** A keyed log row was inserted (or reopened) at the start of the same transaction: the final write completes it in place. */
const LOG_UPSERT = `ON CONFLICT ("id") DO UPDATE SET ${LOG_FIELDS.filter((field) => field !== 'id').map((field) => `${ident(field)} = EXCLUDED.${ident(field)}`).join(', ')}`;

/** A model's table as SQL sees it. */
interface Table {
  name: string;
  primaryKey: string;
  /** attribute → its column, and how its values cross the wire. */
  columns: Map<string, { column: string; json: boolean; timestamp: boolean }>;
}

function tableOf(model: WaterlineModel): Table {
  const columns = new Map<string, { column: string; json: boolean; timestamp: boolean }>();
  for (const [name, attribute] of Object.entries(model.attributes)) {
    if (attribute.collection !== undefined) continue;
    const timestamp = (attribute.autoCreatedAt === true || attribute.autoUpdatedAt === true) && attribute.type === 'number';
    columns.set(name, { column: columnOf(model.attributes, name), json: attribute.type === 'json', timestamp });
  }
  return { name: ident(model.tableName), primaryKey: ident(columnOf(model.attributes, model.primaryKey)), columns };
}

/** PostgreSQL refused to wait longer for a row lock, found a deadlock, or an id was taken: the transaction gave up. */
function nativeFailure(err: unknown): TransactError | null {
  const code = (err as { code?: unknown }).code;
  if (code === '55P03') return new TransactError('lock_timeout', 'timed out waiting for a row lock', { cause: err });
  if (code === '40P01') return new TransactError('lock_timeout', 'gave up a row lock to break a deadlock', { cause: err, details: { deadlock: true } });
  if (code === '23505') {
    // "Key (username)=(ada) already exists.": the columns the index holds, as PostgreSQL names them.
    const { detail, table } = err as { detail?: string; table?: string };
    const columns = /^Key \(([^)]*)\)=/.exec(detail ?? '')?.[1].split(', ').map((column) => column.replace(/^"|"$/g, '')) ?? [];
    return new TransactError('already_exists', `a unique value is taken (${detail ?? 'unique violation'})`, { cause: err, details: { table, columns } });
  }
  return null;
}

export interface NativeOptions {
  /** How long a session may sit idle inside its transaction (a stalled owner) before PostgreSQL ends it. */
  stalledWriterMs: number;
}

/** First wait of a native transaction behind a log-protocol lock record; doubles up to 16x, with full jitter. */
const RECORD_POLL_MS = 10;

/** The savepoint every native transaction starts at (BEGIN sets it): where a batch goes back to while it waits for a lock record. */
const BEGUN = 'begun';

/** One open native transaction: what the engine runs a batch or an interactive callback in. */
export class PgTransaction implements NativeTransaction {
  /** Keys of the lock records this transaction inserted (uncommitted until its last statement deletes them). */
  private readonly recorded = new Set<string>();
  /** The owner its lock records carry: nobody else ever reads it (they are never committed). */
  private readonly recordOwner = `native#${newId()}`;
  /** Where a batch's lock-record wait goes back to: nothing but the records was done since. */
  private restartPoint = BEGUN;

  constructor(
    private readonly client: PgClient,
    private readonly tables: NativeTables,
    private readonly infoOf: (model: string) => ModelInfo,
    private readonly lockTimeoutMs: number,
  ) {}

  /** This transaction's client: Waterline reads leasing it run inside the transaction (TxBackend.connection). */
  get connection(): PgClient {
    return this.client;
  }

  /** Inserts the keyed log row first: a concurrent run with the same key waits on it, then finds it. */
  async claimKey(log: LogDocument): Promise<boolean> {
    const { sql, params } = logInsert(this.tables.logTable, log, 'ON CONFLICT ("id") DO NOTHING RETURNING "id"');
    return (await this.client.query(sql, params)).rows.length === 1;
  }

  /** Marks the point a keyed run can roll back to and still keep its claimed log row. */
  async savepoint(): Promise<void> {
    await this.client.query('SAVEPOINT keyed');
    this.restartPoint = 'keyed';
  }

  /** Undoes everything since the savepoint: the documents (and their lock records), not the claimed log row. */
  async rollbackToSavepoint(): Promise<void> {
    await this.client.query('ROLLBACK TO SAVEPOINT keyed');
    this.recorded.clear();
  }

  /**
   * Takes the log protocol's lock records of `keys` in this transaction (the module comment says
   * why). A batch (`all`: nothing done since the restart point but this) holds none of them while
   * it waits for one the log protocol holds — it goes back to its savepoint, as the log protocol's
   * batches keep only a sorted prefix — so the two never wait on each other in a cycle; an
   * interactive transaction keeps what it holds, as it does on the log protocol, and a cycle
   * ends with its lock timeout.
   */
  async lockRecords(keys: Iterable<string>, all: boolean): Promise<void> {
    let wanted = [...new Set(keys)].filter((key) => !this.recorded.has(key)).sort();
    const deadline = Date.now() + this.lockTimeoutMs;
    for (let attempt = 0; wanted.length > 0; attempt++) {
      const result = await this.client.query(
        `INSERT INTO ${this.tables.lockTable} ("id", "owner", "leaseUntil", "epoch") SELECT unnest($1::text[]), $2, 0, 0 ON CONFLICT ("id") DO NOTHING RETURNING "id"`,
        [wanted, this.recordOwner],
      );
      const got = new Set(result.rows.map((row) => String(row.id)));
      const missing = wanted.filter((key) => !got.has(key));
      if (missing.length === 0 || !all) for (const key of got) this.recorded.add(key);
      if (missing.length === 0) return;
      if (all) await this.client.query(`ROLLBACK TO SAVEPOINT ${this.restartPoint}`);
      else wanted = missing;
      if (Date.now() >= deadline) {
        throw new TransactError('lock_timeout', `timed out waiting for the lock on ${missing[0]}`, { details: { document: missing[0], heldBy: 'log protocol' } });
      }
      await sleep(Math.min(Math.random() * RECORD_POLL_MS * 2 ** Math.min(attempt, 4), Math.max(0, deadline - Date.now())));
    }
  }

  /** The statement that deletes this transaction's lock records, as a CTE of a last statement (null: it holds none). */
  private unlockCte(params: SqlParams): string | null {
    if (this.recorded.size === 0) return null;
    this.recorded.clear();
    return `unlock AS (DELETE FROM ${this.tables.lockTable} WHERE "owner" = ${params.add(this.recordOwner)})`;
  }

  /** Deletes this transaction's lock records, unless its last statement did: called just before COMMIT. */
  async releaseRecords(): Promise<void> {
    const params = new SqlParams();
    const cte = this.unlockCte(params);
    if (cte !== null) await this.client.query(`WITH ${cte} SELECT 1`, params.values);
  }

  /** Takes over a keyed log row reopened for this run (pending, under `owner`); false if it moved on. */
  async holdReopened(id: string, owner: string): Promise<boolean> {
    const result = await this.client.query(`SELECT "id" FROM ${this.tables.logTable} WHERE "id" = $1 AND "owner" = $2 AND "state" = 'pending' FOR UPDATE`, [id, owner]);
    return result.rows.length === 1;
  }

  /**
   * Locks and reads documents: their lock records (lockRecords; `all` for a batch's one sweep),
   * then one `SELECT … FOR UPDATE` per model, models and ids in a fixed order.
   */
  async lockAll(refs: readonly { model: string; id: string }[], all: boolean): Promise<Map<string, Image | null>> {
    await this.lockRecords(refs.map((ref) => documentKey(ref.model, ref.id)), all);
    const images = new Map<string, Image | null>(refs.map(({ model, id }) => [documentKey(model, id), null]));
    const idsOf = idsByModel(refs);
    for (const model of [...idsOf.keys()].sort()) {
      const table = this.tables.of(model);
      const ids = [...(idsOf.get(model) as Set<string>)].sort();
      const result = await this.client.query(`SELECT * FROM ${table.name} WHERE ${table.primaryKey} = ANY($1) ORDER BY ${table.primaryKey} FOR UPDATE`, [ids]);
      for (const row of result.rows) {
        const image = this.tables.imageOf(model, row);
        images.set(documentKey(model, String(image[this.infoOf(model).primaryKey])), image);
      }
    }
    return images;
  }

  async lock(info: ModelInfo, id: string): Promise<{ image: Image | null }> {
    const images = await this.lockAll([{ model: info.identity, id }], false);
    return { image: images.get(documentKey(info.identity, id)) ?? null };
  }

  /** Nothing to record before a write: the log row is written with the commit, atomically with the writes. */
  async record(): Promise<void> {}

  apply(step: Step, info: ModelInfo): Promise<void> {
    return this.write(forwardAction(step, info));
  }

  /** One document write, as SQL. */
  async write(action: Action): Promise<void> {
    const params = new SqlParams();
    const sql = this.statement(action, params);
    if (sql !== null) await this.client.query(sql, params.values);
  }

  /**
   * A whole batch's writes and its log row in one statement (data-modifying CTEs): one round trip
   * however many documents. `actions` holds at most one write per document (netActions).
   */
  async writeAllWithLog(actions: readonly Action[], log: LogDocument): Promise<void> {
    const params = new SqlParams();
    const writes = actions.map((action) => this.statement(action, params)).filter((sql): sql is string => sql !== null);
    const unlock = this.unlockCte(params);
    const { sql } = logInsert(this.tables.logTable, log, LOG_UPSERT, params);
    const ctes = [...writes.map((write, i) => `w${i} AS (${write})`), ...(unlock === null ? [] : [unlock])];
    await this.client.query(ctes.length === 0 ? sql : `WITH ${ctes.join(', ')} ${sql}`, params.values);
  }

  /** The SQL of one document write (null: nothing to write), its values added to `params`. */
  private statement(action: Action, params: SqlParams): string | null {
    const table = this.tables.of(action.model);
    const add = (attribute: string, value: unknown): string => {
      const column = table.columns.get(attribute);
      return params.add(column?.json === true && value !== null && value !== undefined ? JSON.stringify(value) : value);
    };
    const column = (attribute: string): string => ident(table.columns.get(attribute)?.column ?? attribute);
    const primaryKey = this.infoOf(action.model).primaryKey;
    switch (action.type) {
      case 'insert': {
        const values = { ...action.values, [primaryKey]: action.id };
        const names = Object.keys(values).filter((name) => table.columns.has(name));
        const placeholders = names.map((name) => add(name, values[name]));
        return `INSERT INTO ${table.name} (${names.map(column).join(', ')}) VALUES (${placeholders.join(', ')})`;
      }
      case 'patch': {
        const sets = Object.keys(action.values)
          .filter((name) => table.columns.has(name) && name !== primaryKey)
          .map((name) => `${column(name)} = ${add(name, action.values[name])}`);
        return sets.length === 0 ? null : `UPDATE ${table.name} SET ${sets.join(', ')} WHERE ${table.primaryKey} = ${params.add(action.id)}`;
      }
      case 'remove':
        return `DELETE FROM ${table.name} WHERE ${table.primaryKey} = ${params.add(action.id)}`;
    }
  }

  /**
   * The log row, committed, written in the transaction it describes. A keyed row was inserted (or
   * reopened) at the start of this same transaction: it is completed in place.
   */
  async writeLog(log: LogDocument): Promise<void> {
    const params = new SqlParams();
    const unlock = this.unlockCte(params);
    const { sql } = logInsert(this.tables.logTable, log, LOG_UPSERT, params);
    await this.client.query(unlock === null ? sql : `WITH ${unlock} ${sql}`, params.values);
  }
}

/** The models' tables, described once each, and the log table. */
export class NativeTables {
  private readonly tables = new Map<string, Table>();

  constructor(
    private readonly modelOf: ModelResolver,
    readonly logTable: string,
    /** The log protocol's lock records, which native transactions take too (see the module comment). */
    readonly lockTable: string,
  ) {}

  of(identity: string): Table {
    let table = this.tables.get(identity);
    if (table === undefined) {
      table = tableOf(this.modelOf(identity));
      this.tables.set(identity, table);
    }
    return table;
  }

  /** A row as Waterline's find returns it: attribute names, auto-timestamps as numbers (they are BIGINT). */
  imageOf(identity: string, row: Record<string, unknown>): Image {
    const image: Image = {};
    for (const [attribute, { column, timestamp }] of this.of(identity).columns) {
      const value = row[column];
      image[attribute] = timestamp && value !== null && value !== undefined ? Number(value) : value;
    }
    return image;
  }
}

/** The native path of one datastore: runs work in native transactions on its pool. */
export class NativePostgres implements NativeTransactions {
  constructor(private readonly pool: PgPool, private readonly tables: NativeTables, private readonly options: NativeOptions) {}

  run<T>(lockTimeoutMs: number, infoOf: (model: string) => ModelInfo, work: (tx: NativeTransaction) => Promise<T>): Promise<T> {
    return inNativeTransaction(this.pool, { ...this.options, lockTimeoutMs }, async (client) => {
      const tx = new PgTransaction(client, this.tables, infoOf, lockTimeoutMs);
      const result = await work(tx);
      await tx.releaseRecords();
      return result;
    });
  }

  failure(err: unknown): TransactError | null {
    return nativeFailure(err);
  }
}

/**
 * Runs `work` in one native transaction: BEGIN (with the stall and lock-wait limits), work, COMMIT
 * (postgres.ts inTransaction: one helper for every transaction the stores open). Any error rolls
 * it all back; a TransactError was the transaction's own answer, so its connection is reused.
 */
async function inNativeTransaction<T>(pool: PgPool, options: NativeOptions & { lockTimeoutMs: number }, work: (client: PgClient) => Promise<T>): Promise<T> {
  try {
    return await inTransaction(pool, { stalledWriterMs: options.stalledWriterMs, lockTimeoutMs: options.lockTimeoutMs, first: `SAVEPOINT ${BEGUN}`, reusable: (err) => err instanceof TransactError }, (client) => work(client));
  } catch (err) {
    throw nativeFailure(err) ?? err;
  }
}
