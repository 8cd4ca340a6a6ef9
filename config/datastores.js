/**
 * The demo runs on sails-disk: embedded, no server. See the README for MongoDB and PostgreSQL.
 */
module.exports.datastores = {
  default: {
    adapter: 'sails-disk',
    dir: '.tmp/localDiskDb',
  },
};
