/**
 * Transfer — the record of one movement of money between two accounts, written in the same
 * transaction as the two balance changes. Financial history: never destroyed; reversing the
 * transaction that created it marks it `reversed` instead.
 */
module.exports = {
  /** Blueprint writes run through the engine (sails-hook-transact), only of what `http` allows (no `http`: none). */
  transactional: true,
  financial: true,
  reverseCreate: { set: { status: 'reversed' } },
  attributes: {
    from: { type: 'string', required: true },
    to: { type: 'string', required: true },
    amount: { type: 'number', isInteger: true, min: 1, autoMigrations: { columnType: 'double precision' } },
    memo: { type: 'string', allowNull: true },
    status: { type: 'string', isIn: ['done', 'reversed'], defaultsTo: 'done' },
  },
};
