/**
 * The AtomicStore on sails-disk: NeDB in this process, every compare-and-set a read-check-write
 * under the store's mutex (mutex.ts), the log and locks read and written directly (nedb.ts).
 */
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rawDestroy } from '../../models/destroy-guard';
import { documentKey } from '../../core/operations';
import type { Fence, LockDocument, LogDocument, LogGuard, LogPatch, TxState } from '../../core/types';
import { isUniqueViolation, type WaterlineModel } from '../../core/waterline';
import type { Where } from '../../query/criteria';
import { documentValues, lineTotals, mergeCandidates, type SumCandidates, type SumCandidatesRequest } from '../../query/sums';
import { heldCount } from '../../query/view';
import { DiskMutex } from './mutex';
import { isNedbUniqueViolation, nedbCall, nedbTable, toNedbDocument, writableDirectly } from './nedb';
import { type AtomicStore, type FencedWrite, fencedOut, matchesGuard, type StoreView, toLockDocument, toLogDocument, type ViewRequest, waterlineSum } from '../contract';
import { applyAction, type ModelResolver } from '../waterline-writes';

/**
 * sails-disk (NeDB) lives inside one process, so a mutex around read-check-write is a correct
 * compare-and-set here, and nowhere else: this store must never be shared by two processes.
 */
export class DiskStore implements AtomicStore {
  readonly kind = 'disk' as const;
  readonly fenceField = null;
  readonly multiProcess = false;
  private readonly mutex = new DiskMutex();

  constructor(private readonly logModel: WaterlineModel, private readonly lockModel: WaterlineModel, private readonly modelOf: ModelResolver) {}

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    return this.mutex.exclusive(work);
  }

  adopt(): void {}

  async setup(): Promise<void> {}

  /** NeDB's unique primary key decides between two inserts of one id: no read first, no mutex (a commit point of v3 waits for no other). */
  async insertLog(doc: LogDocument): Promise<boolean> {
    try {
      const values: Record<string, unknown> = { ...doc };
      if (writableDirectly(this.logModel, values)) await nedbCall((cb) => nedbTable(this.logModel).insert([toNedbDocument(this.logModel, doc.id, values)], cb));
      else await this.logModel.create(values);
      return true;
    } catch (err) {
      if (isUniqueViolation(err) || isNedbUniqueViolation(err)) return false;
      throw err;
    }
  }

  async getLog(id: string): Promise<LogDocument | null> {
    const row = await this.logModel.findOne({ id });
    return row === undefined ? null : toLogDocument(row);
  }

  updateLog(id: string, guard: LogGuard, patch: LogPatch): Promise<boolean> {
    return this.exclusive(async () => {
      const row = await this.logModel.findOne({ id });
      if (row === undefined || !matchesGuard(toLogDocument(row), guard)) return false;
      await this.logModel.update({ id }).set({ ...patch });
      return true;
    });
  }

  async findExpiredLogs(states: readonly TxState[], leaseBefore: number, limit: number): Promise<LogDocument[]> {
    const rows = await this.logModel.find({ where: { state: { in: [...states] }, leaseUntil: { '<': leaseBefore } }, sort: 'leaseUntil ASC', limit });
    return rows.map(toLogDocument);
  }

  /** sails-disk cannot query inside arrays: it scans committed logs (fine for development data). */
  async findCommittedTouching(key: string): Promise<LogDocument[]> {
    const rows = await this.logModel.find({ where: { state: 'committed' }, sort: 'endedAt ASC' });
    return rows.map(toLogDocument).filter((log) => log.documents.includes(key));
  }

  insertLocks(locks: readonly LockDocument[]): Promise<Set<string>> {
    return this.exclusive(async () => {
      if (locks.length === 0) return new Set<string>();
      const taken = new Set((await this.lockModel.find({ id: { in: locks.map((l) => l.id) } })).map((row) => String(row.id)));
      const free = locks.filter((lock) => !taken.has(lock.id));
      if (free.length > 0) await this.lockModel.createEach(free.map((lock) => ({ ...lock, grant: lock.grant ?? null })));
      return new Set(free.map((lock) => lock.id));
    });
  }

  async findLocks(ids: readonly string[]): Promise<LockDocument[]> {
    return (await this.lockModel.find({ id: { in: [...ids] } })).map(toLockDocument);
  }

  renewLocks(owner: string, epoch: number, leaseUntil: number): Promise<void> {
    return this.exclusive(async () => {
      await this.lockModel.update({ owner, epoch: { '<=': epoch } }).set({ leaseUntil });
    });
  }

  async findExpiredLocks(leaseBefore: number, limit: number, skipPrefix?: string): Promise<LockDocument[]> {
    // NeDB has no prefix match: filter here (sails-disk holds development-sized data).
    const rows = (await this.lockModel.find({ where: { leaseUntil: { '<': leaseBefore } }, sort: 'leaseUntil ASC' })).map(toLockDocument);
    return rows.filter((lock) => skipPrefix === undefined || !lock.id.startsWith(skipPrefix)).slice(0, limit);
  }

  deleteLocks(owner: string, epoch: number, ids?: readonly string[], grant?: string): Promise<void> {
    return this.exclusive(async () => {
      await rawDestroy(this.lockModel)({ owner, epoch: { '<=': epoch }, ...(ids === undefined ? {} : { id: { in: [...ids] } }), ...(grant === undefined ? {} : { grant }) });
    });
  }

  async serverTime(): Promise<number> {
    return Date.now(); // one process: its clock is the only one
  }

  fenceLocks(txId: string, epoch: number): Promise<void> {
    return this.exclusive(async () => {
      await this.lockModel.update({ owner: txId, epoch: { '<': epoch } }).set({ epoch });
    });
  }

  /** The lock check and the writes run under the same mutex as fenceLocks: nothing comes between. */
  writeDocuments(writes: readonly FencedWrite[], fence: Fence): Promise<void> {
    return this.exclusive(async () => {
      const keys = [...new Set(writes.map(({ action }) => documentKey(action.model, action.id)))];
      const held = (await this.lockModel.find({ id: { in: keys } })).map(toLockDocument).filter((lock) => lock.owner === fence.txId && lock.epoch === fence.epoch);
      if (held.length !== keys.length) throw fencedOut(fence, `${keys.length - held.length} of its locks moved on`);
      const log = await this.logModel.findOne({ id: fence.txId });
      if (log !== undefined && Number(log.epoch) !== fence.epoch) throw fencedOut(fence, `its log is at epoch ${String(log.epoch)}`);
      for (const { action } of writes) await applyAction(this.modelOf(action.model), action);
    });
  }

  findLateInserts(): Promise<Set<string>> {
    return Promise.resolve(new Set()); // the lock is checked with every insert: none lands late
  }

  /**
   * Under the mutex that every document write, lock change and log compare-and-set takes: nothing
   * changes while the rows, the locks and their owners' logs are read, so they are one instant.
   */
  readView(requests: readonly ViewRequest[]): Promise<StoreView> {
    return this.exclusive(async () => {
      const prefixes = new Set(requests.map((request) => `${request.model}:`));
      // The lock table holds only what is locked right now: scanning it is cheap.
      const locks = (await this.lockModel.find({})).map(toLockDocument).filter((lock) => prefixes.has(lock.id.slice(0, lock.id.indexOf(':') + 1)));
      const owners = [...new Set(locks.map((lock) => lock.owner))];
      const logs = new Map((owners.length === 0 ? [] : await this.logModel.find({ id: { in: owners } })).map((row) => [String(row.id), toLogDocument(row)]));
      const rows: StoreView['rows'] = [];
      for (const request of requests) {
        const extra = request.limit === undefined ? undefined : request.limit + heldCount(logs.values(), request.model);
        rows.push(await this.modelOf(request.model).find({ where: request.where, sort: request.sort, ...(extra === undefined ? {} : { limit: extra }) }));
      }
      return { rows, writers: new Map(locks.map((lock) => [lock.id, lock.owner])), logs };
    });
  }

  /** Streams both sides through Waterline in key order (sails-disk keeps them in memory anyway: no copy is made). */
  async sumCandidates(request: SumCandidatesRequest): Promise<SumCandidates> {
    return mergeCandidates(
      documentValues(this.modelOf(request.model), request.field, request.after),
      lineTotals(this.modelOf(request.lines.model), request.lines, request.after),
      request.limit,
    );
  }

  sum(model: string, field: string, where: Where): Promise<number> {
    return waterlineSum(this.modelOf(model), field, where);
  }
}

/**
 * Records this process as the user of a sails-disk directory, and returns the pid of another
 * live process that recorded itself there first, if any: two processes on one sails-disk
 * directory overwrite each other's data and break the mutex this store relies on.
 */
export function claimDiskDirectory(dir: string): number | null {
  const file = join(dir, 'transact.pid');
  let other: number | null = null;
  try {
    const pid = Number(readFileSync(file, 'utf8'));
    if (Number.isInteger(pid) && pid !== process.pid && isAlive(pid)) other = pid;
  } catch {
    // no file yet
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, String(process.pid));
  return other;
}

/** Gives the directory up on lower: a process that lowered its app no longer writes there. */
export function releaseDiskDirectory(dir: string): void {
  const file = join(dir, 'transact.pid');
  try {
    if (Number(readFileSync(file, 'utf8')) === process.pid) unlinkSync(file);
  } catch {
    // gone already, or never claimed
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}
