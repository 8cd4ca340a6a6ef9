/** Loan — a borrower's loan on a platform; `raised` never exceeds `target` (cents). Financial. */
module.exports = {
  /** Blueprint writes run through the engine (sails-hook-transact), only of what `http` allows (no `http`: none). */
  transactional: true,
  http: { create: ['platform', 'borrower', 'target', 'rateBps', 'termMonths'], update: ['borrower', 'rateBps', 'termMonths', 'status'] },
  financial: true,
  /** Created by `npm run migrate`: orders read the open loans; a platform's destroy asks whether a loan still names it. */
  indexes: [{ fields: ['status'] }, { fields: ['platform'] }],
  attributes: {
    /** A reference (checked by the hook: it must exist; a referenced platform cannot be destroyed). */
    platform: { model: 'platform', required: true },
    borrower: { type: 'string', required: true, maxLength: 200 },
    target: { type: 'number', isInteger: true, min: 1, required: true, autoMigrations: { columnType: 'double precision' } },
    raised: { type: 'number', isInteger: true, min: 0, defaultsTo: 0, autoMigrations: { columnType: 'double precision' } },
    rateBps: { type: 'number', isInteger: true, min: 0, max: 100000, defaultsTo: 0, autoMigrations: { columnType: 'double precision' } },
    termMonths: { type: 'number', isInteger: true, min: 1, max: 600, defaultsTo: 12, autoMigrations: { columnType: 'double precision' } },
    status: { type: 'string', isIn: ['open', 'funded', 'closed'], defaultsTo: 'open' },
  },
};
