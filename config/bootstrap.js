/**
 * Seeds two demo accounts on an empty development database — through the engine, so even the
 * seed is a logged, all-or-nothing transaction.
 */
module.exports.bootstrap = async function () {
  if (sails.config.environment !== 'development' || (await sails.models.account.count()) > 0) return;
  await sails.transact(
    [
      { op: 'create', model: 'account', id: 'a00000000000000000000001', values: { owner: 'Alice', balance: 100000 } },
      { op: 'create', model: 'account', id: 'a00000000000000000000002', values: { owner: 'Bob', balance: 50000 } },
    ],
    { label: 'demo seed' },
  );
};
