/**
 * The app loads the hook from this repository (its build, by the package's own name); an app
 * that installs the package from npm needs no such file: `"sails": {"isHook": true}` in its
 * package.json is enough.
 */
module.exports = require('sails-hook-transact');
