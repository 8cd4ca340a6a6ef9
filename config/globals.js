/**
 * Only `sails` is global (actions and bootstrap use it); models are reached as `sails.models.x`.
 */
module.exports.globals = { _: false, async: false, models: false, sails: true };
