/**
 * Order — an investor's order to invest `amount` cents, spread over open loans (each part at
 * most `maxPerLoan`). Paid from cash, or through the payment gateway. Financial.
 */
module.exports = {
  /** Blueprint writes run through the engine (sails-hook-transact), only of what `http` allows (no `http`: none). */
  transactional: true,
  financial: true,
  /** Created by `npm run migrate`: the dropped-orders job and the attention page list by status, oldest first; an order is found by its payment. */
  indexes: [{ fields: ['status', 'createdAt'] }, { fields: ['paymentId'] }],
  attributes: {
    investor: { model: 'investor', required: true },
    amount: { type: 'number', isInteger: true, min: 1, required: true, autoMigrations: { columnType: 'double precision' } },
    maxPerLoan: { type: 'number', isInteger: true, min: 1, allowNull: true, autoMigrations: { columnType: 'double precision' } },
    funding: { type: 'string', isIn: ['cash', 'gateway'], required: true },
    paymentId: { type: 'string', allowNull: true },
    status: { type: 'string', isIn: ['allocated', 'awaiting_payment', 'paid', 'cancelled', 'needs_attention'], required: true },
    reason: { type: 'string', allowNull: true },
    /** Checks by the dropped-orders job: [{at, attempt, outcome, error?}] (the last 50). */
    attempts: { type: 'json' },
  },
};
