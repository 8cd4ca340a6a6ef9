/**
 * Account — an investor's cash account. Money is integer cents; the engine refuses anything else.
 */
module.exports = {
  /** Blueprint writes run through the engine (sails-hook-transact), only of what `http` allows (no `http`: none). */
  transactional: true,
  http: { create: ['owner', 'currency'], update: ['owner', 'frozen', 'meta'], destroy: true },
  attributes: {
    owner: { type: 'string', required: true },
    currency: { type: 'string', isIn: ['EUR', 'CNY', 'USD'], defaultsTo: 'EUR' },
    balance: { type: 'number', isInteger: true, defaultsTo: 0, autoMigrations: { columnType: 'double precision' } },
    frozen: { type: 'boolean', defaultsTo: false },
    meta: { type: 'json' },
  },
};
