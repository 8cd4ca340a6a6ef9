/**
 * Logical backups: the transactional models' documents and the transaction log as one streamed,
 * checksummed NDJSON file, and its restore into an empty datastore of any adapter.
 *
 *   {"format":"sails-hook-transact-backup","version":1,"createdAt":…,"asOf":…,"models":[…]}
 *   {"model":"investor","doc":{…}}            one line per committed document, model by model
 *   {"log":{…}}                              one line per finished log document, oldest commit first
 *   {"trailer":{"lines":N,"counts":{…},"sha256":"…","skippedActive":k}}
 * `lines` counts the lines before the trailer; `sha256` is over their exact bytes, each with its
 * "\n". Restore checks all of it in a first pass and writes nothing unless it holds.
 *
 * Consistency while writes go on: each page of documents is a committed read, but pages are read
 * at different instants. The log is dumped after the documents and holds every transaction that
 * committed while they were read; restore re-applies the after-images of every transaction that
 * committed from `asOf` (when the copy began, less a margin for clock skew) on, oldest first, so
 * each document ends as its newest commit in the file left it: the state as of the log's last
 * entry. Unfinished transactions are left out (their writes are not in the committed pages
 * either): the backup is as if they had not started.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { Engine } from '../engine';
import { TransactError } from '../core/errors';
import { LOG_IDENTITY } from '../models/hook-models';
import { documentKey } from '../core/operations';
import { LOG_FIELDS, toLogDocument } from '../store/contract';
import type { Image, LogDocument } from '../core/types';
import type { WaterlineModel } from '../core/waterline';
import { byModel, committedPages, DEFAULT_PAGE_SIZE, logPageSize, logPages, replaceDocuments } from './document-pages';

export const BACKUP_FORMAT = 'sails-hook-transact-backup';
export const BACKUP_VERSION = 1;
/** Longest line a restore accepts (one document or log entry): bounds its memory. */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

export interface BackupHeader {
  format: typeof BACKUP_FORMAT;
  version: number;
  /** When the backup began (ISO). */
  createdAt: string;
  /** When the document copy began (epoch ms, the engine's server clock): restore re-applies the log from here. */
  asOf: number;
  /** The models whose documents follow, in order. */
  models: string[];
}

export interface BackupTrailer {
  lines: number;
  /** Documents per model, and `log` entries under the key "log". */
  counts: Record<string, number>;
  sha256: string;
  /** Transactions unfinished while the log was read, not in the file. */
  skippedActive: number;
}

export interface BackupSummary {
  header: BackupHeader;
  trailer: BackupTrailer;
}

type BackupEngine = Pick<Engine, 'reads' | 'infoOf' | 'findLogs' | 'countLogs' | 'clock'>;

/** Writes a backup of `models` and the log to `out` (a file stream); resolves once all of it is written. */
export async function writeBackup(engine: BackupEngine, out: Writable, options: { models: readonly string[]; pageSize?: number }): Promise<BackupSummary> {
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  for (const model of options.models) if (engine.infoOf(model) === undefined) throw new Error(`sails-hook-transact: backup: no model "${model}"`);
  const hash = createHash('sha256');
  let lines = 0;
  const write = async (value: unknown): Promise<void> => {
    const line = `${JSON.stringify(value)}\n`;
    hash.update(line);
    lines++;
    if (!out.write(line)) await once(out, 'drain');
  };
  const header: BackupHeader = { format: BACKUP_FORMAT, version: BACKUP_VERSION, createdAt: new Date().toISOString(), asOf: Math.floor(engine.clock.now()), models: [...options.models] };
  await write(header);
  const counts: Record<string, number> = {};
  for (const model of options.models) {
    counts[model] = 0;
    for await (const page of committedPages(engine, model, pageSize)) {
      for (const doc of page) await write({ model, doc });
      counts[model] += page.length;
    }
  }
  counts.log = 0;
  for await (const page of logPages(engine, { states: ['committed', 'rolled-back'], order: 'oldest-first', pageSize: logPageSize(pageSize) })) {
    for (const log of page) await write({ log });
    counts.log += page.length;
  }
  const skippedActive = await engine.countLogs({ state: { in: ['pending', 'rolling-back'] } });
  const trailer: BackupTrailer = { lines, counts, sha256: hash.digest('hex'), skippedActive };
  const end = `${JSON.stringify({ trailer })}\n`;
  if (!out.write(end)) await once(out, 'drain');
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return { header, trailer };
}

function invalid(message: string, line?: number): TransactError {
  return new TransactError('backup_invalid', message, line === undefined ? {} : { path: `line ${line}` });
}

/** The file's lines as exact bytes (without their "\n"), one at a time. */
async function* fileLines(path: string): AsyncGenerator<Buffer> {
  let rest: Buffer[] = [];
  let restBytes = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      yield rest.length === 0 ? piece : Buffer.concat([...rest, piece]);
      rest = [];
      restBytes = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      rest.push(chunk.subarray(start));
      restBytes += chunk.length - start;
      if (restBytes > MAX_LINE_BYTES) throw invalid(`a line is longer than ${MAX_LINE_BYTES} bytes`);
    }
  }
  if (restBytes > 0) yield Buffer.concat(rest);
}

type Entry = { kind: 'doc'; model: string; doc: Image } | { kind: 'log'; log: LogDocument };

/**
 * Reads the whole file and checks it: header, every line's shape, the trailer's counts and
 * checksum, nothing after the trailer. `each` sees every entry once it is known well formed (the
 * checksum is known only at the end: the import pass re-checks it).
 */
async function scan(path: string, each?: (entry: Entry) => Promise<void>): Promise<BackupSummary> {
  const hash = createHash('sha256');
  let header: BackupHeader | undefined;
  let trailer: BackupTrailer | undefined;
  const counts: Record<string, number> = { log: 0 };
  let n = 0;
  for await (const bytes of fileLines(path)) {
    n++;
    if (trailer !== undefined) throw invalid('data after the trailer', n);
    let value: unknown;
    try {
      value = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw invalid('not a JSON line', n);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('a line is a JSON object', n);
    const line = value as Record<string, unknown>;
    if (n === 1) {
      if (line.format !== BACKUP_FORMAT) throw invalid(`not a ${BACKUP_FORMAT} file`, n);
      if (line.version !== BACKUP_VERSION) throw invalid(`format version ${String(line.version)}; this version reads ${BACKUP_VERSION}`, n);
      if (!Array.isArray(line.models) || !line.models.every((m) => typeof m === 'string') || typeof line.asOf !== 'number') throw invalid('the header lacks models or asOf', n);
      header = line as unknown as BackupHeader;
      for (const model of header.models) counts[model] = 0;
      hash.update(bytes).update('\n');
      continue;
    }
    if ('trailer' in line) {
      trailer = line.trailer as BackupTrailer;
      continue;
    }
    hash.update(bytes).update('\n');
    let entry: Entry;
    if (typeof line.model === 'string' && typeof line.doc === 'object' && line.doc !== null) {
      if (!(line.model in counts) || line.model === 'log') throw invalid(`a document of model "${line.model}", which the header does not list`, n);
      entry = { kind: 'doc', model: line.model, doc: line.doc as Image };
      counts[line.model]++;
    } else if (typeof line.log === 'object' && line.log !== null && typeof (line.log as { id?: unknown }).id === 'string') {
      entry = { kind: 'log', log: toLogDocument(line.log as Record<string, unknown>) };
      counts.log++;
    } else {
      throw invalid('neither a document nor a log line', n);
    }
    if (each !== undefined) await each(entry);
  }
  if (header === undefined) throw invalid('the file is empty');
  if (trailer === undefined || typeof trailer !== 'object' || trailer === null) throw invalid('no trailer: the file is truncated');
  const digest = hash.digest('hex');
  if (trailer.lines !== n - 1) throw invalid(`the trailer counts ${String(trailer.lines)} lines, the file has ${n - 1}`);
  if (trailer.sha256 !== digest) throw invalid(`checksum mismatch: the trailer says ${String(trailer.sha256)}, the lines hash to ${digest}`);
  for (const [key, count] of Object.entries(counts)) {
    if (trailer.counts?.[key] !== count) throw invalid(`the trailer counts ${String(trailer.counts?.[key])} for "${key}", the file has ${count}`);
  }
  return { header, trailer };
}

/** Checks a backup file without writing anything (what restore does first). */
export function verifyBackup(path: string): Promise<BackupSummary> {
  return scan(path);
}

export interface RestoreOptions {
  /** The target app's models (and the hook's log model), by identity. */
  modelOf: (identity: string) => WaterlineModel | undefined;
  pageSize?: number;
  /**
   * How far before the backup's `asOf` restore starts re-applying the log: covers commits stamped
   * by an instance whose clock is behind, and PostgreSQL's native path, which stamps `endedAt`
   * just before COMMIT. Default: the engine's clockSkewMs + 1 s.
   */
  marginMs?: number;
}

export interface RestoreSummary extends BackupSummary {
  /** Committed transactions whose after-images were re-applied to make the documents consistent. */
  reapplied: number;
}

/**
 * Restores a backup into an empty datastore: verifies the whole file first (refusing a corrupted
 * or truncated one with `backup_invalid`, nothing written), refuses a target that holds any
 * document of the file's models or any log entry (`target_not_empty`), imports, then re-applies
 * the log from `asOf` on (see the module comment). The file must not change while this runs: the
 * import pass checks the checksum again and fails (after writing) if it did.
 */
export async function restoreBackup(engine: Pick<Engine, 'infoOf' | 'findLogs' | 'options'>, path: string, options: RestoreOptions): Promise<RestoreSummary> {
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  const checked = await scan(path);
  const logModel = options.modelOf(LOG_IDENTITY);
  if (logModel === undefined) throw new Error('sails-hook-transact: restore: no log model');
  for (const model of checked.header.models) {
    const target = options.modelOf(model);
    if (target === undefined || engine.infoOf(model) === undefined) throw new TransactError('unknown_model', `the backup holds model "${model}", which this app does not define`, { path: 'models' });
    if ((await target.count({})) > 0) throw new TransactError('target_not_empty', `the target's ${model} is not empty: restore writes only into an empty datastore`, { path: model });
  }
  if ((await logModel.count({})) > 0) throw new TransactError('target_not_empty', "the target's transaction log is not empty: restore writes only into an empty datastore", { path: LOG_IDENTITY });

  let batch: { model: string; rows: Record<string, unknown>[] } | undefined;
  const flush = async (): Promise<void> => {
    if (batch === undefined || batch.rows.length === 0) return;
    const target = batch.model === LOG_IDENTITY ? logModel : (options.modelOf(batch.model) as WaterlineModel);
    await target.createEach(batch.rows);
    batch = undefined;
  };
  const imported = await scan(path, async (entry) => {
    const model = entry.kind === 'doc' ? entry.model : LOG_IDENTITY;
    const row = entry.kind === 'doc' ? entry.doc : logRow(entry.log);
    if (batch !== undefined && batch.model !== model) await flush();
    batch ??= { model, rows: [] };
    batch.rows.push(row);
    if (batch.rows.length >= pageSize) await flush();
  });
  await flush();
  if (imported.trailer.sha256 !== checked.trailer.sha256) throw new TransactError('backup_invalid', 'the file changed while it was restored: restore again into an empty datastore');

  // Re-apply, oldest first, what committed while the documents were being read.
  const models = new Set(checked.header.models);
  const since = checked.header.asOf - (options.marginMs ?? engine.options.clockSkewMs + 1000);
  let reapplied = 0;
  // In chunks of about `pageSize` documents, oldest first: a later chunk only overwrites with newer after-images.
  let latest = new Map<string, { model: string; id: string; after: Image | null }>();
  const apply = async (): Promise<void> => {
    for (const [model, items] of byModel(latest.values())) {
      const pk = (engine.infoOf(model) as NonNullable<ReturnType<Engine['infoOf']>>).primaryKey;
      await replaceDocuments(options.modelOf(model) as WaterlineModel, pk, items.map((item) => item.id), items.map((item) => item.after));
    }
    latest = new Map();
  };
  for await (const logs of logPages(engine, { states: ['committed'], since, order: 'oldest-first', pageSize: logPageSize(pageSize) })) {
    for (const log of logs) {
      reapplied++;
      for (const step of log.steps) if (models.has(step.model)) latest.set(documentKey(step.model, step.id), { model: step.model, id: step.id, after: step.after });
      if (latest.size >= pageSize) await apply();
    }
  }
  await apply();
  return { ...checked, reapplied };
}

/** A log document as the log model's row (every field of the log, nothing else). */
function logRow(log: LogDocument): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const field of LOG_FIELDS) row[field] = log[field];
  return row;
}
