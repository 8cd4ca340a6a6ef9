/**
 * sails-hook-transact settings (all optional; the defaults are shown in docs/configuration.md). The app's
 * code is TypeScript compiled into dist/api (npm run build).
 */
const app = (module) => require(`../dist/api/lib/${module}`);

module.exports.transact = {
  /** The fund's own error codes, in the hook's one registry (api/lib/errors.ts). */
  errors: app('errors').FUND_ERRORS,
  /**
   * The hook's ops page at /admin/ops, behind the admin page's session (policy adminSession in
   * config/policies.js). Every role may look; only an admin acts (reverse, settle), and that
   * admin's username is recorded with what they did. Its forms' tokens are bound to the admin
   * session (the default `session`: its id; the default key: config/session.js's secret); a
   * history (and a transaction's images) is readable under the API's rule for the session's role.
   */
  ops: {
    path: '/admin/ops',
    title: 'Fund operations',
    back: { href: '/admin', label: 'Fund admin' },
    actor: (req) => app('admin').opsActor(req),
    mayReadHistory: (req, model) => app('admin').opsMayReadHistory(req, model),
  },
  datastore: 'default',
  /**
   * Outside production, lift creates the fund's missing tables and adds their missing columns
   * (never drops or rewrites one); production's schema comes from `npm run migrate` at deploy.
   */
  evolveModels: process.env.NODE_ENV !== 'production',
  leaseMs: 30000,
  lockTimeoutMs: 10000,
  recoveryIntervalMs: 10000,
  /**
   * The hook's REST endpoints at /api: /api/transaction (list, run a batch), /api/transaction/:id
   * (get, /reverse, /settle), /api/transaction/stuck, /api/history/:model/:id. Protected in
   * config/policies.js under `transact/*`.
   */
  routes: {
    prefix: '/api',
    // Who asks; also the scope of its Idempotency-Keys (two users' same key: two transactions).
    who: (req) => app('roles').callerOf(req),
    // Admin and monitor find every caller's keys; anyone else only its own (api/lib/roles.ts).
    maySeeAllKeys: (req) => app('roles').maySeeAllKeys(req),
    mayReadHistory: (req, model) => app('roles').mayReadHistory(req, model),
  },
  jobs: {
    /**
     * Finds payments still pending / orders awaiting payment or paid-not-allocated, asks the
     * gateway and repairs them once (api/lib/dropped-orders.ts; settings in config/custom.js,
     * `gateway`). Does nothing while PAYMENT_GATEWAY_URL is unset. DROPPED_ORDERS_JOB=off disables
     * its timer (it can still be run by `sails.hooks.transact.scheduler.runNow('dropped-orders')`).
     */
    'dropped-orders': {
      intervalMs: Number(process.env.DROPPED_ORDERS_INTERVAL_MS || 60000),
      jitterMs: Number(process.env.DROPPED_ORDERS_JITTER_MS || 10000),
      enabled: process.env.DROPPED_ORDERS_JOB !== 'off',
      run: (ctx) => app('jobs').droppedOrdersJob(ctx),
    },
  },
};
