/**
 * LedgerEntry — one line of double-entry bookkeeping. Every money movement writes a set of lines
 * that sums to zero, in the same transaction as the balances it explains. An investor's cash is
 * the sum of its `cash` lines. Financial.
 */
module.exports = {
  /** Blueprint writes run through the engine (sails-hook-transact), only of what `http` allows (no `http`: none). */
  transactional: true,
  financial: true,
  /** Created by `npm run migrate`: reconciliation sums an investor's lines per account; the dashboard reads gateway lines by age; the newest lines first (`sort=createdAt DESC`). */
  indexes: [{ fields: ['investor', 'account'] }, { fields: ['account', 'createdAt'] }, { fields: ['createdAt'] }],
  attributes: {
    entry: { type: 'string', required: true, description: 'groups the lines of one movement' },
    investor: { model: 'investor' },
    account: { type: 'string', isIn: ['cash', 'invested', 'gateway', 'loans', 'withdrawals'], required: true },
    amount: { type: 'number', isInteger: true, required: true, autoMigrations: { columnType: 'double precision' } },
    memo: { type: 'string', allowNull: true, maxLength: 500 },
    /** The gateway payment this line settles, if any (each paymentId is credited at most once). */
    paymentId: { type: 'string', allowNull: true },
    /** The order this line pays for, if any. */
    order: { model: 'order' },
  },
};
