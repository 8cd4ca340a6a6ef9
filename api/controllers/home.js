module.exports = {
  friendlyName: 'Home',
  description: 'What this app is, and where to look.',
  fn: async function () {
    return { app: 'P2P fund ledger (sails-hook-transact demo)', accounts: '/api/account', transfers: 'POST /transfers {from, to, amount}' };
  },
};
