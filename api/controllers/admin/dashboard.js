/** GET /admin: transactions by state, recovery and jobs, counters, the 30-day volume chart. */
const { page, money, age, when } = require('../../lib/admin-page');
const { dashboard } = require('../../lib/admin');

module.exports = page(async (req, res, { render }) => render('dashboard', { title: 'Dashboard', data: await dashboard(sails), money, age, when, now: Date.now() }));
