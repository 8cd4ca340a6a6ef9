/**
 * The one registry of error codes with their HTTP status: every code the hook's engine reports
 * (checked at compile time: a new engine code without a status fails the build), and the
 * codes only the HTTP layer answers. Apps add their own codes on top (see the demo's
 * api/lib/http-errors.js).
 */
import type { TransactErrorCode } from '../errors';

/** The status of each engine code, next to the code. */
export const ENGINE_CODE_STATUS = {
  validation_failed: 400,
  unknown_model: 404,
  unknown_attribute: 400,
  not_found: 404,
  already_exists: 409,
  bound_violation: 409,
  // A lock wait that timed out decided nothing: the client may retry.
  lock_timeout: 409,
  // The datastore refused this owner's writes: the transaction was rolled back by recovery.
  lease_lost: 503,
  destroy_forbidden: 405,
  idempotency_conflict: 409,
  in_progress: 409,
  not_committed: 409,
  already_reversed: 409,
  conflict: 409,
  irreversible: 409,
  aborted: 409,
  // Committed or not is unknown: 503 so that clients retry with their idempotency key.
  outcome_unknown: 503,
  unavailable: 503,
  not_stuck: 409,
  unsupported_query: 400,
  transaction_ended: 409,
  // A backup file that fails its checks (lib/drill): nothing was restored.
  backup_invalid: 422,
  // Restores and drills write only into an empty datastore.
  target_not_empty: 409,
  hidden_attribute: 400,
  // The document a reference names does not exist (or is not committed): the write is refused as a
  // conflict with the datastore's state, like not_found of an update's own document would be.
  reference_not_found: 409,
  referenced: 409,
} as const satisfies Record<TransactErrorCode, number>;

/** Codes the HTTP layer alone answers (the engine never throws them). */
export const HTTP_CODE_STATUS = {
  malformed_json: 400,
  unauthorized: 401,
  forbidden: 403,
  // Sails' notFound: no route serves this method and path (not_found is a document that does not exist).
  no_route: 404,
  method_not_allowed: 405,
  payload_too_large: 413,
  rate_limited: 429,
  // Anything unexpected: the detail is logged, never answered (no stack trace, no path).
  internal: 500,
} as const;

export type HttpErrorCode = TransactErrorCode | keyof typeof HTTP_CODE_STATUS;

/** Every code the hook answers over HTTP, with its status. */
export const STATUS_OF_CODE: Readonly<Record<HttpErrorCode, number>> = Object.freeze({ ...ENGINE_CODE_STATUS, ...HTTP_CODE_STATUS });

/** The status of a code, or undefined for a code the hook does not know. */
export function statusOf(code: string): number | undefined {
  return Object.prototype.hasOwnProperty.call(STATUS_OF_CODE, code) ? STATUS_OF_CODE[code as HttpErrorCode] : undefined;
}
