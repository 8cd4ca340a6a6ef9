/** Platform — a P2P lending platform the fund invests through. */
module.exports = {
  /** Blueprint writes run through the engine (sails-hook-transact), only of what `http` allows (no `http`: none). */
  transactional: true,
  http: { create: ['name'], update: ['name'], destroy: true },
  attributes: {
    name: { type: 'string', required: true, maxLength: 200 },
  },
};
