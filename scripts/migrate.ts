/**
 * npm run migrate — creates or alters the tables/collections of every model (the app's and the
 * hook's log and lock) in the configured datastore (DATASTORE, MONGO_URL / PG_URL), then the
 * indexes the models declare (`indexes: [...]`, through the hook's createIndexes), then exits.
 * Production runs with `migrate: 'safe'` and never alters a schema at start: run this at deploy.
 */
import { join } from 'node:path';
import { loadPrepared, lowerApp, runScript } from './lib/load-app';

// dist/scripts → the repository (config/, api/)
process.chdir(join(__dirname, '..', '..'));

async function main(): Promise<number> {
  // The same preparation restore and the drills give a datastore (scripts/lib/load-app.ts).
  const { app, indexes } = await loadPrepared({ transact: { instanceId: `migrate-${process.pid}` } });
  try {
    console.log(`migrated: ${Object.keys(app.models).filter((identity) => !identity.includes('archive')).sort().join(', ')}`);
    const made = indexes.filter((index) => index.created);
    console.log(made.length === 0 ? `indexes: none created (${indexes.length} declared; sails-disk has none)` : `indexes: ${made.map((index) => `${index.model}.${index.name}`).join(', ')}`);
    return 0;
  } finally {
    await lowerApp(app);
  }
}

runScript('migrate', main);
