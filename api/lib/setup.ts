/**
 * The fund's own Sails hook (api/hooks/fund): refuses to start in production with unsafe settings
 * (production-guard.ts), and once the transact hook is up makes sure an administrator exists and
 * seeds two demo accounts on an empty development database (through the engine, so even the seed
 * is logged). A hook rather than config/bootstrap.js: Sails hands a hook its app, and a bootstrap
 * function only the global.
 */
import { randomBytes } from 'node:crypto';
import { newId } from 'sails-hook-transact';
import type { FundApp } from './app';
import { hashPassword } from './auth';
import { openAccount } from './fund';
import { refuseUnsafeProduction } from './production-guard';

/** The first administrator, made when none exists; its generated password is shown once (only its hash is stored). */
async function ensureAdmin(app: FundApp): Promise<void> {
  if ((await app.models.user.count({ role: 'admin' })) > 0) return;
  const username = process.env.TRANSACT_ADMIN_USER || 'admin';
  const given = process.env.TRANSACT_ADMIN_PASSWORD;
  const password = given || randomBytes(18).toString('base64url');
  await app.models.user.create({ id: newId(), username, passwordHash: await hashPassword(password), role: 'admin' });
  if (!given) {
    app.log.warn(`created the first administrator "${username}" with the password: ${password}  (set TRANSACT_ADMIN_USER / TRANSACT_ADMIN_PASSWORD to choose them)`);
  }
}

async function seedDemoAccounts(app: FundApp): Promise<void> {
  if (app.config.environment !== 'development' || (await app.models.account.count()) > 0) return;
  await openAccount(app, { owner: 'Alice', balance: 100000 }, 'a00000000000000000000001');
  await openAccount(app, { owner: 'Bob', balance: 50000 }, 'a00000000000000000000002');
}

export interface SetupApp extends FundApp {
  after(event: string, handler: () => void): void;
}

export function fundHook(app: SetupApp): { configure(): void; initialize(done: (err?: Error) => void): void } {
  return {
    configure() {
      refuseUnsafeProduction(process.env, app.config);
    },
    initialize(done) {
      app.after('hook:transact:loaded', () => {
        ensureAdmin(app)
          .then(() => seedDemoAccounts(app))
          .then(
            () => done(),
            (err: unknown) => done(err instanceof Error ? err : new Error(String(err))),
          );
      });
    },
  };
}
