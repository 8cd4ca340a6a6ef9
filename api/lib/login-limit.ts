/**
 * Login rate limits, one set per app shared by every way in (the API's POST /api/auth/login and
 * the admin form) and, with Redis, by every instance. Each key (`user:<name>`, `ip:<address>`)
 * allows `limit` attempts per fixed window that starts at its first attempt.
 *
 * An attempt is counted before the password is checked (check-and-count is one atomic step), so
 * concurrent guesses, or guesses spread over instances, cannot all slip under the limit. A
 * correct password then clears that user's own counter and takes back only its own count on the
 * address — never the failures before it — so logging in to one's own account does not buy more
 * guesses at others'. Attempts refused with 429 are not counted: the window is not extended.
 */

import { appState, type FundApp } from './app';

/** One key's limit, as acquire checks it. */
export interface KeyLimit {
  key: string;
  limit: number;
}

export interface Acquired {
  allowed: boolean;
  retryAfterMs: number;
}

/** Where the counts live: this process, or Redis. */
export interface LimitStore {
  acquire(limits: readonly KeyLimit[], windowMs: number): Promise<Acquired>;
  release(key: string): Promise<void>;
  clear(key: string): Promise<void>;
}

/** In this process only: development and tests (production refuses to start without Redis). */
export class MemoryLimitStore implements LimitStore {
  private readonly entries = new Map<string, { count: number; expiresAt: number }>();

  constructor(private readonly maxKeys = 100_000) {}

  private live(key: string, now: number): { count: number; expiresAt: number } | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Many usernames must not grow memory without bound: expired keys go first, then the oldest. */
  private makeRoom(now: number): void {
    if (this.entries.size < this.maxKeys) return;
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
    const excess = this.entries.size - this.maxKeys + 1;
    if (excess <= 0) return;
    let dropped = 0;
    for (const key of this.entries.keys()) {
      if (dropped++ >= excess) break;
      this.entries.delete(key);
    }
  }

  async acquire(limits: readonly KeyLimit[], windowMs: number): Promise<Acquired> {
    const now = Date.now();
    let waitMs = 0;
    for (const { key, limit } of limits) {
      const entry = this.live(key, now);
      if (entry !== undefined && entry.count >= limit) waitMs = Math.max(waitMs, entry.expiresAt - now);
    }
    if (waitMs > 0) return { allowed: false, retryAfterMs: waitMs };
    for (const { key } of limits) {
      const entry = this.live(key, now);
      if (entry === undefined) {
        this.makeRoom(now);
        this.entries.set(key, { count: 1, expiresAt: now + windowMs });
      } else entry.count += 1;
    }
    return { allowed: true, retryAfterMs: 0 };
  }

  async release(key: string): Promise<void> {
    const entry = this.live(key, Date.now());
    if (entry !== undefined && entry.count > 0) entry.count -= 1;
  }

  async clear(key: string): Promise<void> {
    this.entries.delete(key);
  }
}

/**
 * All keys checked, then all counted, in one Lua script: no other instance runs between the
 * check and the count. The window's expiry is set with the first count, in the same script, so a
 * key never lives without one. (One Redis, not a cluster: the keys of one call may hash to
 * different slots.)
 */
const ACQUIRE = `
local wait = 0
for i, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      redis.call('PEXPIRE', key, ARGV[1])
      ttl = tonumber(ARGV[1])
    end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return {0, wait} end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return {1, 0}
`;

/** Takes back one count, never below zero and never on an expired key (DECR keeps the TTL). */
const RELEASE = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return 0
`;

/** The part of the redis@3 client (callback API) the store uses. */
export interface RedisClient {
  eval(script: string, keyCount: number, ...args: [...(string | number)[], (err: Error | null, reply: unknown) => void]): unknown;
  del(key: string, done: (err: Error | null) => void): unknown;
}

/** Over the Redis client Sails made for the session store. */
export class RedisLimitStore implements LimitStore {
  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
  ) {}

  private run(script: string, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.client.eval(script, keys.length, ...keys.map((key) => this.prefix + key), ...args.map(String), (err: Error | null, reply: unknown) => (err ? reject(err) : resolve(reply)));
    });
  }

  async acquire(limits: readonly KeyLimit[], windowMs: number): Promise<Acquired> {
    const [allowed, wait] = (await this.run(ACQUIRE, limits.map((l) => l.key), [windowMs, ...limits.map((l) => l.limit)])) as [unknown, unknown];
    return { allowed: Number(allowed) === 1, retryAfterMs: Number(wait) };
  }

  async release(key: string): Promise<void> {
    await this.run(RELEASE, [key], []);
  }

  async clear(key: string): Promise<void> {
    await new Promise<void>((resolve, reject) => this.client.del(this.prefix + key, (err) => (err ? reject(err) : resolve())));
  }
}

export class LoginLimiter {
  /** `limits`: attempts per window per username and per client address. */
  constructor(
    private readonly store: LimitStore,
    private readonly limits: { user: number; ip: number } = { user: 5, ip: 30 },
    private readonly windowMs = 60_000,
  ) {}

  private keysOf(username: string, ip: string): { user: string; ip: string } {
    return { user: `user:${username}`, ip: `ip:${ip}` };
  }

  /** Counts an attempt; `{allowed: false, retryAfterMs}` when a limit is already reached. */
  attempt(username: string, ip: string): Promise<Acquired> {
    const keys = this.keysOf(username, ip);
    return this.store.acquire([{ key: keys.user, limit: this.limits.user }, { key: keys.ip, limit: this.limits.ip }], this.windowMs);
  }

  /** A correct password: this user starts over; the address only gets this attempt back. */
  async succeeded(username: string, ip: string): Promise<void> {
    const keys = this.keysOf(username, ip);
    await this.store.clear(keys.user);
    await this.store.release(keys.ip);
  }
}

/**
 * The app's limiter: in Redis when the session store is (config/session.js, REDIS_URL), over the
 * client Sails connected for it; in this process otherwise. One per app, so each lifted app (a
 * test's) starts with no counts.
 */
export function limiterOf(app: FundApp): LoginLimiter {
  return appState(app, 'loginLimiter', () => {
    const session = app.config.session ?? {};
    const settings = app.config.custom.loginLimits;
    const client = session.client as RedisClient | undefined;
    const store = client && typeof client.eval === 'function' ? new RedisLimitStore(client, `${session.REDIS_PREFIX || 'fund:'}login:`) : new MemoryLimitStore();
    return new LoginLimiter(store, { user: settings.perUser || 5, ip: settings.perAddress || 30 }, settings.windowMs || 60_000);
  });
}
