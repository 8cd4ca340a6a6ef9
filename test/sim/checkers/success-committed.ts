/**
 * success-committed: a call told success is committed — a batch's or interactive transaction's
 * log is `committed` (a batch's with the very steps it answered), a reversal's log too.
 */
import { jsonEqual } from '../../../lib/core/json';
import { LOG_IDENTITY } from '../../../lib/models/hook-models';
import { Checker, type RunEnd } from './checker';
import { txIdOf } from './one-key-one-outcome';

export class SuccessCommitted extends Checker {
  readonly name = 'success-committed';

  override finish(end: RunEnd): void {
    for (const record of end.workload.records) {
      if (record.outcome?.ok !== true || record.outcome.value === null) continue;
      const kind = record.plan.kind;
      if (kind !== 'batch' && kind !== 'interactive' && kind !== 'reverse') continue;
      const txId = txIdOf(record);
      const log = txId === null ? undefined : this.world.db.table(LOG_IDENTITY).get(txId);
      const value = record.outcome.value as { steps?: unknown };
      const ok = log !== undefined && log.state === 'committed' && (kind !== 'batch' || jsonEqual(log.steps, value.steps));
      if (!ok) this.report(`op ${record.id} ${kind} (${record.process.label}) was told success, but its transaction ${String(txId)} is ${String(log?.state ?? 'absent')}${log === undefined || kind !== 'batch' ? '' : ' with other steps'}`, [txId ?? '', record.plan.key ?? '']);
    }
  }
}
