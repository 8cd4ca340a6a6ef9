/** Investor — cash waiting to be invested and the total invested, in integer cents. Financial. */
module.exports = {
  /** Blueprint writes run through the engine (sails-hook-transact), only of what `http` allows (no `http`: none). */
  transactional: true,
  /** Attributes the transactional blueprints accept (money moves only through deposits, orders, withdrawals). */
  http: { create: ['name'], update: ['name'] },
  financial: true,
  attributes: {
    name: { type: 'string', required: true, maxLength: 200 },
    cash: { type: 'number', isInteger: true, min: 0, defaultsTo: 0, autoMigrations: { columnType: 'double precision' } },
    invested: { type: 'number', isInteger: true, min: 0, defaultsTo: 0, autoMigrations: { columnType: 'double precision' } },
  },
};
