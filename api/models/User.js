/** User — who may call the API, and in which role. The password is stored as a scrypt hash only. */
module.exports = {
  attributes: {
    username: { type: 'string', required: true, unique: true, maxLength: 100 },
    passwordHash: { type: 'string', required: true },
    role: { type: 'string', isIn: ['admin', 'monitor', 'readwrite', 'readonly'], required: true },
  },
  customToJSON() {
    const { passwordHash, ...visible } = this;
    return visible;
  },
};
