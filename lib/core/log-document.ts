/**
 * Building log documents, and reading back what a finished one says: one place for the shape
 * the engine, recovery and reversal all write.
 */
import { createHash } from 'node:crypto';
import { isLogOutcome, isTransactError, TransactError } from './errors';
import { documentKey } from './operations';
import type { LogDocument, Step, TxError } from './types';

/** A new log document with every optional field at its empty value. */
export function newLog(fields: Pick<LogDocument, 'id' | 'state' | 'mode' | 'onCrash' | 'owner' | 'leaseUntil' | 'startedAt'> & Partial<LogDocument>): LogDocument {
  return {
    label: null,
    idempotencyKey: null,
    idempotencyScope: null,
    steps: [],
    error: null,
    endedAt: null,
    recoveries: 0,
    epoch: 0,
    documents: [],
    result: null,
    fingerprint: null,
    reverses: null,
    reversedBy: null,
    reason: null,
    attention: null,
    ...fields,
  };
}

/** The distinct documents the steps touch, as `model:id`, in first-touch order. */
export function touchedDocuments(steps: readonly Step[]): string[] {
  return [...new Set(steps.map((step) => documentKey(step.model, step.id)))];
}

/**
 * The transaction id an idempotency key maps to, within its scope: inserting the log under this
 * id is the "at most once" check, made unique on (scope, key) by the log's primary key on every
 * datastore. An unscoped key keeps the id it always had (logs written before scopes still
 * replay); a scoped one hashes another preimage (`\0`, never `:`, follows the prefix, and JSON
 * keeps scope and key apart), so no scoped key can name an unscoped key's transaction or another
 * scope's.
 */
export function keyedTransactionId(key: string, scope: string | null = null): string {
  const preimage = scope === null ? `sails-hook-transact:${key}` : `sails-hook-transact\u0000${JSON.stringify([scope, key])}`;
  return createHash('sha256').update(preimage).digest('hex').slice(0, 24);
}

/** A stable hash of a batch's operations, to refuse one key reused for different work. */
export function fingerprint(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Failures that decided nothing about the request itself — it never got its turn (a lock wait
 * ran out, its owner died or stalled, the datastore was unreachable). As with Stripe's keys, a
 * retry under the same idempotency key runs such a request again; any other outcome (committed,
 * or refused for a reason of its own, like `bound_violation`) is what every retry gets back.
 */
const UNDECIDED = new Set(['lock_timeout', 'lease_lost', 'owner_died', 'unavailable', 'orphan_locks', 'in_progress', 'outcome_unknown']);

export function isDecided(log: Pick<LogDocument, 'state' | 'error'>): boolean {
  if (log.state === 'committed') return true;
  if (log.state !== 'rolled-back') return false;
  const code = log.error?.code;
  return code !== undefined && !UNDECIDED.has(code);
}

/**
 * The error a rolled-back transaction ended with, as a TransactError to rethrow on a repeat: its
 * code (the hook's or the app's), path and details as stored, marked `replayed`.
 */
export function replayedError(log: LogDocument): TransactError<string> {
  const error = log.error;
  const stored = error?.code ?? 'aborted';
  const code = isLogOutcome(stored) ? 'aborted' : stored;
  return new TransactError<string>(code, error?.message ?? `transaction ${log.id} was rolled back`, {
    path: error?.path,
    details: { ...error?.details, transaction: log.id, replayed: true, ...(code === stored ? {} : { outcome: stored }) },
  });
}

/** What a log keeps of the error a transaction ended with: a TransactError's code, path and details; anything else is `fallback`. */
export function storedError(cause: unknown, fallback: string): TxError {
  if (!isTransactError(cause)) return { code: fallback, message: cause instanceof Error ? cause.message : String(cause) };
  const error: TxError = { code: cause.code, message: cause.message };
  if (cause.path !== undefined) error.path = cause.path;
  const details = jsonDetails(cause.details);
  if (details !== undefined) error.details = details;
  return error;
}

/** Details as the log can hold them (JSON values only); undefined when there are none or they do not serialize. */
function jsonDetails(details: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (details === undefined || Object.keys(details).length === 0) return undefined;
  try {
    return JSON.parse(JSON.stringify(details)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** A keyed transaction's result is stored as JSON; anything else could not be replayed. */
export function jsonResult(value: unknown): unknown {
  if (value === undefined) return null;
  try {
    return JSON.parse(JSON.stringify(value)) as unknown;
  } catch (err) {
    throw new TransactError('validation_failed', 'a keyed transaction must return JSON-serializable data', { cause: err });
  }
}
