/**
 * R7's one write: a pending log whose owner stopped is rolled back by a compare-and-set that moves
 * its epoch, so its owner's commit compare-and-set, if it ever arrives, is refused. Nothing was
 * written before the commit point, so there is nothing to undo.
 */
import type { AtomicStore } from '../../store';
import type { LogDocument } from '../../core/types';

export function rollBackPending(logs: Pick<AtomicStore, 'updateLog'>, log: LogDocument, now: number): Promise<boolean> {
  return logs.updateLog(log.id, { states: ['pending'], owner: log.owner, epoch: log.epoch, leaseUntil: log.leaseUntil }, {
    state: 'rolled-back',
    epoch: log.epoch + 1,
    endedAt: now,
    recoveries: log.recoveries + 1,
    ...(log.error === null ? { error: { code: 'owner_died', message: 'the process running it stopped or stalled before it committed; recovery rolled it back (nothing was written)' } } : {}),
  });
}
