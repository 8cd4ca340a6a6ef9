/**
 * Transactions an operator should look at, and the one action on them: rolling a stuck one back
 * through recovery with a note of who and why. No HTTP here.
 */
import type { Engine } from '../engine';
import { TransactError } from '../errors';
import type { Attention, LogDocument, TxError, TxState } from '../types';

/** A transaction recovery has not settled: its owner's lease ran out, or recovery failed on it. */
export interface StuckTransaction {
  id: string;
  state: TxState;
  label: string | null;
  startedAt: number;
  /** How long ago it started, by this instance's estimate of the datastore's clock. */
  ageMs: number;
  leaseUntil: number;
  /** How many times recovery has claimed it. */
  recoveries: number;
  /** Why recovery could not settle it (null: its lease ended and no pass has run since). */
  attention: Attention | null;
  error: TxError | null;
  /** One line for a person: why it is listed. */
  reason: string;
}

export interface StuckPage {
  items: StuckTransaction[];
  limit: number;
  skip: number;
}

/** Active logs are few (in-flight transactions): they are read in pages and judged here. */
const SCAN_PAGE = 500;
const MAX_SCAN = 100_000;
const ACTIVE: TxState[] = ['pending', 'rolling-back'];

type Needs = Pick<Engine, 'findLogs' | 'options' | 'clock'>;

/** Whether recovery may take the log over now (its lease is over, with the clock-skew margin), or already failed on it. */
function isStuck(log: LogDocument, now: number, clockSkewMs: number): boolean {
  return log.attention !== null || log.leaseUntil < now - clockSkewMs;
}

function stuckOf(log: LogDocument, now: number): StuckTransaction {
  const reason = log.attention !== null ? `recovery could not settle it: ${log.attention.message}` : log.error !== null ? log.error.message : 'its lease expired before it finished';
  return { id: log.id, state: log.state, label: log.label, startedAt: log.startedAt, ageMs: Math.round(now - log.startedAt), leaseUntil: log.leaseUntil, recoveries: log.recoveries, attention: log.attention, error: log.error, reason };
}

/**
 * Pending or rolling-back transactions past their lease, and those recovery marked for attention,
 * oldest first. Judged here rather than in the datastore: `attention` is a JSON column, which the
 * adapters do not compare with null alike.
 */
export async function stuckTransactions(engine: Needs, page: { limit: number; skip: number }): Promise<StuckPage> {
  // The datastore's clock, as leases are judged (an estimate: fractional ms).
  const now = engine.clock.now();
  const found: StuckTransaction[] = [];
  for (let scanned = 0; found.length < page.skip + page.limit && scanned < MAX_SCAN; scanned += SCAN_PAGE) {
    const logs = await engine.findLogs({ where: { state: ACTIVE }, sort: [{ startedAt: 'ASC' }, { id: 'ASC' }], skip: scanned, limit: SCAN_PAGE });
    for (const log of logs) if (isStuck(log, now, engine.options.clockSkewMs)) found.push(stuckOf(log, now));
    if (logs.length < SCAN_PAGE) break;
  }
  return { items: found.slice(page.skip, page.skip + page.limit), limit: page.limit, skip: page.skip };
}

export interface SettleNote {
  /** Who settles it (a user name). */
  by: string;
  /** Why; kept on the log. */
  reason?: string | null;
}

export interface SettleResult {
  id: string;
  state: 'rolled-back';
  /** What recovery decided ('rollback'; 'lost' if another instance settled it first). */
  outcome: string;
}

/**
 * Rolls a stuck transaction back through recovery (the same claim, fence and compensation as the
 * timer's pass, now instead of at the next pass), then records who and why on its log.
 * `not_found` if there is no such transaction; `not_stuck` if it is settled already or its owner's
 * lease is still live (recovery never takes a live transaction, whoever asks).
 */
export async function settleStuck(engine: Pick<Engine, 'getLog' | 'recovery' | 'recordSettlement'>, txId: string, note: SettleNote): Promise<SettleResult> {
  const log = await engine.getLog(txId);
  if (log === null) throw new TransactError('not_found', `no transaction ${txId}`, { path: 'id' });
  if (!ACTIVE.includes(log.state)) throw new TransactError('not_stuck', `transaction ${txId} is ${log.state}, not stuck`, { details: { state: log.state } });
  const outcome = await engine.recovery.settle(log, false);
  const after = await engine.getLog(txId);
  if (after === null || after.state !== 'rolled-back') {
    throw new TransactError('not_stuck', `recovery did not roll ${txId} back (${String(outcome)}): its owner's lease may still be live, or it is being rolled forward`, { details: { state: after?.state ?? null, outcome } });
  }
  await engine.recordSettlement(txId, { by: note.by, at: Date.now(), reason: note.reason ?? null });
  return { id: txId, state: 'rolled-back', outcome: String(outcome) };
}
