/**
 * Typed errors: every failure the engine reports carries a machine-readable code,
 * so the REST layer can map it to an HTTP status without parsing messages.
 */

export const TRANSACT_ERROR_CODES = [
  'validation_failed',
  'unknown_model',
  'unknown_attribute',
  'not_found',
  'already_exists',
  'bound_violation',
  'lock_timeout',
  'lease_lost',
  'destroy_forbidden',
  'idempotency_conflict',
  'in_progress',
  'not_committed',
  'already_reversed',
  'conflict',
  'irreversible',
  'aborted',
  'outcome_unknown',
  'unavailable',
  'not_stuck',
  // Waterline's API inside an engine transaction (lib/waterline-api):
  'unsupported_query',
  'transaction_ended',
  // Backups and drills (lib/drill):
  'backup_invalid',
  'target_not_empty',
  // Criteria over HTTP that name an attribute the model hides (lib/model-info.ts hiddenAttributes).
  'hidden_attribute',
  // References (attributes with `model: '<identity>'`): lib/references.ts.
  'reference_not_found',
  'referenced',
] as const;

export type TransactErrorCode = (typeof TRANSACT_ERROR_CODES)[number];

export class TransactError extends Error {
  readonly code: TransactErrorCode;
  /** Where in the input the problem is, e.g. `ops.1.by`. */
  readonly path: string | undefined;
  /** Extra machine-readable facts, e.g. the documents a lock wait was blocked on. */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: TransactErrorCode, message: string, options: { path?: string; details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TransactError';
    this.code = code;
    this.path = options.path;
    this.details = options.details;
  }

  toJSON(): { code: TransactErrorCode; message: string; path?: string } {
    return this.path === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, path: this.path };
  }
}

/**
 * Recognizes a TransactError by shape, not by class: Sails may load the hook's modules more than
 * once (it clears the require cache of user hooks), and two copies have two classes.
 */
export function isTransactError(err: unknown, code?: TransactErrorCode): err is TransactError {
  if (!(err instanceof Error) || err.name !== 'TransactError') return false;
  const actual = (err as { code?: unknown }).code;
  return typeof actual === 'string' && (code === undefined || actual === code);
}
