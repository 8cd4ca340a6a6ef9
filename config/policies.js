module.exports.policies = {
  // Until roles arrive, only reads are open: blueprint writes would bypass the transaction log.
  AccountController: { create: false, update: false, destroy: false, add: false, remove: false, replace: false },
  TransferController: { create: false, update: false, destroy: false, add: false, remove: false, replace: false },
};
