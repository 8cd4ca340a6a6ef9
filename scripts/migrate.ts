/**
 * npm run migrate — evolves the schema of every model (the app's and the hook's log and lock) in
 * the configured datastore (DATASTORE, MONGO_URL / PG_URL): creates the missing tables and
 * collections, adds the columns a model declares and its table lacks, then creates the indexes
 * the models declare (`indexes: [...]`, through the hook's createIndexes), then exits. Nothing is
 * ever dropped or rewritten, so it runs as often as wanted over a live database. Production lifts
 * with `migrate: 'safe'` and never evolves the app's tables at start: run this at deploy.
 */
import { join } from 'node:path';
import { loadPrepared, lowerApp, runScript } from './lib/load-app';

// dist/scripts → the repository (config/, api/)
process.chdir(join(__dirname, '..', '..'));

async function main(): Promise<number> {
  // The same preparation restore and the drills give a datastore (scripts/lib/load-app.ts).
  const { app, tables, indexes } = await loadPrepared({ transact: { instanceId: `migrate-${process.pid}` } });
  try {
    const changed = tables.filter((table) => table.created || table.addedColumns.length > 0);
    console.log(`tables: ${tables.length} (${tables.map((table) => table.table).sort().join(', ')})`);
    for (const table of changed) console.log(table.created ? `  created ${table.table}` : `  ${table.table}: added ${table.addedColumns.join(', ')}`);
    const made = indexes.filter((index) => index.created);
    console.log(made.length === 0 ? `indexes: none created (${indexes.length} declared; sails-disk has none)` : `indexes: ${made.map((index) => `${index.model}.${index.name}`).join(', ')}`);
    return 0;
  } finally {
    await lowerApp(app);
  }
}

runScript('migrate', main);
