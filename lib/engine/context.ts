/**
 * The handles the engine's collaborators share. Each takes only the ones it uses
 * (`Pick<EngineContext, ...>`); none is handed the Engine itself.
 */
import type { ServerClock } from '../protocol/clock';
import type { Documents } from '../protocol/documents';
import type { Locks } from '../protocol/locks';
import type { CommittedReads } from '../reads';
import type { Recovery, TransactionStats } from '../protocol/recovery';
import type { RetryPolicy } from '../store/retrying';
import type { AtomicStore } from '../store';
import type { ModelCatalog } from './catalog';
import type { EngineOptions, EngineWarning } from './options';

export interface EngineContext {
  /** The datastore's atomic primitives, retried on transient errors. */
  readonly store: AtomicStore;
  readonly clock: ServerClock;
  readonly locks: Locks;
  readonly documents: Documents;
  readonly recovery: Recovery;
  readonly retries: RetryPolicy;
  readonly reads: CommittedReads;
  readonly stats: TransactionStats;
  readonly options: EngineOptions;
  readonly models: ModelCatalog;
  readonly warn: EngineWarning;
}
