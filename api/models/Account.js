/**
 * Account — a cash account. Money is integer cents, never below 0 (`min: 0`: the engine refuses
 * any increment, a reversal's included, that would cross it). Its balance is the sum of its
 * AccountEntry lines; money moves only through the fund's services (api/lib/fund/accounts.ts):
 * an account holding money is never destroyed, a frozen one moves none.
 */
module.exports = {
  /**
   * Blueprint writes run through the engine (sails-hook-transact), only of what `http` allows (no
   * `http`: none). No blueprint destroy: DELETE /api/account/:id is the fund's `closeAccount`.
   */
  transactional: true,
  http: { create: ['owner', 'currency'], update: ['owner', 'frozen', 'meta'] },
  attributes: {
    owner: { type: 'string', required: true },
    currency: { type: 'string', isIn: ['EUR', 'CNY', 'USD'], defaultsTo: 'EUR' },
    balance: { type: 'number', isInteger: true, min: 0, defaultsTo: 0, autoMigrations: { columnType: 'double precision' } },
    frozen: { type: 'boolean', defaultsTo: false },
    meta: { type: 'json' },
  },
};
