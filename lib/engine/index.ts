/**
 * The transaction engine: both ways in (a declarative batch, an interactive callback) over one
 * protocol — lock, log the before-images, write, commit with one compare-and-set of the log
 * document, unlock — and one way out on failure: the compensation recovery also uses.
 *
 * The Engine only wires and dispatches; each job is a collaborator of its own, handed the shared
 * handles it uses (context.ts): batches (batch.ts), interactive transactions (interactive.ts),
 * keyed "at most once" runs (idempotency.ts), the log protocol's commit and rollback (commit.ts),
 * PostgreSQL's native path (native.ts), references (references.ts), reversals (reversal.ts),
 * history (history.ts), log reads (logs.ts), and the models it may write (catalog.ts).
 */
import { ServerClock } from '../protocol/clock';
import { Documents } from '../protocol/documents';
import type { Version } from './history';
import { Locks } from '../protocol/locks';
import type { ModelInfo } from '../core/model-info';
import { CommittedReads } from '../reads';
import { Recovery, type TransactionRecovery, type TransactionStats } from '../protocol/recovery';
import { RedoAttempts } from './redo/attempt';
import { RedoBatches } from './redo/batch';
import { RedoInteractive } from './redo/interactive';
import { RedoReads } from '../reads/redo';
import { RecordLocks } from '../protocol/redo/locks';
import type { RecordStore } from '../store/records';
import { RedoRecovery } from '../protocol/redo/recovery';
import { RetryPolicy, retryingStore, typedFailure } from '../store/retrying';
import type { ReversalInput, TransactionOptions } from '../core/validation';
import type { AtomicStore } from '../store';
import type { NativeTransactions } from '../store/contract';
import type { Transaction } from './transaction';
import type { Image, LogDocument, Settlement, TxError, TxState } from '../core/types';
import type { WaterlineModel } from '../core/waterline';
import { Batches } from './batch';
import { ModelCatalog } from './catalog';
import { CommitProtocol } from './commit';
import type { EngineContext } from './context';
import { DocumentHistory } from './history';
import { Idempotency } from './idempotency';
import { InteractiveTransactions } from './interactive';
import { TransactionLogs } from './logs';
import { NativeRunner } from './native';
import { EngineReferences } from './references';
import { Reversals } from './reversal';
import type { EngineOptions, EngineWarning, InternalOptions, LogCriteria, LogReadOptions, ReversalResult, TransactionResult } from './options';

export type { EngineOptions, EngineWarning, InternalOptions, LogCriteria, LogReadOptions, ReversalResult, TransactionResult } from './options';

/** How often an instance re-measures its offset from the datastore server's clock. */
const CLOCK_REFRESH_MS = 30_000;

export class Engine {
  readonly recovery: TransactionRecovery;
  /** The datastore server's clock, as this instance estimates it: what leases are written and judged by. */
  readonly clock: ServerClock;
  /** The datastore's atomic primitives, retried on transient errors. */
  readonly store: AtomicStore;
  /** Counts the retries made, for metrics and tests. */
  readonly retries: RetryPolicy;
  /** How transactions ended in this process, for metrics. */
  readonly stats: TransactionStats = { committed: 0, rolledBack: 0, recovered: 0, attention: 0, hookFailures: 0, transactionRetries: 0 };
  /** Reads that never return uncommitted state: `reads.find`, `findOne`, `count`, `snapshot`. */
  readonly reads: CommittedReads;
  private readonly models: ModelCatalog;
  private readonly logs: TransactionLogs;
  private readonly documentHistory: DocumentHistory;
  private readonly reversals: Reversals;
  private readonly batches: Batches;
  private readonly transactions: InteractiveTransactions;
  /** Log protocol v3's records (lib/store/records.ts), when batches run on it. */
  readonly records: RecordStore | undefined;
  /** On v3: the log protocol's (v2) recovery, for what v2 left on the datastore (start). */
  private readonly earlierProtocol: Recovery | undefined;
  private readonly warn: EngineWarning;
  /** Log protocol v3: applies what a committed log's owner has not applied yet (RecordLocks.applyCommitted). */
  private readonly applyCommitted: ((log: LogDocument) => Promise<void>) | undefined;

  constructor(
    store: AtomicStore,
    modelOf: (identity: string) => WaterlineModel | undefined,
    readonly options: EngineOptions,
    warn: EngineWarning = () => undefined,
    /** One native transaction per engine transaction, where the datastore has them (sails-postgresql). */
    native?: NativeTransactions,
    /** Every model's identity: who references whom (lib/engine/references.ts). Without it, destroys are not checked for references. */
    identities: () => readonly string[] = () => [],
    /** Log protocol v3's records (docs/protocol-v3.md): given, batches run on v3. */
    records?: RecordStore,
  ) {
    this.warn = warn;
    this.models = new ModelCatalog(modelOf);
    this.retries = new RetryPolicy(options.retry);
    this.store = retryingStore(store, this.retries);
    this.clock = new ServerClock(() => this.store.serverTime(), CLOCK_REFRESH_MS);
    const documents = new Documents((identity) => modelOf(identity) as WaterlineModel, this.store, this.retries);
    this.reads = new CommittedReads(this.store, (identity) => this.infoOf(identity), (found) => {
      const list = [...found].map(([document, fence]) => `${document} (fence ${fence})`).join(', ');
      warn(`committed reads left out ${found.size} document(s) a late insert put back after a committed transaction had taken them over: ${list}; they are still in the datastore, for an operator to remove`, undefined);
    }, records === undefined ? undefined : new RedoReads(records, this.store));
    const undoRecovery = new Recovery(
      this.store,
      documents,
      (identity) => this.infoOf(identity),
      this.clock,
      { instanceId: options.instanceId, leaseMs: options.leaseMs, clockSkewMs: options.clockSkewMs, batchSize: options.recoveryBatchSize },
      this.stats,
      (txId, err) => warn(`recovery could not settle transaction ${txId}; it is marked for attention and retried at the next pass`, err),
    );
    const locks: Locks = new Locks(this.store, this.clock, { leaseMs: options.leaseMs, timeoutMs: options.lockTimeoutMs, pollMs: options.lockPollMs }, async (holder) => {
      if ((await undoRecovery.settleHolder(holder)) === 'wait') return false;
      locks.abandon(holder);
      return true;
    });
    const context: EngineContext = { store: this.store, clock: this.clock, locks, documents, recovery: undoRecovery, retries: this.retries, reads: this.reads, stats: this.stats, options, models: this.models, warn };
    this.logs = new TransactionLogs(context);
    this.documentHistory = new DocumentHistory(context);
    const references = new EngineReferences(context, identities);
    let recordLocks: RecordLocks | undefined;
    let redo: RedoBatches | undefined;
    let redoInteractive: RedoInteractive | undefined;
    this.records = records;
    if (records === undefined) this.recovery = undoRecovery;
    else {
      this.earlierProtocol = undoRecovery;
      recordLocks = new RecordLocks(records, this.store, this.clock, { instanceId: options.instanceId, leaseMs: options.leaseMs, clockSkewMs: options.clockSkewMs, pollMs: options.lockPollMs });
      const transactional = (): string[] => identities().filter((identity) => this.models.infoOf(identity) !== undefined);
      this.recovery = new RedoRecovery(records, this.store, recordLocks, this.clock, transactional, { instanceId: options.instanceId, leaseMs: options.leaseMs, clockSkewMs: options.clockSkewMs, batchSize: options.recoveryBatchSize }, this.stats, (subject, err) =>
        warn(`recovery could not settle ${subject}; it is retried at the next pass`, err),
      );
      const attempts = new RedoAttempts({ records, logs: this.store, locks: recordLocks, clock: this.clock, options, warn, stats: this.stats });
      redo = new RedoBatches(attempts, (model) => this.models.knownInfo(model), references);
      redoInteractive = new RedoInteractive(attempts, { infoOf: (identity) => this.models.infoOf(identity), references: references.context });
    }
    this.applyCommitted = recordLocks === undefined ? undefined : recordLocks.applyCommitted.bind(recordLocks);
    const idempotency = new Idempotency({ ...context, recovery: this.recovery }, this.applyCommitted);
    const commit = new CommitProtocol(context, this.logs);
    const nativeRunner = native === undefined ? undefined : new NativeRunner(context, native, idempotency);
    this.batches = new Batches(context, commit, idempotency, references, nativeRunner, redo);
    this.transactions = new InteractiveTransactions(context, commit, idempotency, references.context, nativeRunner, redoInteractive);
    this.reversals = new Reversals(context, this.transactions);
  }

  /**
   * Measures the offset from the datastore server's clock, and on v3 settles what the log
   * protocol (v2) left on the datastore (Recovery.settleEarlierProtocol: throws
   * `protocol_mismatch` while an instance of it runs). Call once before the first transaction.
   */
  async start(): Promise<void> {
    await this.clock.sync();
    const settled = await this.earlierProtocol?.settleEarlierProtocol(this.options.leaseMs + this.options.clockSkewMs, this.options.lockPollMs);
    if (settled !== undefined && settled > 0) this.warn(`settled ${settled} transaction(s) the log protocol (v2) left on this datastore before starting log protocol v3`, undefined);
  }

  /**
   * What became of a transaction — for a caller that got `outcome_unknown`. While it is still
   * undecided (its owner, or recovery, is on it) this waits up to `waitMs` for the decision. On
   * log protocol v3 a committed one is applied first (what its owner left), so that the caller's
   * plain reads then see its writes.
   */
  outcome(txId: string, waitMs = 0): Promise<{ id: string; state: TxState; error: TxError | null }> {
    return this.logs.outcome(txId, waitMs, this.applyCommitted);
  }

  /** A model the engine may write: any app model; never the hook's own log and lock models. */
  infoOf(identity: string): ModelInfo | undefined {
    return this.models.infoOf(identity);
  }

  getLog(id: string): Promise<LogDocument | null> {
    return this.logs.getLog(id);
  }

  /**
   * Log documents matching a Waterline criteria (`where`, `sort`, `skip`, `limit`), for read-only
   * listings (lib/operator). Plain model reads, not the store's atomic primitives: a listing needs
   * no compare-and-set, and every adapter answers these criteria alike.
   */
  findLogs(criteria: LogCriteria, options?: LogReadOptions): Promise<LogDocument[]> {
    return this.logs.findLogs(criteria, options);
  }

  /** How many log documents match `where` (see findLogs). */
  countLogs(where: Record<string, unknown>, options?: LogReadOptions): Promise<number> {
    return this.logs.countLogs(where, options);
  }

  /**
   * Records on a rolled-back transaction who settled it by hand and why (an operator rolling back
   * a stuck one): only its `error` gains `settled`, the reason it ended stays. False when the log
   * is not rolled back (nothing written).
   */
  recordSettlement(txId: string, settlement: Settlement): Promise<boolean> {
    return this.logs.recordSettlement(txId, settlement);
  }

  /** Every committed version of a document, oldest first, from the log. */
  history(model: string, id: string): Promise<Version[]> {
    return this.documentHistory.history(model, id);
  }

  /** The document as it was at `at` (a Date or epoch ms), as far as the log knows. */
  stateAt(model: string, id: string, at: Date | number): Promise<Image | null> {
    return this.documentHistory.stateAt(model, id, at);
  }

  /**
   * Undoes a committed transaction with a new one that links to it (and it to the new one).
   * Refused if a document it touched changed since (increments excepted: they are decremented,
   * within their bounds), if it is already reversed, or if it created financial documents that
   * cannot be taken back.
   */
  reverse(txId: string, input: ReversalInput): Promise<ReversalResult> {
    return typedFailure(this.reversals.reverse(txId, input));
  }

  /**
   * Runs a declarative batch all-or-nothing. Nothing is written if any check fails. With an
   * idempotency key it runs at most once: a repeat returns the first run's result or error.
   */
  batch(input: unknown, rawOptions?: TransactionOptions): Promise<TransactionResult> {
    return typedFailure(this.batches.batch(input, rawOptions));
  }

  /**
   * Runs `work` as one transaction: its writes through `tx` commit together when it returns,
   * and are compensated if it throws or the process dies before the commit point. With an
   * idempotency key it runs at most once; what it returns must then be JSON, to be replayed.
   */
  interactive<T>(work: (tx: Transaction) => Promise<T>, rawOptions?: TransactionOptions, internal: InternalOptions = {}): Promise<T> {
    return typedFailure(this.transactions.interactive(work, rawOptions, internal));
  }
}
