/**
 * quiescence: once faults are off and every instance is up, recovery passes settle everything
 * within a bound — every transaction committed or rolled back, no lock left.
 */
import { LOCK_IDENTITY, LOG_IDENTITY } from '../../../lib/models/hook-models';
import { Checker, type RunEnd } from './checker';

export class Quiescence extends Checker {
  readonly name = 'quiescence';

  override finish(end: RunEnd): void {
    for (const [id, log] of this.world.db.table(LOG_IDENTITY)) {
      if (log.state === 'pending' || log.state === 'rolling-back') {
        this.report(`transaction ${id} is still ${String(log.state)} (epoch ${String(log.epoch)}, ${String(log.recoveries)} recoveries) after recovery quiesced${end.quiesced ? '' : ' (it never did)'}`, [id, ...((log.documents as string[] | undefined) ?? [])]);
      }
    }
    for (const [id, lock] of this.world.db.table(LOCK_IDENTITY)) {
      this.report(`lock ${id} of ${String(lock.owner)} (epoch ${String(lock.epoch)}) is left after recovery quiesced`, [id, String(lock.owner)]);
    }
  }
}
