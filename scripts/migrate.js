/**
 * npm run migrate — creates or alters the tables/collections of every model (the app's and the
 * hook's log and lock) in the configured datastore (DATASTORE, MONGO_URL / PG_URL), then the
 * indexes the models declare (`indexes: [...]`, through the hook's createIndexes), then exits.
 * Production runs with `migrate: 'safe'` and never alters a schema at start: run this at deploy.
 */
process.chdir(`${__dirname}/..`);
// Waterline refuses to alter a schema under NODE_ENV=production: this run is the migration itself.
process.env.NODE_ENV = 'migration';
const Sails = require('sails').constructor;

const app = new Sails();
app.load(
  {
    environment: 'migration',
    log: { level: 'warn' },
    models: { migrate: 'alter' },
    hooks: { http: false, sockets: false, pubsub: false, views: false, session: false, grunt: false, i18n: false, blueprints: false, policies: false },
    bootstrap: (done) => done(),
  },
  (err) => {
    if (err) {
      console.error(err);
      process.exit(1);
    }
    console.log(`migrated: ${Object.keys(app.models).filter((identity) => !identity.includes('archive')).sort().join(', ')}`);
    app.hooks.transact.createIndexes().then(
      (indexes) => {
        const made = indexes.filter((index) => index.created);
        console.log(made.length === 0 ? `indexes: none created (${indexes.length} declared; sails-disk has none)` : `indexes: ${made.map((index) => `${index.model}.${index.name}`).join(', ')}`);
        app.lower(() => process.exit(0));
      },
      (indexErr) => {
        console.error(indexErr);
        app.lower(() => process.exit(1));
      },
    );
  },
);
