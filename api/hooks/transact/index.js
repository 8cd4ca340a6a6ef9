/**
 * The app loads the hook from this repository's build; an app that installs the package from
 * npm needs no such file: `"sails": {"isHook": true}` in its package.json is enough.
 */
module.exports = require('../../../dist/lib');
