/**
 * The fund's policies (api/policies/*, wired in config/policies.js): a bearer token, then a role
 * of at least the one an action needs (api/lib/roles.ts); the admin page's cookie session for the
 * hook's ops page.
 */
import { userOfToken } from './auth';
import type { Role } from './domain';
import { type FundPolicy, sendError } from './http';
import { atLeast } from './roles';

/** Requires `Authorization: Bearer <token>`; sets `req.me = {id, role}`. */
export const authenticated: FundPolicy = async (req, res, proceed) => {
  const match = /^Bearer (\S+)$/.exec(req.get('authorization') ?? '');
  const me = match ? await userOfToken(req._sails, match[1]) : null;
  if (!me) {
    sendError(res, 'unauthorized', 'a valid bearer token is required (POST /api/auth/login)');
    return;
  }
  req.me = me;
  return proceed();
};

/** Allows `role` and above. */
function atLeastRole(role: Role): FundPolicy {
  return (req, res, proceed) => {
    if (req.me && atLeast(req.me.role, role)) return proceed();
    sendError(res, 'forbidden', `role ${req.me ? req.me.role : 'anonymous'} may not do this (needs ${role} or above)`);
    return undefined;
  };
}

export const canRead = atLeastRole('readonly');
export const canMonitor = atLeastRole('monitor');
export const canWrite = atLeastRole('readwrite');
export const isAdmin = atLeastRole('admin');

/**
 * The admin page's cookie session, for the hook's ops page (/admin/ops; config/policies.js): a
 * signed-in user of any role may look; the ops page's `actor` (api/lib/admin) decides who acts.
 */
export const adminSession: FundPolicy = (req, res, proceed) => {
  if (req.session?.me) return proceed();
  if (req.method === 'GET' || req.method === 'HEAD') return res.redirect('/admin/login');
  return res.status(401).type('text/plain').send('sign in first');
};
