/**
 * Signing in to the API, and the admin's user management.
 */
import Joi = require('joi');
import { newId } from 'sails-hook-transact';
import { checkLogin, hashPassword, issueToken, retryAfterSeconds } from '../auth';
import type { Role } from '../domain';
import { type FundAction, sendError, validBody } from '../http';
import { ROLES } from '../roles';

const loginSchema = Joi.object<{ username: string; password: string }>({ username: Joi.string().min(1).max(100).required(), password: Joi.string().min(1).max(200).required() });

/**
 * POST /api/auth/login {username, password} → {token, role}. Counted by the login limits
 * (api/lib/login-limit.ts: per user and per address; 429 `rate_limited` with Retry-After); the same
 * answer, after the same work, for an unknown user and a wrong password.
 */
export const login: FundAction = async (req, res) => {
  const body = validBody(req, res, loginSchema);
  if (body === undefined) return;
  const result = await checkLogin(req._sails, body.username, body.password, req.ip);
  if ('retryAfterMs' in result) {
    const seconds = retryAfterSeconds(result.retryAfterMs);
    res.set('Retry-After', String(seconds));
    sendError(res, 'rate_limited', `too many login attempts; retry in ${seconds} s`);
    return;
  }
  if (!('user' in result)) {
    sendError(res, 'unauthorized', 'wrong username or password');
    return;
  }
  const token = await issueToken(req._sails, result.user);
  res.json({ token, role: result.user.role });
};

const userSchema = Joi.object<{ username: string; password: string; role: Role }>({
  username: Joi.string().pattern(/^[A-Za-z0-9_.@-]+$/).min(3).max(100).required(),
  password: Joi.string().min(12).max(200).required(),
  role: Joi.string().valid(...ROLES).required(),
});

/**
 * POST /api/user {username, password, role} (admin) → the user, without its password hash.
 * Usernames are unique whatever their case (`ADMIN` beside `admin` is someone impersonating the
 * administrator on every page that shows a name). Compared here over every username, not by the
 * datastore: case rules differ per adapter, and existing users (the fund has few) stay as they are.
 */
export const createUser: FundAction = async (req, res) => {
  const body = validBody(req, res, userSchema);
  if (body === undefined) return;
  const users = req._sails.models.user;
  const wanted = body.username.toLowerCase();
  const taken = (await users.find({})).find((user) => String(user.username).toLowerCase() === wanted);
  if (taken !== undefined) {
    sendError(res, 'already_exists', taken.username === body.username ? `user ${body.username} exists` : `user ${taken.username} exists (usernames are unique whatever their case)`, 'body.username');
    return;
  }
  const user = await users.create({ id: newId(), username: body.username, passwordHash: await hashPassword(body.password), role: body.role }).fetch();
  res.status(201).json(user);
};
