/** The engine's public types: its options, what its calls return, and its internal options. */
import type { RetryOptions } from '../store/retrying';
import type { CrashPolicy, Step } from '../core/types';

export interface EngineOptions {
  /** Names this process in lease owners; a stable one lets a restart recover its own dead transactions at once. */
  instanceId: string;
  leaseMs: number;
  clockSkewMs: number;
  lockTimeoutMs: number;
  lockPollMs: number;
  maxOps: number;
  onCrash: CrashPolicy;
  recoveryBatchSize: number;
  retry: RetryOptions;
}

export interface ReversalResult {
  /** The new, compensating transaction. */
  id: string;
  /** The transaction it reverses. */
  reverses: string;
}

export interface TransactionResult {
  id: string;
  state: 'committed';
  /** What was written, in order, with before- and after-images (created ids are in `steps[i].id`). */
  steps: Step[];
}

/** A Waterline criteria over the log model (lib/operator builds them). */
export type LogCriteria = {
  where: Record<string, unknown>;
  sort?: Record<string, 'ASC' | 'DESC'>[] | string;
  skip?: number;
  limit?: number;
};

/** How a log listing reads (TransactionLogs.findLogs / countLogs). */
export interface LogReadOptions {
  /** `contains` matches whatever the case, its text taken literally (the ops page's label search). */
  ignoreCase?: boolean;
}

/** Where the engine reports what it handles itself but an operator should know (cleanup after a commit, recovery failures). */
export type EngineWarning = (message: string, err: unknown) => void;

/** Options the hook's own features (reversal) pass; not part of the public API. */
export interface InternalOptions {
  txId?: string;
  reverses?: string;
  reason?: string;
}
