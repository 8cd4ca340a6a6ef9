/**
 * One error shape for the whole API: `{"error": {"code", "message", "path"?}}` with a fitting
 * status. The hook's registry (every engine code and the HTTP-only ones) plus the fund's own codes.
 */
const { STATUS_OF_CODE: HOOK_STATUS, errorBody } = require('../hooks/transact');

/** Refusals of the fund's own endpoints (api/lib/fund.js), nothing written. */
const FUND_STATUS = {
  insufficient_funds: 409,
  insufficient_capacity: 409,
  amount_mismatch: 409,
};

const STATUS_OF_CODE = Object.freeze({ ...HOOK_STATUS, ...FUND_STATUS });

function sendError(res, code, message, path) {
  const status = STATUS_OF_CODE[code] || 400;
  return res.status(status).json(errorBody(code, message, path));
}

/** Sends a TransactError (or any error with a known code) as its HTTP error; rethrows the rest. */
function sendTransactError(res, err) {
  if (err && typeof err.code === 'string' && STATUS_OF_CODE[err.code] !== undefined) {
    return sendError(res, err.code, err.message, err.path);
  }
  throw err;
}

module.exports = { STATUS_OF_CODE, sendError, sendTransactError };
