/**
 * sails-hook-transact settings (all optional; the defaults are shown in the README).
 */
module.exports.transact = {
  datastore: 'default',
  leaseMs: 30000,
  lockTimeoutMs: 10000,
  recoveryIntervalMs: 10000,
};
