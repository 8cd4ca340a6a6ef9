/**
 * One error shape for the whole API: `{"error": {"code", "message", "path"?}}` with a fitting status.
 */
const STATUS_OF_CODE = {
  validation_failed: 400,
  malformed_json: 400,
  unknown_model: 404,
  unknown_attribute: 400,
  not_found: 404,
  unauthorized: 401,
  forbidden: 403,
  destroy_forbidden: 405,
  method_not_allowed: 405,
  already_exists: 409,
  bound_violation: 409,
  insufficient_funds: 409,
  insufficient_capacity: 409,
  amount_mismatch: 409,
  idempotency_conflict: 409,
  in_progress: 409,
  not_committed: 409,
  already_reversed: 409,
  conflict: 409,
  irreversible: 409,
  lock_timeout: 409,
  aborted: 409,
  transaction_ended: 409,
  unsupported_query: 400,
  lease_lost: 503,
  outcome_unknown: 503,
  unavailable: 503,
  payload_too_large: 413,
  rate_limited: 429,
};

function sendError(res, code, message, path) {
  const status = STATUS_OF_CODE[code] || 400;
  const error = path === undefined ? { code, message } : { code, message, path };
  return res.status(status).json({ error });
}

/** Sends a TransactError (or any error with a known code) as its HTTP error; rethrows the rest. */
function sendTransactError(res, err) {
  if (err && typeof err.code === 'string' && STATUS_OF_CODE[err.code] !== undefined) {
    return sendError(res, err.code, err.message, err.path);
  }
  throw err;
}

module.exports = { STATUS_OF_CODE, sendError, sendTransactError };
