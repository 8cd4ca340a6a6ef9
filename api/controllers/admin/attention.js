/** GET /admin/attention?skip=: payments and orders needing attention, transactions stuck past their lease, 100 of each a page. */
const { page, money, age, when } = require('../../lib/admin-page');
const { attention, attentionSkip } = require('../../lib/admin');

module.exports = page(async (req, res, { render }) => render('attention', { title: 'Needs attention', data: await attention(sails, attentionSkip(req.query)), money, age, when }));
