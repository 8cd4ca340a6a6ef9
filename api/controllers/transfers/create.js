/**
 * POST /transfers {from, to, amount[, memo]} — moves integer cents between two accounts in one
 * transaction: debit (never below 0), credit, and the Transfer record, all or nothing.
 */
module.exports = {
  friendlyName: 'Create transfer',
  inputs: {
    from: { type: 'string', required: true },
    to: { type: 'string', required: true },
    amount: { type: 'number', required: true },
    memo: { type: 'string', allowNull: true },
  },
  exits: {
    created: { statusCode: 201 },
    badRequest: { statusCode: 400 },
    notFound: { statusCode: 404 },
    conflict: { statusCode: 409 },
  },
  fn: async function ({ from, to, amount, memo }, exits) {
    const status = { validation_failed: 'badRequest', unknown_attribute: 'badRequest', not_found: 'notFound', bound_violation: 'conflict', lock_timeout: 'conflict' };
    if (from === to) return exits.badRequest({ error: { code: 'validation_failed', message: 'from and to must differ', path: 'to' } });
    try {
      const result = await sails.transact(
        [
          { op: 'increment', model: 'account', id: from, field: 'balance', by: -amount, min: 0 },
          { op: 'increment', model: 'account', id: to, field: 'balance', by: amount },
          { op: 'create', model: 'transfer', values: { from, to, amount, memo: memo ?? null } },
        ],
        { label: 'transfer' },
      );
      return exits.created({ transaction: result.id, transfer: result.steps[2].id });
    } catch (err) {
      const exit = status[err.code];
      if (exit === undefined) throw err;
      return exits[exit]({ error: { code: err.code, message: err.message, path: err.path } });
    }
  },
};
