/**
 * Who may do what. Roles, from least to most: readonly, monitor, readwrite, admin.
 *   readonly  — reads domain data and the transaction log
 *   monitor   — also reads reconciliation
 *   readwrite — also writes domain data (orders, deposits, withdrawals, batches, blueprint writes)
 *   admin     — also reverses transactions and manages users
 * Every action is closed unless listed here (`'*': 'authenticated'` + role policies).
 */
const { readdirSync } = require('node:fs');
const { join } = require('node:path');

/**
 * Blueprint writes (`<model>/create|update|destroy` and the association writes), for every model:
 * readwrite. The hook's actions then refuse what a model's `http` allowlist does not permit
 * (405), so a reader learns 403 and a writer learns what the model allows.
 */
const blueprintWrites = {};
for (const file of readdirSync(join(__dirname, '..', 'api', 'models'))) {
  if (!file.endsWith('.js')) continue;
  const identity = file.slice(0, -3).toLowerCase();
  for (const action of ['create', 'update', 'destroy', 'add', 'remove', 'replace']) blueprintWrites[`${identity}/${action}`] = ['authenticated', 'canWrite'];
}

module.exports.policies = {
  ...blueprintWrites,
  '*': ['authenticated', 'canRead'],
  home: true,
  health: true,
  metrics: true, // counts only, like health: scraped by Prometheus without a token
  'auth/login': true,
  'fund/payment-callback': true, // authenticated by the gateway's HMAC signature instead

  'reconciliation/get': ['authenticated', 'canMonitor'],

  'fund/deposit': ['authenticated', 'canWrite'],
  'fund/order': ['authenticated', 'canWrite'],
  'fund/withdrawal': ['authenticated', 'canWrite'],
  'transfers/create': ['authenticated', 'canWrite'],
  'transfers/close-account': ['authenticated', 'canWrite'],
  'fund/reassign': ['authenticated', 'isAdmin'],

  // The hook's REST endpoints (config/transact.js `routes`).
  'transact/*': ['authenticated', 'canRead'],
  'transact/run': ['authenticated', 'canWrite'],
  'transact/stuck': ['authenticated', 'canMonitor'],
  'transact/reverse': ['authenticated', 'isAdmin'],
  'transact/settle': ['authenticated', 'isAdmin'],

  'user/create': ['authenticated', 'isAdmin'],
  'user/*': ['authenticated', 'isAdmin'],
  'admin/*': true, // the admin page checks its cookie session, role and CSRF token itself (api/lib/admin/page.ts)
  // The hook's ops page (/admin/ops, config/transact.js): anyone signed in to the admin page may
  // look; who may act is its `actor` (admins only). Its CSRF token is its own. (More specific
  // than 'transact/*' above, so it replaces those policies: Sails' policies are not cumulative.)
  'transact/ops/*': 'adminSession',
  'token/*': false, // reads; its writes are the blueprint writes above (closed by the hook: 405)
  // transactlog/transactlock: the hook closes their blueprints itself (reads 403, writes 405).
};
