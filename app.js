/**
 * app.js — lifts the demo P2P ledger: `npm start` (builds the hook first), or `node app.js`.
 * Configuration comes from config/ and the usual Sails overrides (.sailsrc, env, argv).
 */
process.chdir(__dirname);
const sails = require('sails');
const rc = require('sails/accessible/rc');

sails.lift(rc('sails'), (err) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
});
