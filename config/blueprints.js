module.exports.blueprints = {
  prefix: '/api',
  shortcuts: false,
  actions: false,
  // Writes of the models marked `transactional: true` (every model here) reach sails-hook-transact's
  // actions, which run them through the engine; reads are Sails' own blueprints.
  rest: true,
};
