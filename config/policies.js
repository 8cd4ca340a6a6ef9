/**
 * Who may do what. Roles, from least to most: readonly, monitor, readwrite, admin.
 *   readonly  — reads domain data and the transaction log
 *   monitor   — also reads reconciliation
 *   readwrite — also writes domain data (orders, deposits, withdrawals, batches, blueprint writes)
 *   admin     — also reverses transactions and manages users
 * Every action is closed unless listed here (`'*': 'authenticated'` + role policies).
 */
module.exports.policies = {
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
  'transaction/run': ['authenticated', 'canWrite'],
  'crud/create': ['authenticated', 'canWrite'],
  'crud/update': ['authenticated', 'canWrite'],
  'crud/destroy': ['authenticated', 'canWrite'],
  'transfer/create': ['authenticated', 'canWrite'],

  'transaction/reverse': ['authenticated', 'isAdmin'],
  'user/create': ['authenticated', 'isAdmin'],
  'user/*': ['authenticated', 'isAdmin'],
  'admin/*': true, // the admin page checks its cookie session, role and CSRF token itself (api/lib/admin-page.js)
  // The hook's ops page (/admin/ops, config/transact.js): anyone signed in to the admin page may
  // look; who may act is its `actor` (admins only). Its CSRF token is its own.
  'transact/ops/*': 'adminSession',
  'token/*': false,
  'transactlog/*': false,
  'transactlock/*': false,
};
