/**
 * The demo runs on sails-disk: embedded, no server. See the README for MongoDB and PostgreSQL.
 */
module.exports.datastores = {
  default: {
    // sails-disk keeps its files in .tmp/localDiskDb/.
    adapter: 'sails-disk',
  },
};
