/**
 * fence-ownership: every document write the database accepts carries the fence that owns that
 * document at that instant — the lock record `model:id` exists, its owner is the writer's
 * transaction and its epoch the writer's epoch (on MongoDB the writer's fence is read from the
 * `_transactFence` it sets) — and a document has at most one owner: no transaction writes a
 * document whose previous writer is still unfinished (pending or rolling back).
 */
import { LOCK_IDENTITY, LOG_IDENTITY } from '../../../lib/models';
import { documentKey } from '../../../lib/operations';
import type { DbEvent } from '../database';
import { Checker } from './checker';

export class FenceOwnership extends Checker {
  readonly name = 'fence-ownership';
  private readonly lastWriter = new Map<string, string>();

  override observe(event: DbEvent): void {
    if (event.kind !== 'document') return;
    const key = documentKey(event.table, event.id);
    const lock = this.world.db.table(LOCK_IDENTITY).get(key);
    const writer = `${event.txId}.${event.epoch}`;
    if (lock === undefined) {
      this.report(`${event.action} of ${key} by ${writer} landed while nobody held its lock`, [key, event.txId]);
    } else if (lock.owner !== event.txId || Number(lock.epoch) !== event.epoch) {
      this.report(`${event.action} of ${key} by ${writer} landed while ${String(lock.owner)}.${String(lock.epoch)} held its lock`, [key, event.txId, String(lock.owner)]);
    }
    const previous = this.lastWriter.get(key);
    if (previous !== undefined && previous !== event.txId) {
      const state = this.world.db.table(LOG_IDENTITY).get(previous)?.state;
      if (state === 'pending' || state === 'rolling-back') {
        this.report(`${key} has two owners: ${writer} wrote it while its previous writer ${previous} is still ${String(state)}`, [key, event.txId, previous]);
      }
    }
    this.lastWriter.set(key, event.txId);
  }
}
