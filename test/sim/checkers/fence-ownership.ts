/**
 * fence-ownership: every document write the database accepts carries the fence that owns that
 * document at that instant, and a document has at most one owner.
 *
 * Owning a document at a write means: the lock record `model:id` exists and names the writer's
 * transaction. Where the store keeps fences in the lock records (SimulatedStore, sails-disk,
 * PostgreSQL) its epoch is the writer's epoch, exactly. Where documents carry their fences
 * (MongoDB: the writer's fence is read from the `_transactFence` it sets) a takeover fences each
 * document only as it writes it, so the older owner's write may land between the locks' move to
 * the new epoch and the takeover's own write of that document (which then overwrites it): there
 * the lock's epoch is at least the writer's, and no write of an older epoch lands on a document
 * after a newer epoch of the same transaction wrote it.
 *
 * At most one owner: no transaction writes a document whose previous writer is still unfinished
 * (pending or rolling back) with a step on that document.
 *
 * One write is the contract's stated limit, not a violation: on MongoDB an insert of an absent
 * document has no fence to check (atomic per document only), so a late one lands without the
 * lock, or after a takeover fenced the lock past the insert's epoch (issue 20 finding 6). It is counted (`lateInserts`), and the end-state and committed-read
 * checkers judge it by the rule the hook promises: committed reads leave it out. A late remove
 * that takes such a row away again (its filter accepts the late row's fence) is no violation either.
 */
import { LOCK_IDENTITY, LOG_IDENTITY } from '../../../lib/models/hook-models';
import { documentKey } from '../../../lib/core/operations';
import { onMongo } from '../cluster';
import type { DbEvent } from '../database';
import { Checker } from './checker';

export class FenceOwnership extends Checker {
  readonly name = 'fence-ownership';
  private readonly lastWriter = new Map<string, { txId: string; epoch: number }>();
  /** Inserts on MongoDB that landed after their document's lock moved on (see above). */
  lateInserts = 0;
  /** `model:id` → the fence of the late insert standing there now. */
  private readonly lateRows = new Map<string, string>();

  override observe(event: DbEvent): void {
    if (event.kind !== 'document') return;
    const key = documentKey(event.table, event.id);
    const lock = this.world.db.table(LOCK_IDENTITY).get(key);
    const writer = `${event.txId}.${event.epoch}`;
    const fencesInDocuments = onMongo(this.world.flavour);
    const owned = lock !== undefined && lock.owner === event.txId && Number(lock.epoch) <= event.epoch;
    if (fencesInDocuments && event.action === 'insert' && !owned) {
      this.lateInserts++;
      this.lateRows.set(key, writer);
      return;
    }
    if (fencesInDocuments && event.action === 'remove' && !owned && event.removedFence !== undefined && this.lateRows.get(key) === event.removedFence) {
      // A late remove of the transaction's own (its fence accepts the row) that takes such a row
      // away again: what the committed state says of it, not a second owner.
      this.lateRows.delete(key);
      return;
    }
    this.lateRows.delete(key);
    if (lock === undefined) {
      this.report(`${event.action} of ${key} by ${writer} landed while nobody held its lock`, [key, event.txId]);
    } else if (lock.owner !== event.txId || (fencesInDocuments ? Number(lock.epoch) < event.epoch : Number(lock.epoch) !== event.epoch)) {
      this.report(`${event.action} of ${key} by ${writer} landed while ${String(lock.owner)}.${String(lock.epoch)} held its lock`, [key, event.txId, String(lock.owner)]);
    }
    const previous = this.lastWriter.get(key);
    if (previous !== undefined && previous.txId !== event.txId) {
      // It still owns the document while it is unfinished with a step on it (a reopened keyed attempt starts without).
      const log = this.world.db.table(LOG_IDENTITY).get(previous.txId);
      const state = log?.state;
      if ((state === 'pending' || state === 'rolling-back') && ((log?.documents as string[] | undefined) ?? []).includes(key)) {
        this.report(`${key} has two owners: ${writer} wrote it while its previous writer ${previous.txId} is still ${String(state)}`, [key, event.txId, previous.txId]);
      }
    } else if (previous !== undefined && event.epoch < previous.epoch) {
      this.report(`${event.action} of ${key} by ${writer} landed after epoch ${previous.epoch} of the same transaction wrote it (a stale write)`, [key, event.txId]);
    }
    this.lastWriter.set(key, { txId: event.txId, epoch: event.epoch });
  }
}
