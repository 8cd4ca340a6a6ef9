/**
 * Roles and what each may do: one table, used by the policies and documented in the README.
 */
const RANK = { readonly: 1, monitor: 2, readwrite: 3, admin: 4 };

/** Whether `role` has at least the rights of `needed`. */
function atLeast(role, needed) {
  return (RANK[role] || 0) >= RANK[needed];
}

/**
 * Whether the caller may read a model's history (GET /api/history/:model/:id, the hook's
 * `routes.mayReadHistory`): the history shows whole images, so it follows the model's blueprint
 * read policy (`token/*: false`, `user/*` admin only).
 */
function mayReadHistory(req, model) {
  const policy = req._sails.config.policies[`${model}/*`];
  const list = Array.isArray(policy) ? policy : [policy]; // Sails turns `false` into `[false]`
  if (list.includes(false)) return false;
  return !list.includes('isAdmin') || atLeast(req.me && req.me.role, 'admin');
}

module.exports = { ROLES: Object.keys(RANK), atLeast, mayReadHistory };
