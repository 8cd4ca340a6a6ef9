/** Ids for the app's own records: the hook's generator, so every id has one shape. */
module.exports = { newId: require('../hooks/transact').newId };
