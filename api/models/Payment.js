/**
 * Payment — money an investor pays at the gateway (a deposit, or an order paid directly).
 * `paymentId` is the gateway's reference; each is credited at most once. Financial.
 */
module.exports = {
  /** Blueprint writes run through the engine (sails-hook-transact), only of what `http` allows (no `http`: none). */
  transactional: true,
  financial: true,
  /** Created by `npm run migrate` (and by lift in development): callbacks find a payment by paymentId; the dropped-orders job and the attention page list by status, oldest first. */
  indexes: [{ fields: ['paymentId'], unique: true }, { fields: ['status', 'createdAt'] }],
  attributes: {
    paymentId: { type: 'string', required: true },
    investor: { model: 'investor', required: true },
    order: { model: 'order' },
    amount: { type: 'number', isInteger: true, min: 1, required: true, autoMigrations: { columnType: 'double precision' } },
    status: { type: 'string', isIn: ['pending', 'succeeded', 'failed', 'needs_attention'], defaultsTo: 'pending' },
    /** Callbacks that did not match this payment (e.g. another amount), kept for the admin. */
    anomalies: { type: 'json', defaultsTo: [] },
    /** Checks by the dropped-orders job: [{at, attempt, outcome, error?}] (the last 50). */
    attempts: { type: 'json' },
    /** Why the payment needs attention (set with status needs_attention), for the admin. */
    reason: { type: 'string', allowNull: true },
    /** When the gateway took the payment (epoch ms); null until then (the dropped-orders job registers it). */
    registeredAt: { type: 'number', allowNull: true, autoMigrations: { columnType: 'double precision' } },
    /** Settlements applied (0 or 1): every settling batch increments it with max 1, under the payment's lock. */
    settlements: { type: 'number', isInteger: true, min: 0, max: 1, defaultsTo: 0, autoMigrations: { columnType: 'double precision' } },
  },
};
