/**
 * The fund app lifted over HTTP on one adapter, with a supertest agent and logged-in users of
 * every role. Secrets come from the environment, as in production.
 */
import { createHmac } from 'node:crypto';
import request from 'supertest';
import type { LoadedApp } from './app';
import { loadApp, lowerApp } from './app';
import type { Target } from './targets';

export const ADMIN = { username: 'root', password: 'root-password-only-for-tests' };
export const WEBHOOK_SECRET = 'webhook-secret-for-tests-0123456789abcdef';
export type Role = 'admin' | 'monitor' | 'readwrite' | 'readonly';

process.env.TRANSACT_ADMIN_USER = ADMIN.username;
process.env.TRANSACT_ADMIN_PASSWORD = ADMIN.password;
process.env.PAYMENT_WEBHOOK_SECRET = WEBHOOK_SECRET;
// Apps lifted in this process keep sessions and login counts in memory, each app its own, whatever
// the shell says; Redis is tested with real processes (instances.test, production.test).
delete process.env.REDIS_URL;

export interface FundApp {
  app: LoadedApp;
  http: () => request.Agent;
  /** A bearer token for a user of each role (created through the API by the admin). */
  tokens: Record<Role, string>;
  /** `Authorization` header value for a role. */
  auth(role: Role): string;
}

type HttpApp = LoadedApp & { hooks: LoadedApp['hooks'] & { http: { app: Parameters<typeof request>[0] } } };

/** `config`: more Sails configuration, e.g. `{ http: { trustProxy: 'loopback' } }` to test per-address rules with X-Forwarded-For. */
export async function liftFund(target: Target, config?: Record<string, unknown>): Promise<FundApp> {
  const app = (await loadApp(target, { migrate: 'drop', http: true, config })) as HttpApp;
  const http = (): request.Agent => request.agent(app.hooks.http.app);
  const login = async (username: string, password: string): Promise<string> => {
    const res = await http().post('/api/auth/login').send({ username, password }).expect(200);
    return res.body.token as string;
  };
  const admin = await login(ADMIN.username, ADMIN.password);
  const tokens: Record<Role, string> = { admin, monitor: '', readwrite: '', readonly: '' };
  for (const role of ['monitor', 'readwrite', 'readonly'] as const) {
    const password = `password-of-${role}-user`;
    await http().post('/api/user').set('Authorization', `Bearer ${admin}`).send({ username: `${role}-user`, password, role }).expect(201);
    tokens[role] = await login(`${role}-user`, password);
  }
  return { app, http, tokens, auth: (role) => `Bearer ${tokens[role]}` };
}

export function lowerFund(fund: FundApp | undefined): Promise<void> {
  return fund === undefined ? Promise.resolve() : lowerApp(fund.app);
}

/** The X-Signature the gateway sends: hex HMAC-SHA256 of the raw body. */
export function sign(rawBody: string, secret = WEBHOOK_SECRET): string {
  return createHmac('sha256', secret).update(rawBody).digest('hex');
}
