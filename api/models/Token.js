/** Token — a bearer token, stored as its SHA-256 (the token itself is shown once, at login). */
module.exports = {
  /** Blueprint writes run through the engine (sails-hook-transact), only of what `http` allows (no `http`: none). */
  transactional: true,
  attributes: {
    user: { type: 'string', required: true },
    role: { type: 'string', required: true },
    expiresAt: { type: 'number', required: true, autoMigrations: { columnType: 'double precision' } },
  },
};
