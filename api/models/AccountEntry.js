/**
 * AccountEntry — one line of an account's ledger: an account's balance is the sum of its `done`
 * lines. An account's opening balance is one `opening` line (the money that came in); a transfer
 * writes two `transfer` lines summing to zero, in the same transaction as the balances. Reversing
 * the transfer marks its lines `reversed` (they stop counting) instead of destroying them.
 * Financial.
 */
module.exports = {
  /** Blueprint writes run through the engine (sails-hook-transact), only of what `http` allows (no `http`: none). */
  transactional: true,
  financial: true,
  reverseCreate: { set: { status: 'reversed' } },
  /** Created by `npm run migrate`: reconciliation sums an account's lines. */
  indexes: [{ fields: ['account', 'status'] }],
  attributes: {
    entry: { type: 'string', required: true, description: 'groups the lines of one movement (the transfer, or the opening)' },
    account: { type: 'string', required: true },
    kind: { type: 'string', isIn: ['opening', 'transfer'], required: true },
    amount: { type: 'number', isInteger: true, required: true, autoMigrations: { columnType: 'double precision' } },
    status: { type: 'string', isIn: ['done', 'reversed'], defaultsTo: 'done' },
  },
};
