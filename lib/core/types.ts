/**
 * The vocabulary of the engine: operations, images, log steps and log documents.
 * Everything here is plain data, so a log document alone tells recovery what to do.
 */

/** A document as Waterline returns it from `find` (every attribute, ids as strings). */
export type Image = Record<string, unknown>;

/** Attribute values for a create or an update. */
export type Values = Record<string, unknown>;

/** One operation of a declarative batch. */
export type Operation = CreateOperation | UpdateOperation | IncrementOperation | DestroyOperation;

export interface CreateOperation {
  op: 'create';
  model: string;
  /** Chosen by the engine when omitted, so that recovery knows what to undo. */
  id?: string;
  values: Values;
}

export interface UpdateOperation {
  op: 'update';
  model: string;
  id: string;
  set: Values;
}

export interface IncrementOperation {
  op: 'increment';
  model: string;
  id: string;
  field: string;
  /** A safe integer (e.g. cents); negative to decrement. */
  by: number;
  /** Inclusive bounds the field must stay within, e.g. `min: 0` for "no negative balance". */
  min?: number;
  max?: number;
}

export interface DestroyOperation {
  op: 'destroy';
  model: string;
  id: string;
}

export type StepKind = 'create' | 'update' | 'increment' | 'destroy';

/** The bounded delta of an increment, kept so a reversal can decrement instead of restoring. */
export interface Delta {
  field: string;
  by: number;
  min?: number;
  max?: number;
}

/**
 * One write-ahead log entry: the write and everything needed to undo or redo it.
 * `before` is null for a create, `after` is null for a destroy.
 */
export interface Step {
  seq: number;
  kind: StepKind;
  model: string;
  id: string;
  before: Image | null;
  after: Image | null;
  delta?: Delta;
  /**
   * The document's fence before this transaction first wrote it, where the adapter keeps fences
   * in the documents themselves (sails-mongo); null elsewhere and for documents never fenced.
   */
  fence?: string | null;
  /**
   * Log protocol v3: the version the document's record had once this transaction's lock was
   * granted (lib/store/records.ts): the guard its apply names.
   */
  version?: number;
}

/**
 * Who may write a transaction's documents now: the transaction, at the epoch of its current
 * owner. The original owner writes at epoch 0; every claim by recovery moves it one up, so a
 * write from an owner that lost its transaction carries an old epoch and is refused by the
 * datastore in the same atomic operation as the write.
 */
export interface Fence {
  txId: string;
  epoch: number;
}

/**
 * pending ──commit──▶ committed
 *    │
 *    └──abort/crash──▶ rolling-back ──▶ rolled-back
 * A pending batch whose policy is 'rollforward' goes pending ──recovery──▶ committed.
 */
export type TxState = 'pending' | 'committed' | 'rolling-back' | 'rolled-back';

export const TERMINAL_STATES: readonly TxState[] = ['committed', 'rolled-back'];
export const ACTIVE_STATES: readonly TxState[] = ['pending', 'rolling-back'];

export type TxMode = 'batch' | 'interactive';

/** What recovery does with a transaction that died while pending. */
export type CrashPolicy = 'rollback' | 'rollforward';

export interface TxError {
  code: string;
  message: string;
  /** Where in the input the problem was, for a TransactError that had one. */
  path?: string;
  /** The TransactError's machine-readable details (what a replay under its key gives back). */
  details?: Record<string, unknown>;
  /** Set when an operator had the transaction rolled back by hand (lib/operator settleStuck). */
  settled?: Settlement;
}

/** Who settled a stuck transaction by hand, when, and why. */
export interface Settlement {
  by: string;
  at: number;
  reason: string | null;
}

/** Why recovery could not settle a transaction, and when it last tried. */
export interface Attention extends TxError {
  at: number;
}

/** The transaction log document: the one record of a transaction, and its commit point. */
export interface LogDocument {
  id: string;
  state: TxState;
  mode: TxMode;
  onCrash: CrashPolicy;
  label: string | null;
  idempotencyKey: string | null;
  /** Whose key `idempotencyKey` is (TransactionOptions.idempotencyScope); null: an unscoped key, or none. */
  idempotencyScope: string | null;
  /** The instance that holds the lease: the running process, or the recovering one. */
  owner: string;
  /** Epoch ms; past it (plus the clock-skew allowance) recovery may claim the transaction. */
  leaseUntil: number;
  steps: Step[];
  error: TxError | null;
  startedAt: number;
  endedAt: number | null;
  /** How many times recovery has claimed this transaction. */
  recoveries: number;
  /**
   * The fence epoch its current owner writes at: 0 for the first owner, one more at every change
   * of hands (recovery's claim, the owner's own rollback, a retry under the same idempotency key).
   */
  epoch: number;
  /** `model:id` of every document the steps touch: what history queries look up. */
  documents: string[];
  /** What the transaction returned, stored with the commit so a repeated idempotency key gets it. */
  result: unknown;
  /** A hash of a keyed batch's operations: the same key with other operations is refused. */
  fingerprint: string | null;
  /** The committed transaction this one compensates. */
  reverses: string | null;
  /** The transaction that compensates this one (valid once that one is committed). */
  reversedBy: string | null;
  /** Why it was reversed (on the reversal). */
  reason: string | null;
  /** Set by recovery when it could not settle this transaction (an operator must look). */
  attention: Attention | null;
}

/** A lock on one document, held by one transaction. */
export interface LockDocument {
  /** `model:id`, unique: inserting it is the acquisition. */
  id: string;
  owner: string;
  /** Epoch ms; only used to find locks whose transaction never wrote its log. */
  leaseUntil: number;
  /** The fence epoch writes to this document must carry (see Fence). */
  epoch: number;
  /**
   * The acquisition round that inserted it (Locks.acquire), so a release of that round's locks
   * cannot free the same ids taken again by a later round of the same owner and epoch
   * (AtomicStore.deleteLocks). Absent on locks written without one (older versions, the
   * PostgreSQL native path, the scheduler's claims).
   */
  grant?: string;
}

/** Guards of a compare-and-set on a log document; every given field must match. */
export interface LogGuard {
  states?: readonly TxState[];
  owner?: string;
  leaseUntil?: number;
  reversedBy?: string | null;
  epoch?: number;
  /**
   * The number of steps the log holds (exactly). A step append names the count it extends, so a
   * delayed duplicate of an older append finds more steps than it expects and is refused.
   */
  stepCount?: number;
}

export type LogPatch = Partial<Pick<LogDocument, 'state' | 'owner' | 'leaseUntil' | 'steps' | 'documents' | 'error' | 'endedAt' | 'recoveries' | 'result' | 'reversedBy' | 'attention' | 'epoch' | 'startedAt'>>;

/** The adapters the hook runs on: one store module each (lib/store/). */
export type AdapterKind = 'disk' | 'mongo' | 'postgresql';
