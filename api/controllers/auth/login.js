/**
 * POST /api/auth/login {username, password} → {token, role, expiresAt}. Rate-limited per
 * username and per client address; the same answer for an unknown user and a wrong password.
 */
const Joi = require('joi');
const { verifyPassword, issueToken, LoginLimiter } = require('../../lib/auth');
const { sendError } = require('../../lib/http-errors');
const { validateBody } = require('../../lib/validate');

const limiter = new LoginLimiter();
const schema = Joi.object({ username: Joi.string().min(1).max(100).required(), password: Joi.string().min(1).max(200).required() });

module.exports = async function login(req, res) {
  const body = validateBody(req, res, schema);
  if (body === undefined) return;
  const keys = [`user:${body.username}`, `ip:${req.ip}`];
  if (limiter.blocked(keys)) return sendError(res, 'rate_limited', 'too many failed logins; wait a minute');
  const user = await sails.models.user.findOne({ username: body.username });
  if (!user || !(await verifyPassword(body.password, user.passwordHash))) {
    limiter.fail(keys);
    return sendError(res, 'unauthorized', 'wrong username or password');
  }
  limiter.reset(keys);
  const token = await issueToken(sails, user);
  return res.json({ token, role: user.role });
};
