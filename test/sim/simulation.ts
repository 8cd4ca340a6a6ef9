/**
 * One simulated run, from its seed: the world (cluster.ts), the workload (workload.ts), the
 * faults, then a quiescing phase (faults off, every instance up, clocks right, recovery passes
 * until nothing is active, bounded), then the checkers (checkers/*.ts). Same seed, same run.
 */
import { LOCK_IDENTITY, LOG_IDENTITY } from '../../lib/models/hook-models';
import { documentKey } from '../../lib/core/operations';
import type { Checker, Violation } from './checkers/checker';
import { CommittedHistory } from './checkers/committed-history';
import { CommittedReads } from './checkers/committed-reads';
import { FenceOwnership } from './checkers/fence-ownership';
import { Liveness } from './checkers/liveness';
import { Money } from './checkers/money';
import { OneKeyOneOutcome } from './checkers/one-key-one-outcome';
import { Quiescence } from './checkers/quiescence';
import { RecordRules } from './checkers/record-rules';
import { SuccessCommitted } from './checkers/success-committed';
import { UniqueValues } from './checkers/unique-values';
import { ENGINE_OPTIONS, type Flavour, isRedo, SimWorld } from './cluster';
import type { Doc } from './database';
import { NO_FAULTS, type NetworkFaults } from './network';
import { EPOCH_MS, Prng, type SimContext, SimRuntime } from './runtime';
import { Trace } from './trace';
import { accountIds, INITIAL_BALANCE, INITIAL_MEMBERS, planWorkload, Workload } from './workload';

export interface RunOptions {
  seed: number;
  /**
   * Default: log protocol v2 by seed (even: the real MongoStore over the simulated driver; odd:
   * SimulatedStore). 'redo': log protocol v3 by seed (even: 'redo-mongo', the real MongoRecords and
   * MongoStore over the simulated driver; odd: 'redo-generic'). A flavour's own name forces it.
   */
  flavour?: FlavourChoice;
  instances?: number;
  accounts?: number;
  transactions?: number;
  /** false: no faults at all (the workload alone). */
  faults?: boolean;
  /** Faults to leave out, by number (a failing run being shrunk): network faults, and instance faults. */
  without?: { network: readonly number[]; instance: readonly number[] };
}

export interface RunReport {
  seed: number;
  flavour: Flavour;
  violations: Violation[];
  trace: Trace;
  traceHash: string;
  /** Faults injected, by kind (network fates and instance faults). */
  faults: Record<string, number>;
  /** How many faults were drawn (suppressed ones included), numbered 0..n-1 each: what `without` names. */
  drawn: { network: number; instance: number };
  /** MongoDB inserts that landed after their document's lock moved on: the contract's stated limit (FenceOwnership). */
  lateInserts: number;
  calls: number;
  events: number;
  virtualMs: number;
  realMs: number;
}

const WORLD: SimContext = { process: null, op: null };
/** How long the quiescing phase may take, in virtual ms, before the checkers say it never quiesced. */
const QUIESCE_BOUND_MS = 30_000;
/** The workload phase ends at the latest here (virtual ms after the start). */
const WORKLOAD_BOUND_MS = 60_000;

/** What a run may be asked for: a flavour, or 'redo' (log protocol v3, its store by seed). */
export type FlavourChoice = Flavour | 'redo';

export const FLAVOUR_CHOICES: readonly FlavourChoice[] = ['mongo', 'generic', 'redo', 'redo-mongo', 'redo-generic'];

/** The flavour a seed runs: v2 by default, v3 on 'redo'; even seeds on the simulated MongoDB driver, odd ones on the generic stores. */
export function flavourOf(seed: number, choice?: FlavourChoice): Flavour {
  const even = seed % 2 === 0;
  if (choice === 'redo') return even ? 'redo-mongo' : 'redo-generic';
  return choice ?? (even ? 'mongo' : 'generic');
}

/** The network's fault rates for a run: a base rate each, scaled by the seed (some runs calm, some rough). */
function networkFaults(prng: Prng): NetworkFaults {
  const scale = prng.pick([0.5, 1, 1, 2, 3]);
  return { delayed: 0.05 * scale, stalled: 0.004 * scale, failBefore: 0.01 * scale, lostReply: 0.01 * scale, duplicate: 0.008 * scale, cut: 0.02 * scale };
}

export async function runSimulation(options: RunOptions): Promise<RunReport> {
  const started = performance.now();
  const { seed } = options;
  const flavour = flavourOf(seed, options.flavour);
  const instanceCount = options.instances ?? 3;
  const accountCount = options.accounts ?? 5;
  const runtime = new SimRuntime(seed);
  const trace = new Trace();
  const world = new SimWorld(runtime, trace, flavour, seed, instanceCount);
  const faults = Prng.fork(seed, 'faults');
  const initial = new Map<string, Doc>();
  for (const id of accountIds(accountCount)) {
    world.seed('account', id, { balance: INITIAL_BALANCE });
    initial.set(documentKey('account', id), { id, balance: INITIAL_BALANCE });
  }
  for (const { id, handle, tag } of INITIAL_MEMBERS) {
    world.seed('member', id, { handle, tag });
    initial.set(documentKey('member', id), { id, handle, tag });
  }
  const fenceOwnership = new FenceOwnership(world);
  const checkers: Checker[] = [
    fenceOwnership,
    new CommittedHistory(world),
    new Quiescence(world),
    new Money(world, INITIAL_BALANCE, accountCount),
    new OneKeyOneOutcome(world),
    new SuccessCommitted(world),
    new CommittedReads(world, INITIAL_BALANCE, accountCount),
    new Liveness(world),
    new UniqueValues(world),
    ...(isRedo(flavour) ? [new RecordRules(world)] : []),
  ];
  world.db.observe((event) => {
    for (const checker of checkers) checker.observe(event);
  });

  const spanMs = 8_000;
  const workload = new Workload(world, seed, planWorkload(seed, { accounts: accountCount, transactions: options.transactions ?? 20, instances: instanceCount, spanMs }));
  const instanceFaults: Record<string, number> = {};
  const pausedMs = new Map<string, number>();
  const count = (kind: string): void => {
    instanceFaults[kind] = (instanceFaults[kind] ?? 0) + 1;
  };

  for (const instance of world.instances) runtime.schedule(0, () => instance.boot(), WORLD);
  let planned = 0;
  if (options.faults !== false) {
    world.network.faults = networkFaults(faults);
    world.network.suppressed = new Set(options.without?.network ?? []);
    world.network.stallMs = [ENGINE_OPTIONS.leaseMs * 1.2, ENGINE_OPTIONS.leaseMs * 4];
    planned = faults.int(0, 4);
    for (let i = 0; i < planned; i++) {
      const at = faults.int(300, spanMs + 1_000);
      const instance = world.instances[faults.int(0, instanceCount - 1)];
      const kind = faults.pick(['pause', 'pause', 'crash', 'clock'] as const);
      const duration = faults.int(ENGINE_OPTIONS.leaseMs * 1.2, ENGINE_OPTIONS.leaseMs * 4);
      const skew = faults.int(200, 3_000) * (faults.chance(0.5) ? -1 : 1);
      if (options.without?.instance.includes(i) === true) continue;
      runtime.schedule(at, () => {
        const process = instance.process;
        if (!process.alive || process.paused) return;
        count(kind);
        if (kind === 'pause') {
          process.paused = true;
          trace.add(runtime.now, 'fault', `pause ${process.label} for ${duration} ms (instance fault #${i})`);
          runtime.schedule(duration, () => {
            pausedMs.set(process.label, (pausedMs.get(process.label) ?? 0) + duration);
            trace.add(runtime.now, 'fault', `resume ${process.label}`);
            runtime.resume(process);
          }, WORLD);
        } else if (kind === 'crash') {
          instance.crash();
          trace.add(runtime.now, 'fault', `crash ${process.label}; restart in ${duration} ms (instance fault #${i})`);
          runtime.schedule(duration, () => {
            instance.restart();
            trace.add(runtime.now, 'fault', `restart ${instance.process.label}`);
          }, WORLD);
        } else {
          process.clockOffsetMs += skew;
          trace.add(runtime.now, 'fault', `move ${process.label}'s clock by ${skew} ms (now ${process.clockOffsetMs}; instance fault #${i})`);
        }
      }, WORLD);
    }
  }
  workload.schedule();
  const lastStart = Math.max(0, ...workload.plan.map((plan) => plan.at)) + EPOCH_MS;
  await runtime.run(() => runtime.now > lastStart && workload.settled(), EPOCH_MS + WORKLOAD_BOUND_MS);

  // Quiescing: faults off, every instance up with a right clock, recovery until nothing is active.
  world.network.faults = NO_FAULTS;
  trace.add(runtime.now, 'fault', 'faults off: quiescing');
  for (const instance of world.instances) {
    const process = instance.process;
    if (process.paused) {
      trace.add(runtime.now, 'fault', `resume ${process.label}`);
      runtime.resume(process);
    }
    if (!process.alive) {
      runtime.schedule(0, () => {
        instance.restart();
        trace.add(runtime.now, 'fault', `restart ${instance.process.label}`);
      }, WORLD);
    } else if (process.clockOffsetMs !== 0) {
      process.clockOffsetMs = 0;
      runtime.schedule(0, () => void instance.engine.clock.sync().catch(() => undefined), { process, op: null });
    }
  }
  const logs = world.db.table(LOG_IDENTITY);
  const locks = world.db.table(LOCK_IDENTITY);
  const quiet = (): boolean => locks.size === 0 && world.heldRecords() === 0 && workload.settled() && [...logs.values()].every((log) => log.state === 'committed' || log.state === 'rolled-back');
  const quiesceFrom = runtime.now;
  await runtime.run(quiet, quiesceFrom + QUIESCE_BOUND_MS);
  const quiesced = quiet();
  trace.add(runtime.now, 'fault', quiesced ? 'quiesced' : 'did not quiesce');

  const end = { world, workload, initial, quiesced, pausedMs };
  for (const checker of checkers) checker.finish(end);
  const violations = checkers.flatMap((checker) => checker.violations);
  for (const err of runtime.thrown) violations.push({ checker: 'runtime', message: `an event threw: ${err instanceof Error ? err.stack ?? err.message : String(err)}`, refs: [], at: runtime.now });
  const injected: Record<string, number> = { ...instanceFaults };
  for (const [fate, n] of world.network.injected) injected[fate] = n;
  return {
    seed,
    flavour,
    violations,
    trace,
    traceHash: trace.hash(),
    faults: injected,
    drawn: { network: world.network.drawnFaults, instance: planned },
    lateInserts: fenceOwnership.lateInserts,
    calls: workload.records.length,
    events: runtime.events,
    virtualMs: runtime.now - EPOCH_MS,
    realMs: performance.now() - started,
  };
}
