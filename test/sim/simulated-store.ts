/**
 * A generic AtomicStore over the simulated database, with the semantics of today's real stores
 * (lib/store/disk/store.ts is the closest: the same checks, but each method is ONE operation applied
 * in one synchronous step when the transport delivers it, instead of a mutex). Fences live in the
 * lock records, as on sails-disk and sails-postgresql: a document write is accepted only while
 * every lock of its documents names the writer's transaction at the writer's epoch, checked in
 * the same step as the write. Faults are injected at this boundary by the transport.
 *
 * kind is 'postgresql' and multiProcess true: the engine then treats it as a datastore shared by
 * several processes (recovery waits for leases of other instances) and committed reads order
 * nulls last, as this store's models do. Lock releases and renewals touch only the owner's
 * locks at the caller's epoch or below (a release with a grant, only that grant's), as every
 * real store does (AtomicStore.deleteLocks).
 */
import { LOCK_IDENTITY, LOG_IDENTITY } from '../../lib/models/hook-models';
import { TransactError } from '../../lib/core/errors';
import { jsonEqual } from '../../lib/core/json';
import { uniqueKeys } from '../../lib/core/model-info';
import { type Action, documentKey } from '../../lib/core/operations';
import type { Where } from '../../lib/query/criteria';
import { documentValues, lineTotals, mergeCandidates, type SumCandidates, type SumCandidatesRequest } from '../../lib/query/sums';
import { heldCount } from '../../lib/query/view';
import { type AtomicStore, type FencedWrite, fencedOut, matchesGuard, type StoreView, toLockDocument, toLogDocument, type ViewRequest } from '../../lib/store/contract';
import type { Fence, LockDocument, LogDocument, LogGuard, LogPatch, TxState } from '../../lib/core/types';
import { copy, directTransport, type Doc, SimDatabase, type Transport } from './database';
import { SimModel, type SimModelDefinition, type StorageLayout } from './waterline-models';

/** How the generic store's models keep their records: `id` as the key, no fence in documents. */
export const SIMULATED_STORE_LAYOUT: StorageLayout = { pkColumn: 'id', fenceField: null, hiddenField: null, nulls: 'last', adapter: 'sails-transact-sim' };

export class SimulatedStore implements AtomicStore {
  readonly kind = 'postgresql' as const;
  readonly multiProcess = true;
  readonly fenceField = null;

  /**
   * @param db the shared database (every instance's store object is over the same one)
   * @param modelOf the app's models over `db` (their tables are the documents writeDocuments writes)
   * @param transport how each operation reaches `db` (directTransport: at once; the simulation's network: with seeded fates)
   * @param serverNow the database server's clock (the simulation's true time; Date.now by default)
   */
  constructor(
    private readonly db: SimDatabase,
    private readonly modelOf: (identity: string) => SimModel,
    private readonly transport: Transport = directTransport,
    private readonly serverNow: () => number = () => Date.now(),
  ) {}

  private get logs(): Map<string, Doc> {
    return this.db.table(LOG_IDENTITY);
  }

  private get locks(): Map<string, Doc> {
    return this.db.table(LOCK_IDENTITY);
  }

  adopt(): void {}

  async setup(): Promise<void> {}

  insertLog(doc: LogDocument): Promise<boolean> {
    return this.transport.call(`insertLog(${doc.id} ${doc.state} e${doc.epoch})`, [doc.id], () => {
      if (this.logs.has(doc.id)) return false;
      const stored = copy(doc) as unknown as Doc;
      this.logs.set(doc.id, stored);
      this.db.emit({ kind: 'log', id: doc.id, before: null, after: copy(stored) });
      return true;
    });
  }

  getLog(id: string): Promise<LogDocument | null> {
    return this.transport.call(`getLog(${id})`, [id], () => {
      const row = this.logs.get(id);
      return row === undefined ? null : toLogDocument(copy(row));
    });
  }

  updateLog(id: string, guard: LogGuard, patch: LogPatch): Promise<boolean> {
    return this.transport.call(`updateLog(${id} ${patch.state ?? ''}${patch.epoch === undefined ? '' : ` e${patch.epoch}`})`, [id], () => {
      const row = this.logs.get(id);
      if (row === undefined || !matchesGuard(toLogDocument(row), guard)) return false;
      const after = { ...row, ...copy(patch) } as Doc;
      this.logs.set(id, after);
      this.db.emit({ kind: 'log', id, before: copy(row), after: copy(after) });
      return true;
    });
  }

  findExpiredLogs(states: readonly TxState[], leaseBefore: number, limit: number): Promise<LogDocument[]> {
    // Judged on the stored rows, only the answer copied: every recovery pass asks, and most logs are long finished.
    return this.transport.call('findExpiredLogs', [], () =>
      [...this.logs.values()]
        .map((row) => ({ row, log: toLogDocument(row) }))
        .filter(({ log }) => states.includes(log.state) && log.leaseUntil < leaseBefore)
        .sort((a, b) => a.log.leaseUntil - b.log.leaseUntil)
        .slice(0, limit)
        .map(({ row }) => toLogDocument(copy(row))),
    );
  }

  findCommittedTouching(key: string): Promise<LogDocument[]> {
    return this.transport.call(`findCommittedTouching(${key})`, [key], () =>
      [...this.logs.values()]
        .map((row) => toLogDocument(copy(row)))
        .filter((log) => log.state === 'committed' && log.documents.includes(key))
        .sort((a, b) => (a.endedAt ?? 0) - (b.endedAt ?? 0)),
    );
  }

  insertLocks(locks: readonly LockDocument[]): Promise<Set<string>> {
    return this.transport.call(`insertLocks(${locks.map((l) => l.id).join(',')} by ${locks[0]?.owner ?? ''} e${locks[0]?.epoch ?? ''})`, [...locks.map((l) => l.id), locks[0]?.owner ?? ''], () => {
      const got = new Set<string>();
      const inserted: Doc[] = [];
      for (const lock of locks) {
        if (this.locks.has(lock.id)) continue;
        const stored = copy(lock) as unknown as Doc;
        this.locks.set(lock.id, stored);
        inserted.push(copy(stored));
        got.add(lock.id);
      }
      if (inserted.length > 0) this.db.emit({ kind: 'locks', inserted, deleted: [] });
      return got;
    });
  }

  findLocks(ids: readonly string[]): Promise<LockDocument[]> {
    return this.transport.call(`findLocks(${ids.join(',')})`, ids, () => ids.flatMap((id) => {
      const row = this.locks.get(id);
      return row === undefined ? [] : [toLockDocument(copy(row))];
    }));
  }

  renewLocks(owner: string, epoch: number, leaseUntil: number): Promise<void> {
    return this.transport.call(`renewLocks(${owner} e${epoch})`, [owner], () => {
      for (const [id, row] of this.locks) if (row.owner === owner && Number(row.epoch) <= epoch) this.locks.set(id, { ...row, leaseUntil });
    });
  }

  findExpiredLocks(leaseBefore: number, limit: number, skipPrefix?: string): Promise<LockDocument[]> {
    return this.transport.call('findExpiredLocks', [], () =>
      [...this.locks.values()]
        .map((row) => toLockDocument(copy(row)))
        .filter((lock) => lock.leaseUntil < leaseBefore && (skipPrefix === undefined || !lock.id.startsWith(skipPrefix)))
        .sort((a, b) => a.leaseUntil - b.leaseUntil)
        .slice(0, limit),
    );
  }

  deleteLocks(owner: string, epoch: number, ids?: readonly string[], grant?: string): Promise<void> {
    return this.transport.call(`deleteLocks(${owner} e${epoch}${ids === undefined ? '' : ` ${ids.join(',')}`}${grant === undefined ? '' : ` grant ${grant}`})`, [owner, ...(ids ?? [])], () => {
      const deleted: Doc[] = [];
      for (const [id, row] of [...this.locks]) {
        if (row.owner !== owner || Number(row.epoch) > epoch || (ids !== undefined && !ids.includes(id)) || (grant !== undefined && row.grant !== grant)) continue;
        this.locks.delete(id);
        deleted.push(copy(row));
      }
      if (deleted.length > 0) this.db.emit({ kind: 'locks', inserted: [], deleted });
    });
  }

  serverTime(): Promise<number> {
    return this.transport.call('serverTime', [], () => this.serverNow());
  }

  fenceLocks(txId: string, epoch: number): Promise<void> {
    return this.transport.call(`fenceLocks(${txId} e${epoch})`, [txId], () => {
      for (const [id, row] of this.locks) if (row.owner === txId && Number(row.epoch) < epoch) this.locks.set(id, { ...row, epoch });
    });
  }

  /** The lock check and every write, in one step: nothing lands between them. */
  writeDocuments(writes: readonly FencedWrite[], fence: Fence): Promise<void> {
    const keys = [...new Set(writes.map(({ action }) => documentKey(action.model, action.id)))];
    return this.transport.call(`writeDocuments(${writes.map(({ action }) => `${action.type} ${action.model}:${action.id}`).join(', ')} at ${fence.txId}.${fence.epoch})`, [...keys, fence.txId], () => {
      const held = keys.filter((key) => {
        const lock = this.locks.get(key);
        return lock !== undefined && lock.owner === fence.txId && Number(lock.epoch) === fence.epoch;
      });
      if (held.length !== keys.length) throw fencedOut(fence, `${keys.length - held.length} of its locks moved on`);
      const log = this.logs.get(fence.txId);
      if (log !== undefined && Number(log.epoch) !== fence.epoch) throw fencedOut(fence, `its log is at epoch ${String(log.epoch)}`);
      for (const { action } of writes) {
        this.apply(action);
        this.db.emit({ kind: 'document', table: this.modelOf(action.model).tableName, id: action.id, action: action.type, txId: fence.txId, epoch: fence.epoch });
      }
    });
  }

  findLateInserts(): Promise<Set<string>> {
    return Promise.resolve(new Set()); // the lock is checked with every insert: none lands late
  }

  /** Rows, locks and their owners' logs, in one step: one instant. */
  readView(requests: readonly ViewRequest[]): Promise<StoreView> {
    return this.transport.call(`readView(${requests.map((r) => r.model).join(',')})`, requests.map((r) => r.model), () => {
      const prefixes = new Set(requests.map((request) => `${request.model}:`));
      const locks = [...this.locks.values()].map((row) => toLockDocument(copy(row))).filter((lock) => prefixes.has(lock.id.slice(0, lock.id.indexOf(':') + 1)));
      const logs = new Map<string, LogDocument>();
      for (const owner of new Set(locks.map((lock) => lock.owner))) {
        const row = this.logs.get(owner);
        if (row !== undefined) logs.set(owner, toLogDocument(copy(row)));
      }
      const rows = requests.map((request) => {
        const extra = request.limit === undefined ? undefined : request.limit + heldCount(logs.values(), request.model);
        return this.modelOf(request.model).selectNow({ where: request.where, sort: request.sort, ...(extra === undefined ? {} : { limit: extra }) }, false);
      });
      return { rows, writers: new Map(locks.map((lock) => [lock.id, lock.owner])), logs };
    });
  }

  async sumCandidates(request: SumCandidatesRequest): Promise<SumCandidates> {
    return mergeCandidates(documentValues(this.modelOf(request.model), request.field, request.after), lineTotals(this.modelOf(request.lines.model), request.lines, request.after), request.limit);
  }

  sum(model: string, field: string, where: Where): Promise<number> {
    return this.transport.call(`sum(${model}.${field})`, [model], () => this.modelOf(model).selectNow({ where }, false).reduce((total, row) => total + Number(row[field] ?? 0), 0));
  }

  /**
   * One document write, idempotent as lib/store/waterline-writes.ts applyAction is (an insert that
   * exists is left alone). The model's unique attributes refuse a duplicate, as the adapter's
   * unique index does, answered as already_exists (applyAction's answer to an insert's E_UNIQUE,
   * and MongoStore's to an insert's or update's duplicate key; applyAction's update still passes
   * Waterline's E_UNIQUE on raw, which this store does not imitate). The writes before it in the
   * same call stay applied, as a sequence of Waterline calls leaves them.
   */
  private apply(action: Action): void {
    const model = this.modelOf(action.model);
    const table = this.db.table(model.tableName);
    const refuseTaken = (row: Doc): void => {
      for (const key of uniqueKeys(model)) {
        if (key.some((field) => row[field] === undefined || row[field] === null)) continue;
        const holder = [...table].find(([id, other]) => id !== action.id && key.every((field) => jsonEqual(other[field], row[field])));
        if (holder !== undefined) throw new TransactError('already_exists', `a ${model.identity} with the same ${key.join(' / ')} exists already (${action.type} ${action.id}; ${holder[0]} holds it)`, { details: { model: model.identity, attributes: [...key] } });
      }
    };
    switch (action.type) {
      case 'insert':
        if (table.has(action.id)) return;
        refuseTaken(action.values);
        table.set(action.id, { id: action.id, ...copy(action.values) });
        return;
      case 'patch': {
        const row = table.get(action.id);
        if (row === undefined || Object.keys(action.values).length === 0) return;
        refuseTaken({ ...row, ...action.values });
        table.set(action.id, { ...row, ...copy(action.values) });
        return;
      }
      case 'remove':
        table.delete(action.id);
        return;
    }
  }
}

/** A simulated store with its database and models, applying every operation at once (no network, no faults). */
export function createSimulatedStore(definitions: readonly SimModelDefinition[], db: SimDatabase = new SimDatabase(), transport: Transport = directTransport): { store: SimulatedStore; db: SimDatabase; modelOf: (identity: string) => SimModel | undefined } {
  const models = new Map(definitions.map((definition) => [definition.identity, new SimModel(definition, db, transport, SIMULATED_STORE_LAYOUT)]));
  const modelOf = (identity: string): SimModel | undefined => models.get(identity);
  const store = new SimulatedStore(db, (identity) => {
    const model = modelOf(identity);
    if (model === undefined) throw new Error(`no simulated model "${identity}"`);
    return model;
  }, transport);
  return { store, db, modelOf };
}
