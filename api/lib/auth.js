/**
 * Passwords (scrypt, per-user salt), bearer tokens (random, stored only as SHA-256, expiring)
 * and a login rate limit. Plain functions over the User and Token models.
 */
const { randomBytes, scrypt, timingSafeEqual, createHash } = require('node:crypto');
const { promisify } = require('node:util');

const scryptAsync = promisify(scrypt);
const KEY_LENGTH = 64;
const TOKEN_TTL_MS = Number(process.env.TRANSACT_TOKEN_TTL_MS) || 12 * 60 * 60 * 1000;

async function hashPassword(password) {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, KEY_LENGTH);
  return `scrypt$${salt.toString('hex')}$${key.toString('hex')}`;
}

async function verifyPassword(password, stored) {
  const [scheme, saltHex, keyHex] = String(stored).split('$');
  if (scheme !== 'scrypt' || !saltHex || !keyHex) return false;
  const key = await scryptAsync(password, Buffer.from(saltHex, 'hex'), KEY_LENGTH);
  const expected = Buffer.from(keyHex, 'hex');
  return expected.length === key.length && timingSafeEqual(expected, key);
}

function tokenDigest(token) {
  return createHash('sha256').update(token).digest('hex').slice(0, 24);
}

/** Issues a token for a user; only its digest is stored. */
async function issueToken(sails, user) {
  const token = randomBytes(32).toString('base64url');
  await sails.models.token.create({ id: tokenDigest(token), user: user.id, role: user.role, expiresAt: Date.now() + TOKEN_TTL_MS });
  return token;
}

/** The user a bearer token belongs to, or null if unknown or expired. */
async function userOfToken(sails, token) {
  if (typeof token !== 'string' || token.length < 20 || token.length > 200) return null;
  const record = await sails.models.token.findOne({ id: tokenDigest(token) });
  if (!record || record.expiresAt < Date.now()) return null;
  return { id: record.user, role: record.role };
}

/**
 * Failed logins allowed within `windowMs`: 5 per username, 30 per client address (so one office
 * behind a NAT is not locked out by one user), counted in this process (several instances each
 * keep their own count). Keys are `user:<name>` and `ip:<address>`.
 */
class LoginLimiter {
  constructor(limits = { user: 5, ip: 30 }, windowMs = 60_000) {
    this.limits = limits;
    this.windowMs = windowMs;
    this.failures = new Map();
  }
  blocked(keys) {
    const now = Date.now();
    return keys.some((key) => (this.failures.get(key) || []).filter((at) => now - at < this.windowMs).length >= this.limits[key.split(':')[0]]);
  }
  fail(keys) {
    const now = Date.now();
    for (const key of keys) this.failures.set(key, [...(this.failures.get(key) || []).filter((at) => now - at < this.windowMs), now]);
  }
  reset(keys) {
    for (const key of keys) this.failures.delete(key);
  }
}

module.exports = { hashPassword, verifyPassword, issueToken, userOfToken, LoginLimiter, tokenDigest };
