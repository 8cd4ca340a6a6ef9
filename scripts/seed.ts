/**
 * npm run seed — a working fund at once: 5 platforms, 60 open loans, 5 investors whose cash
 * came in through (simulated) gateway deposits, with the matching ledger lines (api/lib/demo-seed.ts).
 * Runs through the engine with an idempotency key, so running it twice changes nothing.
 */
import { join } from 'node:path';
import { DEMO_INVESTORS, DEMO_LOANS, DEMO_PLATFORMS, seedDemoFund } from '../api/lib/demo-seed';
import { loadApp, lowerApp, runScript } from './lib/load-app';

// dist/scripts → the repository (config/, api/)
process.chdir(join(__dirname, '..', '..'));

async function main(): Promise<number> {
  // The schema as `npm start` leaves it (config/transact.js, evolveModels): created outside production.
  const app = await loadApp({ transact: { instanceId: `seed-${process.pid}` } });
  try {
    const id = await seedDemoFund(app);
    console.log(id === null ? 'the fund already has platforms: nothing to seed' : `seeded in transaction ${id}: ${DEMO_PLATFORMS.length} platforms, ${DEMO_LOANS} loans, ${DEMO_INVESTORS.length} investors`);
    return 0;
  } finally {
    await lowerApp(app);
  }
}

runScript('seed', main);
