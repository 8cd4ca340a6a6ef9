/**
 * Model defaults. Transactional models need ids the engine can choose before inserting (so a
 * crash after an insert can be undone): string primary keys, never auto-increment.
 * On sails-mongo, add `columnName: '_id'` to `id` (see config/env/production.js).
 */
module.exports.models = {
  datastore: 'default',
  migrate: 'alter',
  dontUseObjectIds: true,
  attributes: {
    id: { type: 'string', required: true },
    createdAt: { type: 'number', autoCreatedAt: true },
    updatedAt: { type: 'number', autoUpdatedAt: true },
  },
};
