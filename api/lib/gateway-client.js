/**
 * The app's client of the payment gateway: plain HTTP (node's fetch), a timeout per call.
 * Settings (config/custom.js, `sails.config.custom.gateway`): {url, timeoutMs, webhookSecret}.
 *
 * Errors are GatewayError with `retryable`: a network error, a timeout, a 5xx or a 429 may be
 * retried; a 4xx (404: the gateway does not know the payment) or a malformed answer may not.
 */
const STATUSES = ['pending', 'succeeded', 'failed', 'expired'];

class GatewayError extends Error {
  constructor(message, { retryable, status = null, code = 'gateway_error' }) {
    super(message);
    this.name = 'GatewayError';
    this.retryable = retryable;
    this.status = status;
    this.code = code;
  }
}

function baseUrl(settings) {
  if (!settings || typeof settings.url !== 'string' || settings.url === '') throw new GatewayError('no payment gateway URL is configured (PAYMENT_GATEWAY_URL)', { retryable: false, code: 'gateway_unconfigured' });
  return settings.url.replace(/\/+$/, '');
}

async function call(settings, method, path, body) {
  const timeoutMs = settings.timeoutMs || 5000;
  let res;
  try {
    res = await fetch(`${baseUrl(settings)}${path}`, {
      method,
      headers: body === undefined ? { Accept: 'application/json' } : { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const timedOut = err && (err.name === 'TimeoutError' || err.name === 'AbortError');
    throw new GatewayError(timedOut ? `gateway timed out after ${timeoutMs} ms` : `gateway unreachable: ${err && err.cause ? err.cause.code || err.cause.message : err.message}`, { retryable: true, code: timedOut ? 'gateway_timeout' : 'gateway_unreachable' });
  }
  let text;
  try {
    text = await res.text();
  } catch (err) {
    throw new GatewayError(`gateway answer cut off: ${err.message}`, { retryable: true, status: res.status });
  }
  if (res.status >= 500 || res.status === 429) throw new GatewayError(`gateway answered ${res.status}`, { retryable: true, status: res.status, code: 'gateway_unavailable' });
  if (res.status === 404) throw new GatewayError('the gateway does not know this payment', { retryable: false, status: 404, code: 'gateway_unknown_payment' });
  if (res.status >= 400) throw new GatewayError(`gateway refused the request (${res.status})`, { retryable: false, status: res.status });
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new GatewayError('gateway answered with invalid JSON', { retryable: false, status: res.status, code: 'gateway_bad_answer' });
  }
}

/** GET /payments/:id → {paymentId, status: pending|succeeded|failed|expired, amount}. */
async function getPayment(settings, paymentId) {
  const answer = await call(settings, 'GET', `/payments/${encodeURIComponent(paymentId)}`);
  if (!answer || answer.paymentId !== paymentId || !STATUSES.includes(answer.status) || !Number.isInteger(answer.amount)) {
    throw new GatewayError(`gateway answered an unexpected body for ${paymentId}`, { retryable: false, code: 'gateway_bad_answer' });
  }
  return { paymentId: answer.paymentId, status: answer.status, amount: answer.amount };
}

/** POST /payments {paymentId, amount, callbackUrl}: asks the gateway to take a payment. */
function createPayment(settings, { paymentId, amount, callbackUrl }) {
  return call(settings, 'POST', '/payments', { paymentId, amount, callbackUrl });
}

module.exports = { GatewayError, getPayment, createPayment, STATUSES };
