/**
 * App settings from the environment. Development gets a fixed, public webhook secret so the
 * simulated gateway works out of the box; production refuses it (api/hooks/production-guard).
 */
const DEV_WEBHOOK_SECRET = 'development-only-webhook-secret-do-not-use-in-production';

function intFromEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer (got ${JSON.stringify(raw)})`);
  return value;
}

module.exports.custom = {
  DEV_WEBHOOK_SECRET,
  paymentWebhookSecret: process.env.PAYMENT_WEBHOOK_SECRET || DEV_WEBHOOK_SECRET,
  /**
   * Login attempts per window, for the API and the admin form together (api/lib/login-limit.js):
   * per username, and per client address (higher, so one office behind a NAT is not locked out
   * by one user). In Redis with the sessions when REDIS_URL is set, so shared by every instance.
   */
  loginLimits: {
    perUser: intFromEnv('LOGIN_LIMIT_PER_USER', 5) || 5,
    perAddress: intFromEnv('LOGIN_LIMIT_PER_ADDRESS', 30) || 30,
    windowMs: intFromEnv('LOGIN_LIMIT_WINDOW_MS', 60_000) || 60_000,
  },
  /** The payment gateway, and the dropped-orders job that checks with it (api/lib/dropped-orders.js). */
  gateway: {
    /** Base URL (e.g. http://127.0.0.1:4100); unset, the job does nothing. */
    url: process.env.PAYMENT_GATEWAY_URL || '',
    /** Timeout of one call to the gateway. */
    timeoutMs: intFromEnv('PAYMENT_GATEWAY_TIMEOUT_MS', 5000),
    /** Status queries per item and run (the first and the retries), jittered exponential backoff between them. */
    attempts: intFromEnv('DROPPED_ORDERS_ATTEMPTS', 4),
    minBackoffMs: intFromEnv('DROPPED_ORDERS_MIN_BACKOFF_MS', 500),
    maxBackoffMs: intFromEnv('DROPPED_ORDERS_MAX_BACKOFF_MS', 10000),
    /** A payment still `pending` (an order `awaiting_payment` or `paid`) this long after its creation is a dropped order. */
    droppedAfterMs: intFromEnv('DROPPED_ORDERS_AGE_MS', 15 * 60 * 1000),
    /** A payment the gateway still reports `pending` this long after its creation needs attention (it is not asked about forever). */
    pendingMaxAgeMs: intFromEnv('DROPPED_ORDERS_PENDING_MAX_AGE_MS', 24 * 60 * 60 * 1000),
    /** Where the gateway calls back (registered with each payment); unset, this app on 127.0.0.1 (development; production requires it). */
    callbackUrl: process.env.PAYMENT_CALLBACK_URL || '',
    /** Items worked per run at most (the rest wait for the next run). */
    batchSize: intFromEnv('DROPPED_ORDERS_BATCH', 100),
    /** How long one instance holds an item while it works it. */
    claimMs: intFromEnv('DROPPED_ORDERS_CLAIM_MS', 120000),
  },
};
