/** GET /api/health: api/lib/actions/system.ts `health`. */
module.exports = require('../../dist/api/lib/actions/system').health;
