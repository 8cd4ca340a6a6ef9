/**
 * DATASTORE=disk (default: embedded sails-disk, no server) | mongo (MONGO_URL) | postgresql (PG_URL).
 */
const kind = process.env.DATASTORE || 'disk';

function datastore() {
  switch (kind) {
    case 'disk':
      // files in .tmp/localDiskDb/ unless TRANSACT_DISK_DIR says otherwise
      return process.env.TRANSACT_DISK_DIR ? { adapter: 'sails-disk', dir: process.env.TRANSACT_DISK_DIR } : { adapter: 'sails-disk' };
    case 'mongo':
      if (!process.env.MONGO_URL) throw new Error('DATASTORE=mongo needs MONGO_URL');
      return { adapter: 'sails-mongo', url: process.env.MONGO_URL };
    case 'postgresql':
      if (!process.env.PG_URL) throw new Error('DATASTORE=postgresql needs PG_URL');
      return { adapter: 'sails-postgresql', url: process.env.PG_URL };
    default:
      throw new Error(`DATASTORE must be disk, mongo or postgresql, not "${kind}"`);
  }
}

module.exports.datastores = { default: datastore() };
