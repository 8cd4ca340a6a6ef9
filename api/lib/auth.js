/**
 * Passwords (scrypt, per-user salt), bearer tokens (random, stored only as SHA-256, expiring)
 * and the login check (rate-limited, constant work). Plain functions over the User and Token models.
 */
const { randomBytes, scrypt, timingSafeEqual, createHash } = require('node:crypto');
const { promisify } = require('node:util');
const { limiterOf } = require('./login-limit');

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
 * What an unknown username is checked against, so it takes as long as a known one with a wrong
 * password: the scrypt work is what dominates a login, and it is done either way.
 */
const DUMMY_HASH = hashPassword(randomBytes(24).toString('base64url'));

/**
 * One login, for the API and the admin form alike: counted by the app's limiter
 * (api/lib/login-limit.js) before the password is checked, the same work whether the user exists
 * or not. `{user}` when right, `{retryAfterMs}` when a limit is reached, `{}` otherwise.
 */
async function checkLogin(app, username, password, ip) {
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
function retryAfterSeconds(ms) {
  return Math.max(1, Math.ceil(ms / 1000));
}

module.exports = { hashPassword, verifyPassword, issueToken, userOfToken, checkLogin, retryAfterSeconds, tokenDigest };
