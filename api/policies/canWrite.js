/** Allows role readwrite and above (see api/lib/roles.js). */
const { atLeast } = require('../lib/roles');
const { sendError } = require('../lib/http-errors');

module.exports = function canWrite(req, res, proceed) {
  if (req.me && atLeast(req.me.role, 'readwrite')) return proceed();
  return sendError(res, 'forbidden', `role ${req.me ? req.me.role : 'anonymous'} may not do this (needs readwrite or above)`);
};
