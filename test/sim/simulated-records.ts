/**
 * Log protocol v3's records (lib/store/records.ts) over the simulated database, kept as MongoDB
 * keeps them: hidden fields in the documents themselves (a stub and a tombstone are rows too).
 * Each RecordStore method is the operations the design sends (R1: a conditional update, THEN a
 * read; a reserve: an insert, then a read), each applied in one synchronous step when the
 * transport delivers it — so a grant whose reply is lost, or that lands twice or late, is what
 * the network makes of it, as on the wire.
 *
 * Every change to a record is announced (DbEvent `record`, with the row before and after): the
 * record-rules checker judges each against the rules.
 */
import { LOG_IDENTITY } from '../../lib/models/hook-models';
import { documentKey } from '../../lib/core/operations';
import { comparator, matches } from '../../lib/query/criteria';
import { toLogDocument, type ViewRequest } from '../../lib/store/contract';
import { type DocRecord, type GuardedWrite, parseToken, type RecordLock, type RecordState, type RecordStore, type RecordView, type Stub } from '../../lib/store/records';
import type { Image, LogDocument } from '../../lib/core/types';
import { copy, type Doc, type SimDatabase, type Transport } from './database';

/** The hidden fields, as in MongoDB documents (docs/protocol-v3.md "The records"). */
export const RECORD_FIELDS = { lock: '_transactLock', until: '_transactLockUntil', version: '_transactVersion', state: '_transactState' } as const;

const HIDDEN: readonly string[] = Object.values(RECORD_FIELDS);

/** A stored row's record, as `read` answers it. */
export function recordOf(model: string, id: string, row: Doc | undefined): DocRecord {
  if (row === undefined) return { model, id, image: null, state: 'absent', lock: null, version: 0 };
  const state = (row[RECORD_FIELDS.state] as RecordState | undefined) ?? 'live';
  const token = row[RECORD_FIELDS.lock];
  return {
    model,
    id,
    image: state === 'live' ? imageOf(row) : null,
    state,
    lock: typeof token === 'string' ? { token, until: Number(row[RECORD_FIELDS.until]) } : null,
    version: Number(row[RECORD_FIELDS.version] ?? 0),
  };
}

/** A row's attributes, without the hidden fields. */
export function imageOf(row: Doc): Image {
  const image: Image = {};
  for (const [key, value] of Object.entries(row)) if (!HIDDEN.includes(key)) image[key] = copy(value) as Image[string];
  return image;
}

export class SimulatedRecords implements RecordStore {

  constructor(private readonly db: SimDatabase, private readonly transport: Transport) {}

  async grant(model: string, ids: readonly string[], lock: RecordLock): Promise<DocRecord[]> {
    await this.transport.call(`grant(${model} ${ids.join(',')} to ${lock.token})`, [...ids.map((id) => documentKey(model, id)), parseToken(lock.token).txId], () => {
      const table = this.db.table(model);
      for (const id of ids) {
        const row = table.get(id);
        if (row === undefined || row[RECORD_FIELDS.lock] !== undefined || row[RECORD_FIELDS.state] === 'reserved') continue;
        this.change(model, id, row, { ...row, [RECORD_FIELDS.lock]: lock.token, [RECORD_FIELDS.until]: lock.until, [RECORD_FIELDS.version]: Number(row[RECORD_FIELDS.version] ?? 0) + 1 });
      }
    });
    return this.read(model, ids);
  }

  async reserve(model: string, stubs: readonly Stub[], lock: RecordLock): Promise<DocRecord[]> {
    const ids = stubs.map((stub) => stub.id);
    await this.transport.call(`reserve(${model} ${ids.join(',')} for ${lock.token})`, [...ids.map((id) => documentKey(model, id)), parseToken(lock.token).txId], () => {
      const table = this.db.table(model);
      for (const id of ids) {
        if (table.has(id)) continue; // a duplicate key: the id was taken, once, for ever
        this.change(model, id, undefined, { id, [RECORD_FIELDS.lock]: lock.token, [RECORD_FIELDS.until]: lock.until, [RECORD_FIELDS.version]: 1, [RECORD_FIELDS.state]: 'reserved' });
      }
    });
    return this.read(model, ids);
  }

  read(model: string, ids: readonly string[]): Promise<DocRecord[]> {
    return this.transport.call(`readRecords(${model} ${ids.join(',')})`, ids.map((id) => documentKey(model, id)), () => {
      const table = this.db.table(model);
      return ids.map((id) => recordOf(model, id, table.get(id)));
    });
  }

  write(writes: readonly GuardedWrite[]): Promise<Set<string>> {
    const label = writes.map((w) => `${w.transition.kind} ${w.model}:${w.id}@${w.version}`).join(', ');
    return this.transport.call(`writeRecords(${label} by ${writes[0]?.token ?? ''})`, [...writes.map((w) => documentKey(w.model, w.id)), ...new Set(writes.map((w) => parseToken(w.token).txId))], () => {
      const landed = new Set<string>();
      for (const write of writes) {
        const table = this.db.table(write.model);
        const row = table.get(write.id);
        if (row === undefined || row[RECORD_FIELDS.lock] !== write.token || Number(row[RECORD_FIELDS.version] ?? 0) !== write.version) continue;
        const version = write.version + 1;
        const { transition } = write;
        const hidden = { [RECORD_FIELDS.version]: version };
        let after: Doc;
        if (transition.kind === 'take') after = { ...row, ...hidden, [RECORD_FIELDS.lock]: transition.lock.token, [RECORD_FIELDS.until]: transition.lock.until };
        else if (transition.kind === 'free') {
          const { [RECORD_FIELDS.lock]: _lock, [RECORD_FIELDS.until]: _until, ...rest } = row;
          after = { ...rest, ...hidden, ...(row[RECORD_FIELDS.state] === 'reserved' ? { [RECORD_FIELDS.state]: 'destroyed' } : {}) };
        } else if (transition.after === null) after = { id: write.id, ...hidden, [RECORD_FIELDS.state]: 'destroyed' };
        else after = { ...copy(transition.after), id: write.id, ...hidden };
        this.change(write.model, write.id, row, after);
        landed.add(documentKey(write.model, write.id));
      }
      return landed;
    });
  }

  renew(model: string, token: string, until: number): Promise<void> {
    return this.transport.call(`renewRecords(${model} ${token})`, [parseToken(token).txId], () => {
      const table = this.db.table(model);
      for (const [id, row] of table) if (row[RECORD_FIELDS.lock] === token) table.set(id, { ...row, [RECORD_FIELDS.until]: until });
    });
  }

  findExpired(model: string, before: number, limit: number): Promise<DocRecord[]> {
    return this.transport.call(`findExpiredRecords(${model})`, [], () =>
      [...this.db.table(model)]
        .filter(([, row]) => row[RECORD_FIELDS.lock] !== undefined && Number(row[RECORD_FIELDS.until]) < before)
        .sort(([, a], [, b]) => Number(a[RECORD_FIELDS.until]) - Number(b[RECORD_FIELDS.until]))
        .slice(0, limit)
        .map(([id, row]) => recordOf(model, id, row)),
    );
  }

  /** One step: the held records, the live rows of every request and the holders' logs, at one instant. */
  view(requests: readonly ViewRequest[]): Promise<RecordView> {
    return this.transport.call(`viewRecords(${requests.map((r) => r.model).join(',')})`, requests.map((r) => r.model), () => {
      const rows: DocRecord[][] = [];
      const held: DocRecord[][] = [];
      for (const request of requests) {
        const all = [...this.db.table(request.model)].map(([id, row]) => recordOf(request.model, id, row));
        const heldNow = all.filter((record) => record.lock !== null);
        const live = all.filter((record) => record.state === 'live' && matches(record.image as Image, request.where));
        live.sort((a, b) => comparator(request.sort, 'last')(a.image as Image, b.image as Image));
        held.push(heldNow);
        rows.push(request.limit === undefined ? live : live.slice(0, request.limit + heldNow.length));
      }
      const logs = new Map<string, LogDocument>();
      for (const record of held.flat()) {
        const { txId } = parseToken((record.lock as RecordLock).token);
        const row = this.db.table(LOG_IDENTITY).get(txId);
        if (row !== undefined) logs.set(txId, toLogDocument(copy(row)));
      }
      return { rows, held, logs };
    });
  }

  private change(model: string, id: string, before: Doc | undefined, after: Doc): void {
    this.db.table(model).set(id, after);
    this.db.emit({ kind: 'record', table: model, id, before: before === undefined ? null : copy(before), after: copy(after) });
  }
}
