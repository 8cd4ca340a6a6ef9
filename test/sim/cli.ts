/**
 * `npm run simulate -- --seed N [--flavour mongo|generic] [--full]`: replays one seed exactly and
 * prints its violations and the trace of the events touching the failing documents and
 * transactions (--full: the whole trace).
 * `npm run simulate -- --runs N [--from S]`: soaks seeds S..S+N-1 and prints runs per minute,
 * faults per run, and each failing seed.
 */
import './install';
import type { Flavour } from './cluster';
import { format } from './trace';
import { type RunReport, runSimulation } from './simulation';

function argument(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? undefined : process.argv[index + 1];
}

function printFailure(report: RunReport, full: boolean): void {
  console.log(`seed ${report.seed} (${report.flavour}): ${report.violations.length} violation(s)`);
  for (const v of report.violations) console.log(`  [${v.checker}] at ${((v.at - Date.UTC(2030, 0, 1)) / 1000).toFixed(3)}s: ${v.message}`);
  const refs = report.violations.flatMap((v) => v.refs);
  const entries = full ? report.trace.entries : report.trace.about(refs);
  console.log(`trace (${entries.length} of ${report.trace.entries.length} events${full ? '' : ', those about the failing documents and transactions, and every fault'}):`);
  for (const entry of entries) console.log(`  ${format(entry)}`);
}

async function main(): Promise<void> {
  const flavour = argument('flavour') as Flavour | undefined;
  const seedArg = argument('seed');
  if (seedArg !== undefined) {
    const report = await runSimulation({ seed: Number(seedArg), ...(flavour === undefined ? {} : { flavour }) });
    if (report.violations.length === 0) console.log(`seed ${report.seed} (${report.flavour}): no violation; ${report.calls} calls, faults ${JSON.stringify(report.faults)}, ${report.events} events, ${(report.virtualMs / 1000).toFixed(1)} s virtual in ${report.realMs.toFixed(0)} ms; trace ${report.traceHash.slice(0, 16)}`);
    else printFailure(report, process.argv.includes('--full'));
    if (process.argv.includes('--full') && report.violations.length === 0) printFailure(report, true);
    process.exitCode = report.violations.length === 0 ? 0 : 1;
    return;
  }
  const runs = Number(argument('runs') ?? 100);
  const from = Number(argument('from') ?? 1);
  const started = Date.now();
  let faults = 0;
  const failing: RunReport[] = [];
  const byChecker = new Map<string, number[]>();
  for (let seed = from; seed < from + runs; seed++) {
    const report = await runSimulation({ seed, ...(flavour === undefined ? {} : { flavour }) });
    faults += Object.values(report.faults).reduce((a, b) => a + b, 0);
    if (report.violations.length > 0) {
      failing.push(report);
      for (const checker of new Set(report.violations.map((v) => v.checker))) byChecker.set(checker, [...(byChecker.get(checker) ?? []), seed]);
      console.log(`seed ${seed} (${report.flavour}) FAILED: ${report.violations.map((v) => `[${v.checker}] ${v.message.slice(0, 200)}`).join(' || ')}`);
    }
  }
  const minutes = (Date.now() - started) / 60_000;
  console.log(`${runs} runs in ${(minutes * 60).toFixed(1)} s: ${(runs / minutes).toFixed(0)} runs/min, ${(faults / runs).toFixed(1)} faults per run, ${failing.length} failing`);
  for (const [checker, seeds] of byChecker) console.log(`  ${checker}: ${seeds.length} runs, first seed ${seeds[0]}: ${seeds.slice(0, 20).join(' ')}`);
  process.exitCode = failing.length === 0 ? 0 : 1;
}

void main();
