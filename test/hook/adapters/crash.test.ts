/**
 * Crash safety, proven by killing a real process: a child runs the scenario and SIGKILLs itself
 * at one protocol step boundary (TRANSACT_CRASH_AT); a new child starts, recovers, and the
 * state must be the whole transaction or none of it — every attribute of every document
 * compared. Some cases also kill recovery itself, and every case recovers twice to show that
 * recovery is idempotent.
 */
import { expect } from 'chai';
import { type ChildResult, runChild } from '../../support/child';
import { AMOUNT, IDS, type Row, type ScenarioName } from '../../support/scenario';
import { type AdapterName, forEachPath, forEachRedoAdapter, freshTarget, type Protocol } from '../../support/targets';

type Outcome = 'none' | 'all';

interface CrashCase {
  scenario: ScenarioName;
  /** Where the running transaction dies (undefined: it runs to the end). */
  crashAt?: string;
  /** Where recovery itself is killed, one restart each, before the final recovery. */
  recoveryCrashes?: string[];
  expected: Outcome;
}

const CASES: CrashCase[] = [
  { scenario: 'batch', expected: 'all' },
  { scenario: 'batch', crashAt: 'batch:locked', expected: 'none' },
  { scenario: 'batch', crashAt: 'batch:logged', expected: 'none' },
  ...[1, 2, 3, 4, 5].map((n): CrashCase => ({ scenario: 'batch', crashAt: `batch:applied#${n}`, expected: 'none' })),
  { scenario: 'batch', crashAt: 'batch:committed', expected: 'all' },
  { scenario: 'batch', crashAt: 'batch:released', expected: 'all' },
  { scenario: 'batch', crashAt: 'batch:applied#3', recoveryCrashes: ['rollback:claimed'], expected: 'none' },
  { scenario: 'batch', crashAt: 'batch:applied#3', recoveryCrashes: ['rollback:undone#2', 'rollback:undone#1'], expected: 'none' },
  { scenario: 'batch', crashAt: 'batch:applied#3', recoveryCrashes: ['rollback:ended'], expected: 'none' },
  { scenario: 'batch-forward', crashAt: 'batch:logged', expected: 'all' },
  { scenario: 'batch-forward', crashAt: 'batch:applied#2', expected: 'all' },
  { scenario: 'batch-forward', crashAt: 'batch:applied#5', expected: 'all' },
  { scenario: 'batch-forward', crashAt: 'batch:applied#1', recoveryCrashes: ['rollforward:claimed', 'rollforward:redone#3', 'rollforward:ended'], expected: 'all' },
  { scenario: 'interactive', expected: 'all' },
  { scenario: 'interactive', crashAt: 'tx:begun', expected: 'none' },
  { scenario: 'interactive', crashAt: 'tx:locked#1', expected: 'none' },
  ...[1, 3, 5].flatMap((n): CrashCase[] => [
    { scenario: 'interactive', crashAt: `tx:logged#${n}`, expected: 'none' },
    { scenario: 'interactive', crashAt: `tx:applied#${n}`, expected: 'none' },
  ]),
  { scenario: 'interactive', crashAt: 'tx:committed', expected: 'all' },
  { scenario: 'interactive', crashAt: 'tx:released', expected: 'all' },
  { scenario: 'interactive', crashAt: 'tx:applied#2', recoveryCrashes: ['rollback:undone#1'], expected: 'none' },
  { scenario: 'interactive-abort', crashAt: 'rollback:claimed', expected: 'none' },
  { scenario: 'interactive-abort', crashAt: 'rollback:undone#1', expected: 'none' },
  { scenario: 'interactive-abort', crashAt: 'rollback:undone#4', expected: 'none' },
  { scenario: 'interactive-abort', crashAt: 'rollback:ended', expected: 'none' },
];

interface State {
  accounts: Row[];
  transfers: Row[];
  logs: Row[];
  locks: Row[];
}

function expectNone(seed: Row[], state: State, protocol: Protocol, crashAt?: string): void {
  expect(state.accounts, 'every account equals its before-image, every attribute').to.deep.equal(seed);
  expect(state.transfers, 'the created transfer is gone').to.deep.equal([]);
  // A native transaction killed before its COMMIT leaves nothing at all, its log row included; so
  // does an interactive one killed before it locked anything (it logs at its first write), and a
  // v3 one that failed by itself (it frees its records; a v3 log is written at the commit point,
  // or as a tombstone by whoever finds its records orphaned).
  const nothing = protocol === 'native' || crashAt === 'tx:begun' || (protocol === 'redo' && crashAt === undefined);
  expect(state.logs.map((log) => log.state)).to.deep.equal(nothing ? [] : ['rolled-back']);
}

/**
 * What a case means on the native path: the owner's own rollback and recovery's compensation are
 * PostgreSQL's ROLLBACK there (no protocol steps to kill); roll-forward batches take the log protocol.
 */
function appliesTo(c: CrashCase, protocol: Protocol): boolean {
  if (protocol === 'log' || c.scenario === 'batch-forward') return true;
  // A native batch writes all its documents in one statement: it passes batch:applied once.
  if (c.scenario === 'batch' && /^batch:applied#[2-9]/.test(c.crashAt ?? '')) return false;
  return c.scenario !== 'interactive-abort' && c.recoveryCrashes === undefined;
}

function expectAll(seed: Row[], state: State): void {
  const before = new Map(seed.map((row) => [row.id, row]));
  const after = new Map(state.accounts.map((row) => [row.id, row]));
  // One committed transaction; a keyed one run again after a crash also keeps its failed attempt (`<id>.<epoch>`).
  const attempts = state.logs.filter((log) => String(log.id).includes('.'));
  expect(attempts.map((log) => log.state)).to.deep.equal(attempts.map(() => 'rolled-back'));
  const current = state.logs.filter((log) => !String(log.id).includes('.'));
  expect(current.map((log) => log.state)).to.deep.equal(['committed']);
  const steps = current[0].steps as { id: string; kind: string; after: Row | null }[];
  const sum = (rows: Map<unknown, Row>): number => [IDS.alice, IDS.bob].reduce((total, id) => total + (rows.get(id)?.balance as number), 0);
  expect(sum(after), 'the transfer moves money, it neither makes nor loses any').to.equal(sum(before));
  expect(after.get(IDS.alice)?.balance).to.equal((before.get(IDS.alice)?.balance as number) - AMOUNT);
  expect(after.get(IDS.bob)?.balance).to.equal((before.get(IDS.bob)?.balance as number) + AMOUNT);
  expect(after.get(IDS.carol)).to.deep.include({ frozen: false, meta: { note: 'unfrozen' } });
  expect(after.has(IDS.dave), 'dave is destroyed').to.equal(false);
  expect(state.transfers.map((row) => [row.id, row.amount])).to.deep.equal([[IDS.transfer, AMOUNT]]);
  // every updated document equals, attribute for attribute, the after-image its last step logged
  for (const id of [IDS.alice, IDS.bob, IDS.carol]) {
    const last = steps.filter((step) => step.id === id).pop();
    expect(after.get(id), `${id} equals its logged after-image`).to.deep.equal(last?.after);
  }
}

/** What one case's children did: the run, the recoveries killed on purpose, the final recovery, and a second one. */
interface CaseRun {
  run: ChildResult;
  killed: { point: string; result: ChildResult }[];
  recovered: ChildResult;
  again: ChildResult;
}

async function runCase(adapter: AdapterName, c: CrashCase, env: Record<string, string>): Promise<CaseRun> {
  const target = await freshTarget(adapter);
  const run = await runChild(target, ['run', c.scenario], c.crashAt, env);
  const killed: CaseRun['killed'] = [];
  for (const point of c.recoveryCrashes ?? []) killed.push({ point, result: await runChild(target, ['recover'], point, env) });
  const recovered = await runChild(target, ['recover'], undefined, env);
  const again = await runChild(target, ['recover'], undefined, env);
  return { run, killed, recovered, again };
}

/**
 * Two cases at a time, over the whole file: each case has its own database and its children run
 * one after another, so cases are independent; running two overlaps one child's start-up with
 * another's (CI time). Results are settled values, asserted in each case's own test.
 */
const CONCURRENCY = 2;
const queue: (() => Promise<void>)[] = [];
let workers = 0;

function schedule<T>(task: () => Promise<T>): Promise<PromiseSettledResult<T>> {
  return new Promise((resolve) => {
    queue.push(async () => {
      try {
        resolve({ status: 'fulfilled', value: await task() });
      } catch (reason) {
        resolve({ status: 'rejected', reason });
      }
    });
    for (; workers < Math.min(CONCURRENCY, queue.length); workers++) void work();
  });
}

async function work(): Promise<void> {
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) await next();
  workers--;
}

/** One describe block's cases, queued once, in the order the blocks are defined. */
interface Block<T> {
  /** Queues this block's cases and the next block's. */
  start(): void;
  result(i: number): Promise<PromiseSettledResult<T>>;
}
const blocks: { queue(): void }[] = [];

/**
 * A block's cases start with its `before`, and the next block's with them: the pool never waits
 * at a block's end, its last case running alone while the next block's are not queued yet (a
 * block per adapter and path: 17 such ends, ~half a case each). One block ahead only, so a run
 * that --grep narrows to one block runs at most one more.
 */
function defineBlock<T>(tasks: (() => Promise<T>)[]): Block<T> {
  let results: Promise<PromiseSettledResult<T>>[] | undefined;
  const queueOnce = (): Promise<PromiseSettledResult<T>>[] => (results ??= tasks.map((task) => schedule(task)));
  const index = blocks.push({ queue: () => void queueOnce() }) - 1;
  return {
    start() {
      queueOnce();
      blocks[index + 1]?.queue();
    },
    result: (i) => queueOnce()[i],
  };
}

forEachPath('crash safety (SIGKILL at each protocol step)', (_target, adapter: AdapterName, protocol) => {
  crashCases(adapter, protocol, CASES.filter((one) => appliesTo(one, protocol)));
});

/**
 * Log protocol v3 (docs/protocol-v3.md): nothing is written before the commit point, so a batch
 * killed before it leaves every document as it was (its locks freed by R5, its id tombstoned);
 * killed after it — between any two documents of the apply, the apply's recovery killed too —
 * every document ends at its committed after-image (R4, R7).
 */
const REDO_CASES: CrashCase[] = [
  { scenario: 'batch', expected: 'all' },
  { scenario: 'batch', crashAt: 'batch:locked', expected: 'none' },
  { scenario: 'batch', crashAt: 'commit:sending', expected: 'none' },
  { scenario: 'batch', crashAt: 'batch:committed', expected: 'all' },
  ...[1, 2, 3, 4, 5].map((n): CrashCase => ({ scenario: 'batch', crashAt: `apply:written#${n}`, expected: 'all' })),
  { scenario: 'batch', crashAt: 'batch:applied', expected: 'all' },
  { scenario: 'batch', crashAt: 'apply:written#2', recoveryCrashes: ['apply:written#1', 'apply:written#2'], expected: 'all' },
  { scenario: 'batch', crashAt: 'batch:locked', recoveryCrashes: ['apply:written#1'], expected: 'none' },
  // sails-mongo's apply cut between its two collections (accounts written, the transfer not yet).
  { scenario: 'batch', crashAt: 'apply:collection#1', expected: 'all' },
  { scenario: 'batch', crashAt: 'apply:collection#1', recoveryCrashes: ['apply:collection#1'], expected: 'all' },
];

/**
 * An interactive transaction on v3 (lib/engine/redo/interactive.ts): it holds each document from its
 * first read, buffers its writes, and writes nothing before its commit point. Killed before it —
 * before any hold, holding some or all five, every write buffered, the commit about to be sent —
 * every document is as it was; killed after it — before the apply, between two of its documents
 * or collections, after it — every document is its committed after-image.
 */
const REDO_INTERACTIVE_CASES: CrashCase[] = [
  { scenario: 'interactive', expected: 'all' },
  { scenario: 'interactive', crashAt: 'tx:begun', expected: 'none' },
  { scenario: 'interactive', crashAt: 'tx:locked#1', expected: 'none' },
  { scenario: 'interactive', crashAt: 'tx:locked#5', expected: 'none' },
  { scenario: 'interactive', crashAt: 'tx:applied#5', expected: 'none' },
  { scenario: 'interactive', crashAt: 'commit:sending', expected: 'none' },
  { scenario: 'interactive', crashAt: 'tx:committed', expected: 'all' },
  ...[1, 2, 3, 4, 5].map((n): CrashCase => ({ scenario: 'interactive', crashAt: `apply:written#${n}`, expected: 'all' })),
  { scenario: 'interactive', crashAt: 'apply:collection#1', expected: 'all' },
  { scenario: 'interactive', crashAt: 'tx:released', expected: 'all' },
  { scenario: 'interactive', crashAt: 'apply:written#3', recoveryCrashes: ['apply:written#1'], expected: 'all' },
  { scenario: 'interactive', crashAt: 'tx:committed', recoveryCrashes: ['apply:collection#1'], expected: 'all' },
  { scenario: 'interactive', crashAt: 'tx:locked#5', recoveryCrashes: ['apply:written#1'], expected: 'none' },
  // The callback throws: its records are freed, nothing was ever logged.
  { scenario: 'interactive-abort', expected: 'none' },
];

/**
 * Where each apply crash point is (any other point is on every adapter): `apply:written` is
 * sails-disk's (one document at a time under its mutex), `apply:collection` sails-mongo's (one bulk
 * write per collection); PostgreSQL writes a whole apply in one statement.
 */
const APPLY_POINTS: Record<string, AdapterName> = { 'apply:written': 'disk', 'apply:collection': 'mongo' };

function redoCrashPointsOf(adapter: AdapterName): (c: { crashAt?: string; recoveryCrashes?: string[] }) => boolean {
  return (c) =>
    [c.crashAt ?? '', ...(c.recoveryCrashes ?? [])].every((point) => {
      const owner = APPLY_POINTS[point.split('#')[0]];
      return owner === undefined || owner === adapter;
    });
}

forEachRedoAdapter('crash safety of log protocol v3 (SIGKILL at each step)', (_target, adapter: AdapterName) => {
  crashCases(adapter, 'redo', REDO_CASES.filter(redoCrashPointsOf(adapter)));
});

forEachRedoAdapter('crash safety of log protocol v3, interactive transactions (SIGKILL at each step)', (_target, adapter: AdapterName) => {
  crashCases(adapter, 'redo', REDO_INTERACTIVE_CASES.filter(redoCrashPointsOf(adapter)));
});

/**
 * One test per case: the child died where it was told (or finished), each recovery killed on
 * purpose died, the final recovery left no lock and the whole transaction or none of it, and
 * recovering again changed nothing. v3's recovery may end by itself instead of dying: one that
 * finds nothing to apply never reaches its crash point.
 */
function crashCases(adapter: AdapterName, protocol: Protocol, cases: readonly CrashCase[]): void {
  const env = { TRANSACT_PROTOCOL: protocol };
  const runs = defineBlock(cases.map((c) => () => runCase(adapter, c, env)));
  before(function () {
    runs.start();
  });
  cases.forEach((c, i) => {
    const title = `${c.scenario}: ${c.crashAt === undefined ? 'no crash' : `killed at ${c.crashAt}`}${c.recoveryCrashes ? `, recovery killed at ${c.recoveryCrashes.join(', ')}` : ''} → ${c.expected === 'all' ? 'wholly applied' : 'wholly absent'}`;
    it(title, async function () {
      const settled = await runs.result(i);
      if (settled.status === 'rejected') throw settled.reason;
      const { run, killed, recovered, again } = settled.value;
      expect(run.lines.has('SEED'), run.stderr).to.equal(true);
      if (c.crashAt === undefined) expect(run.code, run.stderr).to.equal(0);
      else expect(run.signal, `the child must die at ${c.crashAt}, not finish\n${run.stderr}`).to.equal('SIGKILL');
      const seed = JSON.parse(run.lines.get('SEED') as string) as Row[];
      for (const { point, result } of killed) {
        if (protocol === 'redo') expect(result.signal === 'SIGKILL' || result.code === 0, `recovery died at ${point} or ended\n${result.stderr}`).to.equal(true);
        else expect(result.signal, `recovery must die at ${point}\n${result.stderr}`).to.equal('SIGKILL');
      }
      expect(recovered.code, recovered.stderr).to.equal(0);
      const state = JSON.parse(recovered.lines.get('STATE') as string) as State;
      expect(state.locks, 'no lock (and on v3 no held record) survives recovery').to.deep.equal([]);
      if (c.expected === 'all') expectAll(seed, state);
      else expectNone(seed, state, c.scenario === 'batch-forward' ? 'log' : protocol, c.crashAt);
      expect(JSON.parse(again.lines.get('STATE') as string), 'recovering again changes nothing').to.deep.equal(state);
    });
  });
}

/** A keyed batch killed mid-way, recovered, then submitted again: it must never run a second time. */
const KEYED: { crashAt: string; expected: Outcome; repeat: string }[] = [
  // The first run died before deciding anything (owner_died): the repeat runs it, once (Stripe's semantics).
  { crashAt: 'batch:logged', expected: 'all', repeat: 'committed' },
  { crashAt: 'batch:locked', expected: 'all', repeat: 'committed' },
  { crashAt: 'batch:applied#2', expected: 'all', repeat: 'committed' },
  { crashAt: 'batch:committed', expected: 'all', repeat: 'committed' },
];

forEachPath('idempotency across a crash', (_target, adapter: AdapterName, protocol) => {
  // A native batch passes batch:applied once (all its writes are one statement).
  keyedAcrossCrash(adapter, protocol, KEYED.filter((one) => protocol === 'log' || one.crashAt !== 'batch:applied#2'));
});

forEachRedoAdapter('idempotency across a crash, log protocol v3', (_target, adapter: AdapterName) => {
  // v3 applies after its commit point: killed mid-apply (between two documents, or two collections), the first run's result stands.
  const midApply = adapter === 'mongo' ? 'apply:collection#1' : 'apply:written#2';
  keyedAcrossCrash(adapter, 'redo', KEYED.map((one) => (one.crashAt === 'batch:applied#2' ? { crashAt: midApply, expected: 'all' as const, repeat: 'committed' } : one)).filter(redoCrashPointsOf(adapter)));
});

function keyedAcrossCrash(adapter: AdapterName, protocol: Protocol, cases: typeof KEYED): void {
  const env = { TRANSACT_PROTOCOL: protocol };
  const runs = defineBlock(
    cases.map((c) => async () => {
      const target = await freshTarget(adapter);
      const run = await runChild(target, ['run', 'batch-keyed'], c.crashAt, env);
      const recovered = await runChild(target, ['recover'], undefined, env);
      const repeat = await runChild(target, ['repeat', 'batch-keyed'], undefined, env);
      return { run, recovered, repeat };
    }),
  );
  before(function () {
    runs.start();
  });
  cases.forEach((c, i) => {
    const firstStands = c.crashAt === 'batch:committed' || c.crashAt.startsWith('apply:');
    it(`keyed batch killed at ${c.crashAt}, recovered, repeated → ${firstStands ? "the first run's result" : 'run again'}, applied ${c.expected === 'all' ? 'once' : 'never'}`, async function () {
      const settled = await runs.result(i);
      if (settled.status === 'rejected') throw settled.reason;
      const { run, recovered, repeat } = settled.value;
      expect(run.signal, run.stderr).to.equal('SIGKILL');
      const seed = JSON.parse(run.lines.get('SEED') as string) as Row[];
      expect(recovered.code, recovered.stderr).to.equal(0);
      expect(repeat.code, repeat.stderr).to.equal(0);
      expect(JSON.parse(repeat.lines.get('OUTCOME') as string)).to.equal(c.repeat);
      const state = JSON.parse(repeat.lines.get('STATE') as string) as State;
      expect(state.locks).to.deep.equal([]);
      if (c.expected === 'all') expectAll(seed, state);
      else expectNone(seed, state, protocol === 'redo' ? 'log' : protocol);
    });
  });
}
