/** Platform — a P2P lending platform the fund invests through. */
module.exports = {
  http: { create: ['name'], update: ['name'], destroy: true },
  attributes: {
    name: { type: 'string', required: true, maxLength: 200 },
  },
};
