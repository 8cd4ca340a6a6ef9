/** Allows role admin and above (see api/lib/roles.js). */
const { atLeast } = require('../lib/roles');
const { sendError } = require('../lib/http-errors');

module.exports = function isAdmin(req, res, proceed) {
  if (req.me && atLeast(req.me.role, 'admin')) return proceed();
  return sendError(res, 'forbidden', `role ${req.me ? req.me.role : 'anonymous'} may not do this (needs admin or above)`);
};
