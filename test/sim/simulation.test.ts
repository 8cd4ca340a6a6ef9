/**
 * CI's fixed seeds: every seed is one small simulated run (3 instances, 5 accounts, 20 calls, its
 * own faults), alternating the real MongoStore over the simulated driver (even seeds) and the
 * generic SimulatedStore (odd ones). Fails listing every failing seed with what its checkers
 * said; `npm run simulate -- --seed N` replays one with its trace. SIM_SEEDS=a-b runs another range.
 * Log protocol v3 (flavour 'redo') runs its own seeds (SIM_REDO_SEEDS), alternating too: the real
 * MongoRecords and MongoStore over the simulated driver (even seeds, 'redo-mongo') and
 * SimulatedRecords over SimulatedStore (odd ones, 'redo-generic'). Its range meets what R9 for
 * creates not filled into a stub of their own guards (lib/engine/redo/attempt.ts uniqueChanges:
 * without it, 260 of seeds 1..2000 had two committed members with one handle, the first 6 and 8,
 * on MongoRecords). About 30 ms a run: the
 * 100,000-run soaks go through `npm run simulate -- --runs N --from S --flavour redo`.
 */
import './install';
import { expect } from 'chai';
import { type FlavourChoice, runSimulation } from './simulation';

const [FROM, TO] = (process.env.SIM_SEEDS ?? '1-2000').split('-').map(Number);
const [REDO_FROM, REDO_TO] = (process.env.SIM_REDO_SEEDS ?? '1-2000').split('-').map(Number);
/**
 * Seeds a soak once failed, run on every CI beside the range, each on the flavour it failed on: a
 * store error past its retries reached the caller untyped (2849: a reversal's claim; 4712: a keyed
 * reopening's archive; 5372: a reversal's tombstone of an abandoned claim; all three found before
 * even seeds ran on MongoRecords, so forced to the generic records); a committed read on MongoDB
 * that missed the holder of a row held when its rows were read but not yet when its held records
 * were (found as 9994, acct4 read as stored while its holder had committed it unapplied; since
 * finds on MongoDB are no snapshot in the simulation either, 2110 is the seed that meets it).
 * Since the workload has members (unique handles), each of these seeds runs another schedule than
 * the one it failed on: they stay as seeds that once found something, no longer as replays.
 */
const REDO_REGRESSIONS: readonly { seed: number; flavour: FlavourChoice }[] = [
  { seed: 2849, flavour: 'redo-generic' },
  { seed: 4712, flavour: 'redo-generic' },
  { seed: 5372, flavour: 'redo-generic' },
  { seed: 2110, flavour: 'redo-mongo' },
];

describe('deterministic simulation of the protocol', function () {
  this.timeout(30 * 60_000);

  it(`holds every checker on seeds ${FROM}..${TO}, on both store flavours`, async function () {
    const failing: string[] = [];
    const started = Date.now();
    let faults = 0;
    for (let seed = FROM; seed <= TO; seed++) {
      const report = await runSimulation({ seed });
      faults += Object.values(report.faults).reduce((a, b) => a + b, 0);
      if (report.violations.length > 0) failing.push(`seed ${seed} (${report.flavour}): ${report.violations.map((v) => `[${v.checker}] ${v.message.slice(0, 240)}`).join(' || ')}`);
    }
    const runs = TO - FROM + 1;
    console.log(`      ${runs} runs in ${((Date.now() - started) / 1000).toFixed(0)} s, ${(faults / runs).toFixed(1)} faults per run, ${failing.length} failing`);
    expect(failing, `failing seeds (replay one: npm run simulate -- --seed N):\n${failing.join('\n')}`).to.deep.equal([]);
  });

  it(`holds every checker on seeds ${REDO_FROM}..${REDO_TO} and ${REDO_REGRESSIONS.map((r) => `${r.seed} (${r.flavour})`).join(', ')} of log protocol v3 (redo: batches, interactive transactions, reversals, committed reads, unique values; the record rules)`, async function () {
    const failing: string[] = [];
    const started = Date.now();
    const seeds: { seed: number; flavour: FlavourChoice }[] = [...Array.from({ length: REDO_TO - REDO_FROM + 1 }, (_, i) => ({ seed: REDO_FROM + i, flavour: 'redo' as const })), ...REDO_REGRESSIONS];
    for (const { seed, flavour } of seeds) {
      const report = await runSimulation({ seed, flavour });
      if (report.violations.length > 0) failing.push(`seed ${seed} (${report.flavour}): ${report.violations.map((v) => `[${v.checker}] ${v.message.slice(0, 240)}`).join(' || ')}`);
    }
    console.log(`      ${seeds.length} runs in ${((Date.now() - started) / 1000).toFixed(0)} s, ${failing.length} failing`);
    expect(failing, `failing seeds (replay one: npm run simulate -- --seed N --flavour redo, or the flavour named):\n${failing.join('\n')}`).to.deep.equal([]);
  });
});
