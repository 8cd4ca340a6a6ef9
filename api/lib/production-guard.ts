/**
 * What must not reach production: a missing or development secret, Sails' default port,
 * sails-disk, or no Redis for sessions and login limits — the mistakes that put money at risk
 * before any request. Pure: the environment and the config in, the problems out.
 */
import type { FundConfig } from './app';

export function productionProblems(env: NodeJS.ProcessEnv, config: Pick<FundConfig, 'custom' | 'session'>): string[] {
  if (env.NODE_ENV !== 'production') return [];
  const problems: string[] = [];
  const secret = env.PAYMENT_WEBHOOK_SECRET;
  if (!secret || secret === config.custom.DEV_WEBHOOK_SECRET || secret.length < 32) {
    problems.push('PAYMENT_WEBHOOK_SECRET must be set to a production secret of at least 32 characters');
  }
  const sessionSecret = env.SESSION_SECRET;
  if (!sessionSecret || sessionSecret === config.session?.DEV_SESSION_SECRET || sessionSecret.length < 32) {
    problems.push('SESSION_SECRET must be set to a production secret of at least 32 characters (the admin page signs its session cookie with it)');
  }
  if (env.PAYMENT_GATEWAY_URL && !env.PAYMENT_CALLBACK_URL) problems.push('PAYMENT_CALLBACK_URL must be set with PAYMENT_GATEWAY_URL (the public URL of POST /api/payment/callback, registered with every payment)');
  if (!env.REDIS_URL) {
    problems.push('REDIS_URL must be set: admin sessions and login limits live in Redis so that every instance sees the same (in-process memory is for development only)');
  }
  if (!env.PORT || Number(env.PORT) === 1337) problems.push('PORT must be set, and not to the default 1337');
  if ((env.DATASTORE || 'disk') === 'disk') problems.push('DATASTORE must be mongo or postgresql: sails-disk is single-process and for development only');
  return problems;
}

/** Throws the refusal to start when `productionProblems` finds any (the fund hook at configure; the scripts, which load the app without that hook). */
export function refuseUnsafeProduction(env: NodeJS.ProcessEnv, config: Pick<FundConfig, 'custom' | 'session'>): void {
  const problems = productionProblems(env, config);
  if (problems.length > 0) throw new Error(`refusing to start in production:\n- ${problems.join('\n- ')}`);
}
