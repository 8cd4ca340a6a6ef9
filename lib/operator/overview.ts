/**
 * The ops page's strip of counts, each one indexed query (no collection is ever read whole): how
 * many transactions are in flight, stuck, waiting for an operator, and how many ended lately.
 */
import type { Engine } from '../engine';
import { ACTIVE_STATES, type LogDocument } from '../core/types';

export interface StateCounts {
  pending: number;
  rollingBack: number;
  /** Pending or rolling back past their lease (and the clock-skew allowance): recovery's to take. */
  stuck: number;
  /** Active logs recovery marked for an operator; `capped` when more active logs exist than were read. */
  attention: { count: number; capped: boolean };
  /** By start time (the `state, startedAt` index): a transaction lasts ms to seconds, so "started in the last hour" is "ended in it" to within its duration. */
  committed: { hour: number; day: number };
  rolledBack: { hour: number; day: number };
  /** The datastore's time the counts were taken at. */
  at: number;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** Active logs read at most to count those needing attention (in-flight transactions are few; `attention` is JSON, which the adapters do not compare with null alike). */
export const ATTENTION_SCAN = 2_000;
const ATTENTION_PAGE = 500;

type Needs = Pick<Engine, 'findLogs' | 'countLogs' | 'options' | 'clock'>;

/** Active logs with `attention` set, read a page at a time over the `state` index, at most ATTENTION_SCAN of them. */
async function countAttention(engine: Needs): Promise<{ count: number; capped: boolean }> {
  let count = 0;
  for (let skip = 0; skip < ATTENTION_SCAN; skip += ATTENTION_PAGE) {
    const logs: LogDocument[] = await engine.findLogs({ where: { state: [...ACTIVE_STATES] }, sort: [{ startedAt: 'ASC' }, { id: 'ASC' }], skip, limit: ATTENTION_PAGE });
    count += logs.filter((log) => log.attention !== null).length;
    if (logs.length < ATTENTION_PAGE) return { count, capped: false };
  }
  return { count, capped: true };
}

/** Logs of `state` started at or after `since`: an index range on (state, startedAt). */
function endedSince(engine: Needs, state: 'committed' | 'rolled-back', since: number): Promise<number> {
  return engine.countLogs({ state, startedAt: { '>=': since } });
}

/** Every count of the strip, run side by side. */
export async function stateCounts(engine: Needs): Promise<StateCounts> {
  const now = engine.clock.now();
  const [pending, rollingBack, stuck, attention, committedHour, committedDay, rolledBackHour, rolledBackDay] = await Promise.all([
    engine.countLogs({ state: 'pending' }),
    engine.countLogs({ state: 'rolling-back' }),
    engine.countLogs({ state: [...ACTIVE_STATES], leaseUntil: { '<': now - engine.options.clockSkewMs } }),
    countAttention(engine),
    endedSince(engine, 'committed', now - HOUR_MS),
    endedSince(engine, 'committed', now - DAY_MS),
    endedSince(engine, 'rolled-back', now - HOUR_MS),
    endedSince(engine, 'rolled-back', now - DAY_MS),
  ]);
  return { pending, rollingBack, stuck, attention, committed: { hour: committedHour, day: committedDay }, rolledBack: { hour: rolledBackHour, day: rolledBackDay }, at: now };
}
