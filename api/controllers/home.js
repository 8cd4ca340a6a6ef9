/** GET /: api/lib/actions/system.ts `home`. */
module.exports = require('../../dist/api/lib/actions/system').home;
