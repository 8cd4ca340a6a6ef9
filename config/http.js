/**
 * Not Sails' default 1337: a money app should not sit on a port every scanner tries first.
 * Override with the PORT environment variable.
 */
module.exports.port = Number(process.env.PORT) || 4117;
module.exports.http = {};
