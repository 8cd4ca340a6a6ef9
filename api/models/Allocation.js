/** Allocation — the part of an order invested in one loan (cents). Financial. */
module.exports = {
  financial: true,
  attributes: {
    order: { type: 'string', required: true },
    loan: { type: 'string', required: true },
    platform: { type: 'string', required: true },
    amount: { type: 'number', isInteger: true, min: 1, required: true, autoMigrations: { columnType: 'double precision' } },
  },
};
