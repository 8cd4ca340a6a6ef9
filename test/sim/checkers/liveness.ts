/**
 * liveness: every workload call whose process stayed alive ends — with a result or a typed error
 * (a TransactError) — within a bound of virtual time (plus the time its process spent paused),
 * and a call's store requests per virtual second stay bounded (a waiter backs off, never spins).
 */
import { EPOCH_MS } from '../runtime';
import { Checker, type RunEnd } from './checker';

/** Longest a call may take, in virtual ms, beyond the time its process was paused. */
export const CALL_BOUND_MS = 30_000;
/** Most store requests one call may make in one virtual second. */
export const CALLS_PER_SECOND = 200;

export class Liveness extends Checker {
  readonly name = 'liveness';

  override finish(end: RunEnd): void {
    for (const record of end.workload.records) {
      const what = `op ${record.id} ${record.plan.kind}${record.plan.key === undefined ? '' : ` key=${record.plan.key}`} (${record.process.label})`;
      const refs = [record.plan.key ?? '', ...(record.plan.from === undefined ? [] : [`account:${record.plan.from}`, `account:${record.plan.to as string}`])];
      const allowed = CALL_BOUND_MS + (end.pausedMs.get(record.process.label) ?? 0);
      if (record.outcome === null) {
        if (record.process.alive) this.report(`${what} never ended (started at ${((record.startedAt - EPOCH_MS) / 1000).toFixed(3)}s virtual)`, refs);
      } else if ((record.endedAt as number) - record.startedAt > allowed) {
        this.report(`${what} took ${(record.endedAt as number) - record.startedAt} ms of virtual time (bound ${allowed})`, refs);
      }
      if (record.outcome?.ok === false && !record.outcome.typed) this.report(`${what} ended with an untyped error ${record.outcome.code}: ${record.outcome.message.slice(0, 160)}`, refs);
      const busiest = Math.max(0, ...(end.world.network.callsByOp.get(record.id)?.values() ?? []));
      if (busiest > CALLS_PER_SECOND) this.report(`${what} made ${busiest} store requests in one virtual second (bound ${CALLS_PER_SECOND}): it spins`, refs);
    }
  }
}
