/**
 * No globals: the app's code gets its app handle explicitly (actions `req._sails`, jobs their
 * context, hooks their argument); models are reached as `app.models.x`.
 */
module.exports.globals = { _: false, async: false, models: false, sails: false };
