/**
 * The log's state machine and recovery's decision, as pure functions.
 *
 *   pending ──(commit: one atomic CAS)──▶ committed
 *      │
 *      └──(abort, or crash found by recovery)──▶ rolling-back ──▶ rolled-back
 *
 * A pending batch whose crash policy is 'rollforward' is completed instead: recovery re-applies
 * its after-images and commits it. Committed and rolled-back are terminal.
 */
import type { LogDocument, TxState } from './types';

const TRANSITIONS: Readonly<Record<TxState, readonly TxState[]>> = {
  pending: ['committed', 'rolling-back'],
  'rolling-back': ['rolled-back'],
  committed: [],
  'rolled-back': [],
};

export function canTransition(from: TxState, to: TxState): boolean {
  return TRANSITIONS[from].includes(to);
}

export function isTerminal(state: TxState): boolean {
  return TRANSITIONS[state].length === 0;
}

/** What recovery does with a log document it finds. */
export type RecoveryDecision =
  /** Its owner's lease still runs: leave it alone. */
  | 'wait'
  /** Undo every step (idempotently), then rolled-back, then release its locks. */
  | 'rollback'
  /** Redo every step (idempotently), then committed, then release its locks. */
  | 'rollforward'
  /** Already decided: only its locks may remain. */
  | 'release-locks';

/**
 * @param skewMs how far apart the clocks of two instances may be; a lease counts as expired
 *               only once it has been over for that long on this instance's clock.
 */
export function decideRecovery(log: Pick<LogDocument, 'state' | 'mode' | 'onCrash' | 'leaseUntil'>, now: number, skewMs: number): RecoveryDecision {
  if (isTerminal(log.state)) return 'release-locks';
  if (log.leaseUntil + skewMs >= now) return 'wait';
  if (log.state === 'rolling-back') return 'rollback';
  return log.mode === 'batch' && log.onCrash === 'rollforward' ? 'rollforward' : 'rollback';
}
