/**
 * Routes. Explicit endpoints first; then the transactional blueprints (`POST /api/:model`,
 * `PATCH /api/:model/:id`, `DELETE /api/:model/:id`), which run writes through the engine.
 * Reads (`GET /api/:model`, `GET /api/:model/:id`) are Sails' own blueprints.
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

  'POST /api/transaction': { action: 'transaction/run' },
  'GET /api/transaction': { action: 'transaction/list' },
  'GET /api/transaction/:id': { action: 'transaction/get' },
  'POST /api/transaction/:id/reverse': { action: 'transaction/reverse' },
  'GET /api/history/:model/:id': { action: 'history/get' },
  'GET /api/reconciliation': { action: 'reconciliation/get' },

  'POST /transfers': { action: 'transfer/create' },

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

  'POST /api/:model': { action: 'crud/create' },
  'PATCH /api/:model/:id': { action: 'crud/update' },
  'PUT /api/:model/:id': { action: 'crud/update' },
  'DELETE /api/:model/:id': { action: 'crud/destroy' },
};
