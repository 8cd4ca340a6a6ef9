/**
 * npm run migrate — creates or alters the tables/collections of every model (the app's and the
 * hook's log and lock) in the configured datastore (DATASTORE, MONGO_URL / PG_URL), then the
 * indexes the models declare (`indexes: [...]`, through the hook's createIndexes), then exits.
 * Production runs with `migrate: 'safe'` and never alters a schema at start: run this at deploy.
 */
import { join } from 'node:path';
import { loadApp, lowerApp, runScript } from './lib/load-app';

// dist/scripts → the repository (config/, api/)
process.chdir(join(__dirname, '..', '..'));
// Waterline refuses to alter a schema under NODE_ENV=production: this run is the migration itself.
process.env.NODE_ENV = 'migration';

async function main(): Promise<number> {
  const app = await loadApp({ environment: 'migration', models: { migrate: 'alter' }, transact: { instanceId: `migrate-${process.pid}` } });
  try {
    console.log(`migrated: ${Object.keys(app.models).filter((identity) => !identity.includes('archive')).sort().join(', ')}`);
    const indexes = await app.hooks.transact.createIndexes();
    const made = indexes.filter((index) => index.created);
    console.log(made.length === 0 ? `indexes: none created (${indexes.length} declared; sails-disk has none)` : `indexes: ${made.map((index) => `${index.model}.${index.name}`).join(', ')}`);
    return 0;
  } finally {
    await lowerApp(app);
  }
}

runScript('migrate', main);
