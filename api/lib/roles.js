/**
 * Roles and what each may do: one table, used by the policies and documented in the README.
 */
const RANK = { readonly: 1, monitor: 2, readwrite: 3, admin: 4 };

/** Whether `role` has at least the rights of `needed`. */
function atLeast(role, needed) {
  return (RANK[role] || 0) >= RANK[needed];
}

module.exports = { ROLES: Object.keys(RANK), atLeast };
