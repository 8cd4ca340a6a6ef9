/**
 * Routes: the fund's own endpoints and the admin page. Not here, because Sails and the hook bind
 * them:
 *  - the blueprints (config/blueprints.js, prefix /api): `POST /api/:model`, `PATCH|PUT|DELETE
 *    /api/:model/:id` reach sails-hook-transact's transactional actions (every model is marked
 *    `transactional: true`), reads `GET /api/:model[/:id]` are Sails' own;
 *  - the hook's REST endpoints (config/transact.js `routes`): /api/transaction…, /api/history….
 */
module.exports.routes = {
  'GET /': { action: 'home' },
  'GET /api/health': { action: 'health' },
  'GET /metrics': { action: 'metrics' },

  'POST /api/auth/login': { action: 'auth/login' },
  'POST /api/user': { action: 'user/create' },

  'POST /api/deposit': { action: 'fund/deposit' },
  'POST /api/order': { action: 'fund/order' },
  'POST /api/payment/callback': { action: 'fund/payment-callback' },
  'POST /api/withdrawal': { action: 'fund/withdrawal' },
  'POST /api/payment/:paymentId/reassign': { action: 'fund/reassign' },

  'GET /api/reconciliation': { action: 'reconciliation/get' },

  // Not `transfer/create`: that identity is the Transfer model's blueprint action (the hook's, closed).
  'POST /transfers': { action: 'transfers/create' },
  // Closing an account is the fund's (balance 0, not frozen); Account has no blueprint destroy.
  'DELETE /api/account/:id': { action: 'transfers/close-account' },

  // The admin page (server-rendered, cookie session, CSRF on every POST; api/controllers/admin)
  'GET /admin': { action: 'admin/dashboard' },
  'GET /admin/login': { action: 'admin/login' },
  'POST /admin/login': { action: 'admin/login' },
  'POST /admin/logout': { action: 'admin/logout' },
  'GET /admin/assets/:file': { action: 'admin/asset', skipAssets: false },
  'GET /admin/attention': { action: 'admin/attention' },
  'POST /admin/act/:action': { action: 'admin/act' },
  'GET /admin/reconciliation': { action: 'admin/reconciliation' },
  'POST /admin/reconciliation': { action: 'admin/reconciliation' },
  // /admin/ops/…: the hook's ops page (transactions, one transaction and its reversal, stuck
  // transactions, a document's history), mounted in config/transact.js; its routes are the hook's.
};
