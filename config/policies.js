/**
 * Until roles arrive, only reads are open: blueprint writes would bypass the transaction log.
 */
module.exports.policies = {
  'account/create': false,
  'account/update': false,
  'account/destroy': false,
  'account/add': false,
  'account/remove': false,
  'account/replace': false,
  'transfer/update': false,
  'transfer/destroy': false,
  'transfer/add': false,
  'transfer/remove': false,
  'transfer/replace': false,
};
