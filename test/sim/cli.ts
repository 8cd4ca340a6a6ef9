/**
 * `npm run simulate -- --seed N [--flavour mongo|generic|redo|redo-mongo|redo-generic] [--full] [--shrink] [--without n:1,2/i:0]`
 * (default: v2, its store by seed; redo: v3, its store by seed — even seeds the real MongoRecords
 * over the simulated driver, odd ones SimulatedRecords; a flavour's own name forces it):
 * replays one seed exactly and prints its violations and the trace of the events touching the
 * failing documents and transactions, and every fault (--full: the whole trace). --shrink first
 * leaves out every fault the failure does not need (one at a time and in halves, keeping a
 * leave-out while the same checker still fails) and prints the shortest run it found, with the
 * --without that replays it.
 * `npm run simulate -- --runs N [--from S]`: soaks seeds S..S+N-1 and prints runs per minute,
 * faults per run, and each failing seed.
 */
import './install';
import { format } from './trace';
import { FLAVOUR_CHOICES, type FlavourChoice, type RunOptions, type RunReport, runSimulation } from './simulation';

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

type Without = NonNullable<RunOptions['without']>;

function parseWithout(text: string | undefined): Without {
  const without: { network: number[]; instance: number[] } = { network: [], instance: [] };
  for (const part of (text ?? '').split('/')) {
    const [kind, list] = part.split(':');
    const numbers = (list ?? '').split(',').filter((n) => n !== '').map(Number);
    if (kind === 'n') without.network.push(...numbers);
    if (kind === 'i') without.instance.push(...numbers);
  }
  return without;
}

function formatWithout(without: Without): string {
  return `n:${without.network.join(',')}/i:${without.instance.join(',')}`;
}

/** Leaves out the faults a failure does not need: instance faults one by one, network faults in halves, then quarters, … then one by one. */
async function shrink(options: RunOptions, first: RunReport): Promise<{ report: RunReport; without: Without }> {
  const checker = first.violations[0].checker;
  let report = first;
  let without: Without = { network: [], instance: [] };
  let runs = 0;
  const tryWithout = async (candidate: Without): Promise<void> => {
    runs++;
    const attempt = await runSimulation({ ...options, without: candidate });
    if (attempt.violations.some((v) => v.checker === checker)) {
      report = attempt;
      without = candidate;
    }
  };
  for (let i = 0; i < first.drawn.instance; i++) await tryWithout({ network: without.network, instance: [...without.instance, i] });
  const total = first.drawn.network;
  for (let chunk = Math.ceil(total / 2); chunk >= 1; chunk = chunk === 1 ? 0 : Math.ceil(chunk / 2)) {
    for (let start = 0; start < total; start += chunk) {
      const range = Array.from({ length: Math.min(chunk, total - start) }, (_, k) => start + k).filter((n) => !without.network.includes(n));
      if (range.length > 0) await tryWithout({ network: [...without.network, ...range].sort((a, b) => a - b), instance: without.instance });
    }
  }
  const left = (r: RunReport): number => Object.values(r.faults).reduce((a, b) => a + b, 0);
  console.log(`shrunk in ${runs} runs: ${left(first)} faults -> ${left(report)} (${JSON.stringify(report.faults)}); replay: npm run simulate -- --seed ${options.seed}${options.flavour === undefined ? '' : ` --flavour ${options.flavour}`} --without ${formatWithout(without)}`);
  return { report, without };
}

async function main(): Promise<void> {
  const flavour = argument('flavour') as FlavourChoice | undefined;
  if (flavour !== undefined && !FLAVOUR_CHOICES.includes(flavour)) throw new Error(`--flavour ${flavour}: one of ${FLAVOUR_CHOICES.join(', ')}`);
  const seedArg = argument('seed');
  if (seedArg !== undefined) {
    const options: RunOptions = { seed: Number(seedArg), ...(flavour === undefined ? {} : { flavour }), without: parseWithout(argument('without')) };
    let report = await runSimulation(options);
    if (report.violations.length > 0 && process.argv.includes('--shrink')) report = (await shrink(options, report)).report;
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
  let lateInserts = 0;
  const failing: RunReport[] = [];
  const byChecker = new Map<string, number[]>();
  for (let seed = from; seed < from + runs; seed++) {
    const report = await runSimulation({ seed, ...(flavour === undefined ? {} : { flavour }) });
    faults += Object.values(report.faults).reduce((a, b) => a + b, 0);
    lateInserts += report.lateInserts;
    if (report.violations.length > 0) {
      failing.push(report);
      for (const checker of new Set(report.violations.map((v) => v.checker))) byChecker.set(checker, [...(byChecker.get(checker) ?? []), seed]);
      console.log(`seed ${seed} (${report.flavour}) FAILED: ${report.violations.map((v) => `[${v.checker}] ${v.message.slice(0, 200)}`).join(' || ')}`);
    }
  }
  const minutes = (Date.now() - started) / 60_000;
  console.log(`${runs} runs in ${(minutes * 60).toFixed(1)} s: ${(runs / minutes).toFixed(0)} runs/min, ${(faults / runs).toFixed(1)} faults per run, ${failing.length} failing; ${lateInserts} late MongoDB inserts (detected, the stated limit)`);
  for (const [checker, seeds] of byChecker) console.log(`  ${checker}: ${seeds.length} runs, first seed ${seeds[0]}: ${seeds.slice(0, 20).join(' ')}`);
  process.exitCode = failing.length === 0 ? 0 : 1;
}

void main();
