/**
 * Model defaults. Transactional models need ids the engine can choose before inserting (so a
 * crash after an insert can be undone): string primary keys, never auto-increment. On
 * sails-mongo the primary key is the `_id` column.
 */
const mongo = process.env.DATASTORE === 'mongo';

module.exports.models = {
  datastore: 'default',
  migrate: process.env.NODE_ENV === 'production' ? 'safe' : 'alter',
  dontUseObjectIds: true,
  attributes: {
    id: mongo ? { type: 'string', required: true, columnName: '_id' } : { type: 'string', required: true },
    createdAt: { type: 'number', autoCreatedAt: true },
    updatedAt: { type: 'number', autoUpdatedAt: true },
  },
};
