/** GET /admin/attention: payments and orders needing attention, transactions stuck past their lease. */
const { page, money, age, when } = require('../../lib/admin-page');
const { attention } = require('../../lib/admin');

module.exports = page(async (req, res, { render }) => render('attention', { title: 'Needs attention', data: await attention(sails), money, age, when }));
