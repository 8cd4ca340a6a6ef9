/** Requires `Authorization: Bearer <token>`; sets `req.me = {id, role}`. */
const { userOfToken } = require('../lib/auth');
const { sendError } = require('../lib/http-errors');

module.exports = async function authenticated(req, res, proceed) {
  const header = req.get('authorization') || '';
  const match = /^Bearer (\S+)$/.exec(header);
  const me = match ? await userOfToken(sails, match[1]) : null;
  if (!me) return sendError(res, 'unauthorized', 'a valid bearer token is required (POST /api/auth/login)');
  req.me = me;
  return proceed();
};
