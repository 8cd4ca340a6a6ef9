/**
 * CI's fixed seeds: every seed is one small simulated run (3 instances, 5 accounts, 20 calls, its
 * own faults), alternating the real MongoStore over the simulated driver (even seeds) and the
 * generic SimulatedStore (odd ones). Fails listing every failing seed with what its checkers
 * said; `npm run simulate -- --seed N` replays one with its trace. SIM_SEEDS=a-b runs another range.
 * Log protocol v3 (flavour 'redo', batches so far) runs its own seeds (SIM_REDO_SEEDS).
 */
import './install';
import { expect } from 'chai';
import { runSimulation } from './simulation';

const [FROM, TO] = (process.env.SIM_SEEDS ?? '1-1000').split('-').map(Number);
const [REDO_FROM, REDO_TO] = (process.env.SIM_REDO_SEEDS ?? '1-500').split('-').map(Number);

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

  it(`holds every checker on seeds ${REDO_FROM}..${REDO_TO} of log protocol v3 (redo: batches, interactive transactions, reversals, committed reads; the record rules)`, async function () {
    const failing: string[] = [];
    const started = Date.now();
    for (let seed = REDO_FROM; seed <= REDO_TO; seed++) {
      const report = await runSimulation({ seed, flavour: 'redo' });
      if (report.violations.length > 0) failing.push(`seed ${seed} (redo): ${report.violations.map((v) => `[${v.checker}] ${v.message.slice(0, 240)}`).join(' || ')}`);
    }
    console.log(`      ${REDO_TO - REDO_FROM + 1} runs in ${((Date.now() - started) / 1000).toFixed(0)} s, ${failing.length} failing`);
    expect(failing, `failing seeds (replay one: npm run simulate -- --seed N --flavour redo):\n${failing.join('\n')}`).to.deep.equal([]);
  });
});
