/**
 * Model defaults. `migrate` is 'safe' everywhere: Waterline's 'alter' drops every table and
 * reinserts its rows in one statement, which PostgreSQL refuses past 65,535 parameters (~9,360
 * allocations), after the drop. The schema is evolved without dropping anything: at lift outside
 * production (config/transact.js, evolveModels), and by `npm run migrate` at deploy. (With
 * 'alter' or 'drop' the transact hook refuses to lift over a table that holds rows.)
 *
 * Transactional models need ids the engine can choose before inserting (so a
 * crash after an insert can be undone): string primary keys, never auto-increment. On
 * sails-mongo the primary key is the `_id` column.
 */
const mongo = process.env.DATASTORE === 'mongo';

module.exports.models = {
  datastore: 'default',
  migrate: 'safe',
  dontUseObjectIds: true,
  attributes: {
    id: mongo ? { type: 'string', required: true, columnName: '_id' } : { type: 'string', required: true },
    createdAt: { type: 'number', autoCreatedAt: true },
    updatedAt: { type: 'number', autoUpdatedAt: true },
  },
};
