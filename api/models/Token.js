/** Token — a bearer token, stored as its SHA-256 (the token itself is shown once, at login). */
module.exports = {
  attributes: {
    user: { type: 'string', required: true },
    role: { type: 'string', required: true },
    expiresAt: { type: 'number', required: true, autoMigrations: { columnType: 'double precision' } },
  },
};
