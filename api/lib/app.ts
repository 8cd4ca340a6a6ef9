/**
 * The Sails app as the fund sees it: its models (typed by api/lib/domain.ts), its settings, and the
 * hook's public API. Every service takes it explicitly (jobs from their context, actions from
 * `req._sails`): no module reads a global.
 */
import type { Transact, TransactHook } from 'sails-hook-transact';
import type { Account, AccountEntry, Allocation, Investor, LedgerEntry, Loan, Order, Payment, Platform, Token, User } from './domain';

export interface Model<T> {
  find(criteria?: Record<string, unknown>): PromiseLike<T[]>;
  findOne(criteria: Record<string, unknown>): PromiseLike<T | undefined>;
  count(criteria?: Record<string, unknown>): PromiseLike<number>;
  create(values: Partial<T> & Record<string, unknown>): { fetch(): PromiseLike<T> } & PromiseLike<unknown>;
}

export interface FundModels {
  investor: Model<Investor>;
  platform: Model<Platform>;
  loan: Model<Loan>;
  order: Model<Order>;
  allocation: Model<Allocation>;
  payment: Model<Payment>;
  ledgerentry: Model<LedgerEntry>;
  user: Model<User>;
  token: Model<Token>;
  account: Model<Account>;
  accountentry: Model<AccountEntry>;
  transfer: Model<{ id: string; from: string; to: string; amount: number; memo?: string | null }>;
  /** The hook's log (read for the dashboard's counts by state and time). */
  transactlog: Model<{ id: string; state: string; startedAt: number; endedAt: number | null; documents: string[] }>;
}

/** The payment gateway's settings and the dropped-orders job's (config/custom.js `gateway`). */
export interface GatewaySettings {
  url: string;
  timeoutMs: number;
  attempts: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  droppedAfterMs: number;
  pendingMaxAgeMs: number;
  callbackUrl: string;
  batchSize: number;
  claimMs: number;
}

export interface FundConfig {
  port: number;
  appPath: string;
  environment: string;
  custom: {
    DEV_WEBHOOK_SECRET: string;
    paymentWebhookSecret: string;
    loginLimits: { perUser: number; perAddress: number; windowMs: number };
    gateway: GatewaySettings;
  };
  transact: { maxOps?: number };
  session?: { DEV_SESSION_SECRET?: string; REDIS_PREFIX?: string; client?: unknown };
  policies: Record<string, unknown>;
}

export interface FundLog {
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

export interface FundApp {
  config: FundConfig;
  models: FundModels;
  hooks: { transact: TransactHook };
  log: FundLog;
  /** The hook's `sails.transact(batch | work, options)`. */
  transact: Transact;
}

/** The hook of an app (set once it has initialized). */
export function transactOf(app: FundApp): TransactHook {
  return app.hooks.transact;
}

/**
 * State the fund keeps per app (counters, the login limiter, metrics, caches), on the app object
 * itself under a process-wide symbol, never in a module-level map: Sails re-requires controllers
 * and their children when it loads them, so a module (and a map in it) may exist twice in one
 * process — the job's copy and the controllers' copy must see the same counters. Several apps may
 * live in one process (tests): each has its own.
 */
export function appState<T>(app: FundApp, key: string, make: () => T): T {
  const symbol = Symbol.for(`sails-hook-transact.fund.${key}`);
  const holder = app as unknown as Record<symbol, T | undefined>;
  let value = holder[symbol];
  if (value === undefined) {
    value = make();
    Object.defineProperty(app, symbol, { value, writable: true });
  }
  return value;
}
