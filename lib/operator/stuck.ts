/**
 * Transactions an operator should look at, and the one action on them: rolling a stuck one back
 * through recovery with a note of who and why. No HTTP here.
 */
import type { Engine } from '../engine';
import { isTransactError, TransactError } from '../core/errors';
import { decideRecovery, type RecoveryDecision } from '../core/state';
import type { Attention, LogDocument, TxError, TxState } from '../core/types';

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
  /** 'committed' for a batch that asked to be rolled forward after a crash (`onCrash: 'rollforward'`): recovery finished it. */
  state: 'rolled-back' | 'committed';
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
  // Rolled forward: there is no rolled-back log to note the settlement on; the commit is recovery's.
  if (outcome === 'rollforward' && after?.state === 'committed') return { id: txId, state: 'committed', outcome };
  if (after === null || after.state !== 'rolled-back') {
    throw new TransactError('not_stuck', `recovery did not roll ${txId} back (${String(outcome)}): its owner's lease may still be live, or it is being rolled forward`, { details: { state: after?.state ?? null, outcome } });
  }
  await engine.recordSettlement(txId, { by: note.by, at: Date.now(), reason: note.reason ?? null });
  return { id: txId, state: 'rolled-back', outcome: String(outcome) };
}

/** What settling would do, in words: what recovery's decision means for the operator. */
export type SettleAction = 'roll back' | 'roll forward' | 'nothing';

/** One transaction of a bulk settle, judged before anything is written (the dry run). */
export interface SettlePreview {
  id: string;
  /** null: no such transaction. */
  state: TxState | null;
  label: string | null;
  action: SettleAction;
  /** recovery's own decision (lib/core/state decideRecovery), or 'missing'. */
  decision: RecoveryDecision | 'missing';
  /** One line for a person: why this action. */
  why: string;
}

/** What `decideRecovery` (the function recovery.settle decides with) means for a settle by hand. */
const ACTIONS: Record<RecoveryDecision, SettleAction> = { rollback: 'roll back', rollforward: 'roll forward', wait: 'nothing', 'release-locks': 'nothing' };

function whyOf(decision: RecoveryDecision, log: LogDocument): string {
  switch (decision) {
    case 'rollback':
      return log.state === 'rolling-back' ? 'its rollback was under way: recovery finishes it' : "its owner's lease ended before it committed: recovery undoes every step";
    case 'rollforward':
      return 'a batch that asked to be finished after a crash (onCrash: rollforward): recovery redoes every step and commits it';
    case 'wait':
      return "its owner's lease is still live: recovery never takes a live transaction";
    case 'release-locks':
      return `it is ${log.state} already: only its locks (if any) remain`;
  }
}

/** The dry run of settling one log, from the same pure decision recovery.settle takes; writes nothing. */
export function previewOf(log: LogDocument, now: number, clockSkewMs: number): SettlePreview {
  const decision = decideRecovery(log, now, clockSkewMs);
  return { id: log.id, state: log.state, label: log.label, action: ACTIONS[decision], decision, why: whyOf(decision, log) };
}

/** A bulk settle: at most this many transactions at once (one page of the stuck list and then some). */
export const MAX_BULK_SETTLE = 100;

function checkBulk(ids: readonly string[]): void {
  if (ids.length === 0) throw new TransactError('validation_failed', 'select at least one transaction', { path: 'ids' });
  if (ids.length > MAX_BULK_SETTLE) throw new TransactError('validation_failed', `at most ${MAX_BULK_SETTLE} transactions at once`, { path: 'ids' });
  if (new Set(ids).size !== ids.length) throw new TransactError('validation_failed', 'a transaction is named twice', { path: 'ids' });
}

/** The dry run of a bulk settle: each transaction read once, judged, nothing written. */
export async function previewSettle(engine: Pick<Engine, 'getLog' | 'options' | 'clock'>, ids: readonly string[]): Promise<SettlePreview[]> {
  checkBulk(ids);
  const now = engine.clock.now();
  // Reads by key, side by side (the datastore's pool bounds how many run at once).
  const logs = await Promise.all(ids.map((id) => engine.getLog(id)));
  return ids.map((id, i): SettlePreview => {
    const log = logs[i];
    return log === null ? { id, state: null, label: null, action: 'nothing', decision: 'missing', why: 'no such transaction' } : previewOf(log, now, engine.options.clockSkewMs);
  });
}

/** What became of one transaction of a bulk settle. */
export interface BulkSettleItem {
  id: string;
  /** What the dry run said at the moment of acting (judged again: it may have moved since the preview). */
  action: SettleAction;
  /** 'settled' (rolled back or forward), 'skipped' (nothing to do), or the engine's refusal code. */
  outcome: 'settled' | 'skipped' | string;
  state: TxState | null;
  message: string;
}

/**
 * Settles each transaction in turn through settleStuck (the single settle's path), judging each
 * again first: one whose decision is now "nothing" is skipped, a refusal of one is reported and
 * the others go on. The same note (who, why) for all.
 */
export async function settleMany(engine: Pick<Engine, 'getLog' | 'recovery' | 'recordSettlement' | 'options' | 'clock'>, ids: readonly string[], note: SettleNote): Promise<BulkSettleItem[]> {
  const previews = await previewSettle(engine, ids);
  const out: BulkSettleItem[] = [];
  for (const preview of previews) {
    if (preview.action === 'nothing') {
      out.push({ id: preview.id, action: preview.action, outcome: 'skipped', state: preview.state, message: preview.why });
      continue;
    }
    try {
      const result = await settleStuck(engine, preview.id, note);
      out.push({ id: preview.id, action: preview.action, outcome: 'settled', state: result.state, message: result.state === 'committed' ? 'rolled forward and committed' : 'rolled back' });
    } catch (err) {
      if (!isTransactError(err)) throw err;
      out.push({ id: preview.id, action: preview.action, outcome: err.code, state: (await engine.getLog(preview.id))?.state ?? null, message: err.message });
    }
  }
  return out;
}
