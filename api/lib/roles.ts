/**
 * Roles and what each may do: one table, used by the policies and documented in docs/fund-app.md.
 */
import type { Role } from './domain';
import type { FundRequest } from './http';

const RANK: Readonly<Record<Role, number>> = { readonly: 1, monitor: 2, readwrite: 3, admin: 4 };

export const ROLES = Object.keys(RANK) as Role[];

/**
 * Who is asking, as the log records it (config/transact.js `routes.who`): also the scope of the
 * caller's Idempotency-Keys, on the hook's endpoints and the fund's alike, so two users' same key
 * names two transactions. A user's id, never its name: a renamed user keeps its keys.
 */
export function callerOf(req: Pick<FundRequest, 'me'>): string {
  return req.me ? `user ${req.me.id}` : 'anonymous';
}

/**
 * Who sees every caller's idempotency keys (`routes.maySeeAllKeys`): the operators — admin, and
 * monitor (who watches stuck transactions and reconciliation, and must find a client's keyed
 * transaction when asked). readwrite and readonly see their own keys only. Not a rank: monitor
 * is below readwrite, which still sees only its own.
 */
export function maySeeAllKeys(req: Pick<FundRequest, 'me'>): boolean {
  const role = req.me?.role;
  return role === 'admin' || role === 'monitor';
}

/** Whether `role` has at least the rights of `needed`. */
export function atLeast(role: string | null | undefined, needed: Role): boolean {
  return (role !== null && role !== undefined && Object.prototype.hasOwnProperty.call(RANK, role) ? RANK[role as Role] : 0) >= RANK[needed];
}

/**
 * Whether the caller may read a model's history (GET /api/history/:model/:id, the hook's
 * `routes.mayReadHistory`): the history shows whole images, so it follows the model's blueprint
 * read policy (`token/*: false`, `user/*` admin only).
 */
export function mayReadHistory(req: FundRequest, model: string): boolean {
  return roleMayReadHistory(req._sails.config.policies, req.me?.role, model);
}

/** The same rule for a role, wherever it comes from (a bearer token, the admin session on the hook's ops page). */
export function roleMayReadHistory(policies: Readonly<Record<string, unknown>>, role: string | null | undefined, model: string): boolean {
  const policy = policies[`${model}/*`];
  const list = Array.isArray(policy) ? (policy as unknown[]) : [policy]; // Sails turns `false` into `[false]`
  if (list.includes(false)) return false;
  return !list.includes('isAdmin') || atLeast(role, 'admin');
}
