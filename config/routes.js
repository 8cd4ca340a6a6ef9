module.exports.routes = {
  'GET /': { action: 'home' },
  'POST /transfers': { action: 'transfer/create' },
};
