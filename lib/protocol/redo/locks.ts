/**
 * Log protocol v3's locks (docs/protocol-v3.md R1, R2, R5, R6): granted in the records
 * themselves, in sorted order, resolving whatever holds a record by its holder's log.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServerClock } from '../clock';
import { TransactError } from '../../core/errors';
import { documentKey, idsByModel } from '../../core/operations';
import { ownerToken, tombstone } from '../recovery';
import type { AtomicStore } from '../../store';
import type { LogDocument, Values } from '../../core/types';
import { type Place, WaitQueues } from '../wait-queues';
import { rollBackPending } from './rollback';
import { type DocRecord, type GuardedWrite, holding, type RecordLock, type RecordStore, parseToken } from '../../store/records';

/**
 * A document a transaction needs: to write it, or to create it (then with its values, for the
 * stub). `anyState`: held whatever it is — live, a tombstone, or absent (then a stub is reserved,
 * so that nobody creates it meanwhile): an interactive transaction locks what it reads.
 */
export interface RecordRef {
  model: string;
  id: string;
  create?: Values;
  anyState?: boolean;
}

export interface RecordLockOptions {
  instanceId: string;
  leaseMs: number;
  clockSkewMs: number;
  pollMs: number;
}

/** What acquire ends with: every ref's record, held by the caller unless `decided` (its answer needs no lock). */
export interface Acquired {
  /** `model:id` → the record as held (or as decided). */
  records: Map<string, DocRecord>;
  /** Records held by the caller: what it must apply or free. */
  held: DocRecord[];
}

export class RecordLocks {
  /**
   * In-process lines per record. A request joins the lines of all its records in one tick, so any
   * two requests of this process stand in the same order in every line they share: the first to
   * come is served first, and neither waits for the other's records while holding its own. It
   * asks the datastore only at the front of every line (before, every waiter polled it, and
   * whoever polled at the right moment won).
   */
  private readonly queues = new WaitQueues();
  /** `model:id` → the token holding it here, and its place at the front of the line: left when the record is written. */
  private readonly holders = new Map<string, { token: string; place: Place }>();

  constructor(
    private readonly records: RecordStore,
    /** The log's primitives (a holder's log, its tombstone, its rollback). */
    private readonly logs: AtomicStore,
    private readonly clock: ServerClock,
    private readonly options: RecordLockOptions,
  ) {}

  /**
   * Holds every ref's record for `lock` (a create's: its stub, or the tombstone it re-creates),
   * or decides it without a lock: a live record a create names (already there: the plan refuses
   * it), an absent one an update names (not found). Sorted order, keeping the prefix it got and
   * giving back the rest whenever it must wait for another process, so two transactions never
   * wait on each other. Throws lock_timeout past `timeoutMs`; gives back what it holds then.
   */
  async acquire(refs: readonly RecordRef[], lock: RecordLock, timeoutMs: number): Promise<Acquired> {
    const byKey = new Map<string, RecordRef>();
    for (const ref of refs) {
      const key = documentKey(ref.model, ref.id);
      const known = byKey.get(key);
      // A document both created and written by one batch is reserved by its create.
      if (known === undefined || (known.create === undefined && ref.create !== undefined)) byKey.set(key, ref);
    }
    const keys = [...byKey.keys()].sort();
    const got = new Map<string, DocRecord>();
    /** The version each record was given back at (below): a give-back whose reply was lost may still land. */
    const givenBack = new Map<string, number>();
    const deadline = Date.now() + timeoutMs;
    const places = new Map(keys.filter((key) => this.holders.get(key)?.token !== lock.token).map((key) => [key, this.queues.join(key)]));
    let done = false;
    try {
      for (const [key, place] of places) await this.awaitTurn(byKey.get(key) as RecordRef, place, deadline);
      for (let attempt = 0; ; attempt++) {
        const missing = keys.filter((key) => !got.has(key));
        if (missing.length === 0) break;
        const seen = await this.retaken(await this.tryAll(missing.map((key) => byKey.get(key) as RecordRef), lock), givenBack, lock);
        let blocked: DocRecord | null = null;
        for (const key of missing) {
          const record = seen.get(key) as DocRecord;
          if (blocked === null && isMine(record, lock, byKey.get(key) as RecordRef) !== false) got.set(key, record);
          else if (blocked === null) blocked = record;
        }
        if (blocked === null) break;
        // Give back what was granted past the first record it must wait for: held out of order, it could deadlock.
        const past = [...seen.values()].filter((record) => documentKey(record.model, record.id) > documentKey(blocked.model, blocked.id) && isMine(record, lock) === true);
        for (const record of past) givenBack.set(documentKey(record.model, record.id), record.version);
        await this.free(past);
        if (await this.settle(blocked, lock)) continue;
        if (Date.now() > deadline) throw lockTimeout(blocked.model, blocked.id, blocked.lock?.token ?? null);
        // Held by another process (this one's requests are behind us): only polling tells when it is free.
        await sleep(Math.random() * this.options.pollMs * 2 ** Math.min(attempt, 4));
      }
      done = true;
    } catch (err) {
      await this.free([...got.values()].filter((record) => isMine(record, lock) === true)).catch(() => undefined);
      throw err;
    } finally {
      for (const [key, place] of places) {
        const record = got.get(key);
        if (done && record !== undefined && isMine(record, lock) === true) this.holders.set(key, { token: lock.token, place });
        else place.leave();
      }
    }
    const records = new Map(keys.map((key) => [key, got.get(key) as DocRecord]));
    return { records, held: [...records.values()].filter((record) => isMine(record, lock) === true) };
  }

  /**
   * R2 within one attempt: a record this acquire gave back, found still held by its own token at the
   * version it was given back at, is not trusted as held — the give-back may have been sent and its
   * reply lost, and may still land (late, or delivered twice), freeing a record this attempt would
   * then commit. It is taken again, by the same token at a fresh version, so that the give-back
   * still on its way names a version gone; then read again.
   */
  private async retaken(seen: Map<string, DocRecord>, givenBack: ReadonlyMap<string, number>, lock: RecordLock): Promise<Map<string, DocRecord>> {
    const stale = [...seen.values()].filter((record) => record.lock?.token === lock.token && givenBack.get(documentKey(record.model, record.id)) === record.version);
    if (stale.length === 0) return seen;
    await this.records.write(stale.map((record) => guarded(record, { kind: 'take', lock })));
    for (const model of new Set(stale.map((record) => record.model))) {
      for (const record of await this.records.read(model, stale.filter((one) => one.model === model).map((one) => one.id))) seen.set(documentKey(model, record.id), record);
    }
    return seen;
  }

  /** Frees records the caller holds and did not write (a give-back, a failure before the commit point). */
  async free(held: readonly DocRecord[]): Promise<void> {
    if (held.length === 0) return;
    await this.write(held.map((record) => guarded(record, { kind: 'free' })));
  }

  /**
   * Every guarded write of v3's records goes through here (RecordStore.write): whether it landed
   * or not, the record's holder here steps out of its line, and the next request looks.
   */
  async write(writes: readonly GuardedWrite[]): Promise<void> {
    try {
      await this.records.write(writes);
    } finally {
      for (const write of writes) this.stepOut(documentKey(write.model, write.id), write.token);
    }
  }

  /**
   * Records `held` stay held in the datastore but are no longer this caller's to write (its commit's
   * outcome is unknown): the next request here meets them there, and R5 settles them.
   */
  abandon(held: readonly DocRecord[]): void {
    for (const record of held) if (record.lock !== null) this.stepOut(documentKey(record.model, record.id), record.lock.token);
  }

  private stepOut(key: string, token: string): void {
    const holder = this.holders.get(key);
    if (holder?.token !== token) return;
    this.holders.delete(key);
    holder.place.leave();
  }

  /**
   * Returns once `place` is first in its line; throws lock_timeout past the deadline. A slice of
   * the lease behind the same holder, and the datastore is asked whether it still holds the record
   * (it may have stopped without a word, or lost its lease to another process).
   */
  private async awaitTurn(ref: RecordRef, place: Place, deadline: number): Promise<void> {
    const slice = this.options.leaseMs / 3;
    while (!(await place.first(Math.min(slice, deadline - Date.now())))) {
      const holder = this.holders.get(place.key);
      if (Date.now() >= deadline) throw lockTimeout(ref.model, ref.id, holder?.token ?? null);
      if (holder === undefined) continue; // an earlier request, itself waiting: bounded by its own deadline
      const [record] = await this.records.read(ref.model, [ref.id]);
      if (record.lock?.token !== holder.token) this.stepOut(place.key, holder.token);
      else await this.settle(record, null);
    }
  }

  /**
   * One round per model: stubs for creates, grants for the rest, for tombstones a create
   * re-creates and for live documents an `anyState` create finds; then stubs for `anyState` ids
   * that have no record at all.
   */
  private async tryAll(refs: readonly RecordRef[], lock: RecordLock): Promise<Map<string, DocRecord>> {
    const seen = new Map<string, DocRecord>();
    const models = [...new Set(refs.map((ref) => ref.model))].sort();
    // The collections side by side: what each grants is judged only once all have answered.
    const answers = await Promise.allSettled(models.map(async (model) => {
      const ofModel = new Map(refs.filter((ref) => ref.model === model).map((ref) => [ref.id, ref]));
      const creates = [...ofModel.values()].filter((ref) => ref.create !== undefined);
      const reserved = creates.length === 0 ? [] : await this.records.reserve(model, creates.map((ref) => ({ id: ref.id, values: ref.create as Values })), lock);
      const regrant = reserved.filter((record) => record.lock === null && (record.state === 'destroyed' || (record.state === 'live' && ofModel.get(record.id)?.anyState === true))).map((record) => record.id);
      const others = [...ofModel.values()].filter((ref) => ref.create === undefined).map((ref) => ref.id);
      const granted = others.length + regrant.length === 0 ? [] : await this.records.grant(model, [...others, ...regrant], lock);
      const absent = granted.filter((record) => record.state === 'absent' && ofModel.get(record.id)?.anyState === true);
      const stubbed = absent.length === 0 ? [] : await this.records.reserve(model, absent.map((record) => ({ id: record.id, values: {} })), lock);
      for (const record of [...reserved, ...granted, ...stubbed]) seen.set(documentKey(record.model, record.id), record);
    }));
    const failed = answers.find((answer) => answer.status === 'rejected');
    if (failed !== undefined) {
      // What the other collections granted is given back now, not left to its lease.
      await this.free([...seen.values()].filter((record) => isMine(record, lock) === true)).catch(() => undefined);
      throw (failed as PromiseRejectedResult).reason;
    }
    return seen;
  }

  /**
   * R4 for a caller answered with a committed log it did not run (a keyed replay): what the log's
   * owner has not applied yet is applied now, so that the caller's next plain read sees every
   * write the transaction committed — as the owner's own caller does. Racing the owner's apply is
   * harmless: both name the version the log recorded, one lands.
   */
  async applyCommitted(log: LogDocument): Promise<void> {
    const now = this.clock.now() - this.options.clockSkewMs;
    const read = await Promise.all([...idsByModel(log.steps)].map(([model, ids]) => this.records.read(model, [...ids])));
    const writes = read.flat().flatMap((record) => {
      if (record.lock === null || parseToken(record.lock.token).txId !== log.id) return [];
      const judged = holding(record, log, now);
      return judged.kind === 'unapplied' ? [guarded(record, { kind: 'apply', after: judged.after })] : [];
    });
    if (writes.length > 0) await this.write(writes);
  }

  /**
   * R5 on a record held by another: true when it was moved — applied for its committed holder, or
   * taken over for `taker` (freed, when null: recovery) — false when its holder may still commit.
   */
  async settle(record: DocRecord, taker: RecordLock | null): Promise<boolean> {
    if (record.lock === null) return true; // a reserved stub freed meanwhile, or a create's id: try again
    const { txId } = parseToken(record.lock.token);
    const now = this.clock.now() - this.options.clockSkewMs;
    let log = await this.logs.getLog(txId);
    let judged = holding(record, log, now);
    if (judged.kind === 'orphaned') {
      const stone = tombstone(txId, ownerToken(this.options.instanceId), 'orphan_locks', 'its lock lease ended before it committed: recovery declared it dead (nothing was written)', this.clock.now());
      if (!(await this.logs.insertLog(stone))) log = await this.logs.getLog(txId);
      else log = stone;
      judged = holding(record, log, now);
    }
    if (judged.kind === 'expired' && log !== null) {
      await rollBackPending(this.logs, log, this.clock.now());
      return true; // read again: its lock is free now, or its owner moved first
    }
    if (judged.kind === 'unapplied') {
      await this.write([guarded(record, { kind: 'apply', after: judged.after })]);
      return true;
    }
    if (judged.kind === 'free') {
      // Its version moves, so whatever the old holder still sends lands nowhere. A stub is freed
      // (a tombstone), never taken: its claim of unique values was its holder's, and a create of
      // the id takes the tombstone back with its own (R6, R9).
      const free = taker === null || record.state === 'reserved';
      await this.write([guarded(record, free ? { kind: 'free' } : { kind: 'take', lock: taker })]);
      return true;
    }
    return false;
  }
}

/**
 * Whether the caller holds a record (true), needs no lock on it (null: decided now — a create of
 * a live document is already_exists, a write of a missing one not_found), or must try again (false).
 */
function isMine(record: DocRecord, lock: RecordLock, ref?: RecordRef): boolean | null {
  if (record.lock?.token === lock.token) return true;
  if (record.lock !== null || ref === undefined || ref.anyState === true) return false;
  if (ref.create !== undefined) return record.state === 'live' ? null : false;
  return record.state === 'absent' || record.state === 'destroyed' ? null : false;
}

function lockTimeout(model: string, id: string, token: string | null): TransactError {
  const holder = token === null ? 'another transaction' : `transaction ${parseToken(token).txId}`;
  return new TransactError('lock_timeout', `${model} ${id} is held by ${holder}`, { details: { model, id } });
}

export function guarded(record: DocRecord, transition: GuardedWrite['transition']): GuardedWrite {
  if (record.lock === null) throw new Error(`${record.model} ${record.id} is not held`);
  return { model: record.model, id: record.id, token: record.lock.token, version: record.version, transition };
}
