/** User — who may call the API, and in which role. The password is stored as a scrypt hash only. */
module.exports = {
  /** Blueprint writes run through the engine (sails-hook-transact), only of what `http` allows (no `http`: none). */
  transactional: true,
  attributes: {
    username: { type: 'string', required: true, unique: true, maxLength: 100 },
    passwordHash: { type: 'string', required: true },
    role: { type: 'string', isIn: ['admin', 'monitor', 'readwrite', 'readonly'], required: true },
  },
  customToJSON() {
    const { passwordHash: _passwordHash, ...visible } = this;
    return visible;
  },
};
