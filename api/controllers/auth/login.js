/**
 * POST /api/auth/login {username, password} → {token, role}. Rate-limited per username and per
 * client address, on the same counters as the admin form (api/lib/auth.js checkLogin); the same
 * answer, after the same work, for an unknown user and a wrong password.
 */
const Joi = require('joi');
const { checkLogin, issueToken, retryAfterSeconds } = require('../../lib/auth');
const { sendError } = require('../../lib/http-errors');
const { validateBody } = require('../../lib/validate');

const schema = Joi.object({ username: Joi.string().min(1).max(100).required(), password: Joi.string().min(1).max(200).required() });

module.exports = async function login(req, res) {
  const body = validateBody(req, res, schema);
  if (body === undefined) return;
  const result = await checkLogin(sails, body.username, body.password, req.ip);
  if (result.retryAfterMs !== undefined) {
    const seconds = retryAfterSeconds(result.retryAfterMs);
    res.set('Retry-After', String(seconds));
    return sendError(res, 'rate_limited', `too many login attempts; retry in ${seconds} s`);
  }
  if (!result.user) return sendError(res, 'unauthorized', 'wrong username or password');
  const token = await issueToken(sails, result.user);
  return res.json({ token, role: result.user.role });
};
