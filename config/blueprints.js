module.exports.blueprints = {
  prefix: '/api',
  shortcuts: false,
  actions: false,
  // Writes go through the engine (see api/controllers); the REST API over it comes later.
  rest: true,
};
