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
 *
 * Unique values (R9), as DiskRecords (the reference semantics) keeps them: a stub, and a held
 * record whose update claimed new values (claimUnique), carry the values they take in a hidden
 * field (`unique`); a value is taken when a live document holds it or another record's `unique`
 * does. The record's next guarded write ends its claim (an apply writes the value itself, in the
 * same step; a free or a takeover gives it up). A claim moves no version: the steps name it (R3).
 */
import { LOG_IDENTITY } from '../../lib/models/hook-models';
import { TransactError } from '../../lib/core/errors';
import { jsonEqual } from '../../lib/core/json';
import { uniqueKeys } from '../../lib/core/model-info';
import { documentKey } from '../../lib/core/operations';
import { CLAIM_FIELD } from '../../lib/store/mongo/store';
import { comparator, matches } from '../../lib/query/criteria';
import { toLogDocument, type ViewRequest } from '../../lib/store/contract';
import { type DocRecord, type GuardedWrite, parseToken, type RecordLock, type RecordState, type RecordStore, type RecordView, type Stub } from '../../lib/store/records';
import type { Image, LogDocument, Values } from '../../lib/core/types';
import type { WaterlineModel } from '../../lib/core/waterline';
import { copy, type Doc, type SimDatabase, type Transport } from './database';

/** The hidden fields, as in MongoDB documents (docs/protocol-v3.md "The records"). */
export const RECORD_FIELDS = {
  lock: '_transactLock',
  until: '_transactLockUntil',
  version: '_transactVersion',
  state: '_transactState',
  /** The unique values a stub or a claiming record takes (SimulatedRecords, R9). */
  unique: '_transactUnique',
  /** MongoRecords' markers of the values a held record claimed (lib/store/mongo/store.ts CLAIM_FIELD, R9). */
  claim: CLAIM_FIELD,
} as const;

const HIDDEN: readonly string[] = Object.values(RECORD_FIELDS);

/** The state of a MongoRecords claim document (lib/store/mongo/records.ts claimUnique): no record, a value held for an update's apply. */
export const CLAIM_STATE = 'claim';

/** Whether a stored row is a MongoRecords claim document (R9), not a document's record. */
export function isClaimDocument(row: Doc | null): boolean {
  return row !== null && row[RECORD_FIELDS.state] === CLAIM_STATE;
}

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

/** What a record's `unique` field holds: a value per unique attribute it takes. */
function takenBy(row: Doc): Values | null {
  const unique = row[RECORD_FIELDS.unique];
  return typeof unique === 'object' && unique !== null ? (unique as Values) : null;
}

export class SimulatedRecords implements RecordStore {

  /** @param modelOf the app's models, for their unique keys (R9); without it (a bench's, a unit test's records) none is unique. */
  constructor(private readonly db: SimDatabase, private readonly transport: Transport, private readonly modelOf?: (identity: string) => WaterlineModel | undefined) {}

  /**
   * The values of `model`'s unique keys each of `claims` takes (keys given a whole value only),
   * by id; throws already_exists when one is taken — by a live document or another record's
   * stub or claim (its own record's live value aside: it is the one being replaced), or by an
   * earlier one of `claims`. Applied inside a step: reads the table as it is.
   */
  private checkUnique(model: string, claims: readonly Stub[]): Map<string, Values> {
    const target = this.modelOf?.(model);
    const keys = target === undefined ? [] : uniqueKeys(target);
    const taking = new Map<string, Values>();
    if (keys.length === 0) return taking;
    const table = this.db.table(model);
    for (const claim of claims) {
      const mine: Values = {};
      for (const key of keys) {
        if (key.some((field) => claim.values[field] === undefined || claim.values[field] === null)) continue;
        const tuple: Values = Object.fromEntries(key.map((field) => [field, claim.values[field]]));
        const holds = (values: Values | null): boolean => values !== null && key.every((field) => jsonEqual(values[field], tuple[field]));
        const others = [...table].filter(([id]) => id !== claim.id).map(([, row]) => row);
        const taken = others.some((row) => holds(takenBy(row)) || ((row[RECORD_FIELDS.state] ?? 'live') === 'live' && holds(imageOf(row)))) || [...taking.values()].some(holds);
        if (taken) throw new TransactError('already_exists', `a ${model} with ${key.map((field) => `${field} ${JSON.stringify(tuple[field])}`).join(', ')} exists already`, { details: { model, id: claim.id, attributes: [...key] } });
        Object.assign(mine, tuple);
      }
      if (Object.keys(mine).length > 0) taking.set(claim.id, mine);
    }
    return taking;
  }

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
      // A duplicate key: the id was taken, once, for ever. The rest take their unique values, all of them or none.
      const inserting = stubs.filter((stub) => !table.has(stub.id));
      const unique = this.checkUnique(model, inserting);
      for (const { id } of inserting) {
        const values = unique.get(id);
        this.change(model, id, undefined, { id, [RECORD_FIELDS.lock]: lock.token, [RECORD_FIELDS.until]: lock.until, [RECORD_FIELDS.version]: 1, [RECORD_FIELDS.state]: 'reserved', ...(values === undefined ? {} : { [RECORD_FIELDS.unique]: values }) });
      }
    });
    return this.read(model, ids);
  }

  /** R9 for updates: every record held by `lock` takes its new unique values, or none does (already_exists; lease_lost when one is not held). */
  claimUnique(model: string, claims: readonly Stub[], lock: RecordLock): Promise<void> {
    return this.transport.call(`claimUnique(${model} ${claims.map((claim) => claim.id).join(',')} for ${lock.token})`, [...claims.map((claim) => documentKey(model, claim.id)), parseToken(lock.token).txId], () => {
      const table = this.db.table(model);
      const lost = claims.find((claim) => table.get(claim.id)?.[RECORD_FIELDS.lock] !== lock.token);
      if (lost !== undefined) throw new TransactError('lease_lost', `${model} ${lost.id} is no longer held by ${lock.token}; nothing was written`, { details: { model, id: lost.id } });
      const unique = this.checkUnique(model, claims);
      // Not a change of the record (no event): its version stays, since the steps name it (R3).
      for (const [id, values] of unique) table.set(id, { ...(table.get(id) as Doc), [RECORD_FIELDS.unique]: values });
    });
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
        // Every guarded write ends the holder's claim of unique values (an apply stores them itself).
        const { [RECORD_FIELDS.unique]: _claimed, ...unclaimed } = row;
        let after: Doc;
        if (transition.kind === 'take') after = { ...unclaimed, ...hidden, [RECORD_FIELDS.lock]: transition.lock.token, [RECORD_FIELDS.until]: transition.lock.until };
        else if (transition.kind === 'free') {
          const { [RECORD_FIELDS.lock]: _lock, [RECORD_FIELDS.until]: _until, ...rest } = unclaimed;
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
