/** Allocation — the part of an order invested in one loan (cents). Financial. */
module.exports = {
  /** Blueprint writes run through the engine (sails-hook-transact), only of what `http` allows (no `http`: none). */
  transactional: true,
  financial: true,
  /** Created by `npm run migrate`: an order's allocations, a loan's allocations (reconciliation), recent ones (dashboard). */
  indexes: [{ fields: ['order'] }, { fields: ['loan'] }, { fields: ['createdAt'] }],
  attributes: {
    order: { model: 'order', required: true },
    loan: { model: 'loan', required: true },
    /** The loan's platform, copied: not a checked reference (the loan's is; a platform with loans is never destroyed). */
    platform: { type: 'string', required: true },
    amount: { type: 'number', isInteger: true, min: 1, required: true, autoMigrations: { columnType: 'double precision' } },
  },
};
