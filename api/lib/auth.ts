/**
 * Passwords (scrypt, per-user salt), bearer tokens (random, stored only as SHA-256, expiring)
 * and the login check (rate-limited, constant work). Plain functions over the User and Token models.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { FundApp } from './app';
import type { User } from './domain';
import type { Caller } from './http';
import { limiterOf } from './login-limit';

const KEY_LENGTH = 64;
const TOKEN_TTL_MS = Number(process.env.TRANSACT_TOKEN_TTL_MS) || 12 * 60 * 60 * 1000;

function scryptKey(password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, KEY_LENGTH, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptKey(password, salt);
  return `scrypt$${salt.toString('hex')}$${key.toString('hex')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, saltHex, keyHex] = String(stored).split('$');
  if (scheme !== 'scrypt' || !saltHex || !keyHex) return false;
  const key = await scryptKey(password, Buffer.from(saltHex, 'hex'));
  const expected = Buffer.from(keyHex, 'hex');
  return expected.length === key.length && timingSafeEqual(expected, key);
}

export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 24);
}

/** Issues a token for a user; only its digest is stored. */
export async function issueToken(app: FundApp, user: Pick<User, 'id' | 'role'>): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await app.models.token.create({ id: tokenDigest(token), user: user.id, role: user.role, expiresAt: Date.now() + TOKEN_TTL_MS });
  return token;
}

/** The user a bearer token belongs to, or null if unknown or expired. */
export async function userOfToken(app: FundApp, token: string): Promise<Caller | null> {
  if (token.length < 20 || token.length > 200) return null;
  const record = await app.models.token.findOne({ id: tokenDigest(token) });
  if (!record || record.expiresAt < Date.now()) return null;
  return { id: record.user, role: record.role };
}

/**
 * What an unknown username is checked against, so it takes as long as a known one with a wrong
 * password: the scrypt work is what dominates a login, and it is done either way.
 */
const DUMMY_HASH = hashPassword(randomBytes(24).toString('base64url'));

export type LoginResult = { user: User } | { retryAfterMs: number } | Record<string, never>;

/**
 * One login, for the API and the admin form alike: counted by the app's limiter
 * (api/lib/login-limit.ts) before the password is checked, the same work whether the user exists
 * or not. `{user}` when right, `{retryAfterMs}` when a limit is reached, `{}` otherwise.
 */
export async function checkLogin(app: FundApp, username: string, password: string, ip: string): Promise<LoginResult> {
  const limiter = limiterOf(app);
  const attempt = await limiter.attempt(username, ip);
  if (!attempt.allowed) return { retryAfterMs: attempt.retryAfterMs };
  const user = await app.models.user.findOne({ username });
  const ok = await verifyPassword(password, user ? user.passwordHash : await DUMMY_HASH);
  if (!user || !ok) return {};
  await limiter.succeeded(username, ip);
  return { user };
}

/** Whole seconds for a Retry-After header (at least 1). */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
