/** The fund's own hook: the production guard and the first administrator (api/lib/setup.ts). */
module.exports = (sails) => require('../../../dist/api/lib/setup').fundHook(sails);
