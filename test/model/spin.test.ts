/**
 * The Spin model of log protocol v3 (model/transact.pml, docs/protocol-v3.md "The model"): each
 * configuration's exhaustive safety check ends with no error and a complete search, and each
 * mutant (one rule removed) makes Spin find an assertion violation. Spin and gcc must be installed
 * (.ci/run installs them): without them this test fails, it does not skip.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function repoRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'model', 'transact.pml'))) return dir;
    if (path.dirname(dir) === dir) throw new Error('model/transact.pml not found above ' + __dirname);
  }
}

const model = path.join(repoRoot(), 'model', 'transact.pml');

/** Each configuration drops one part of the model (the whole is past the check's budget). */
const configurations: Record<string, string[]> = {
  faults: ['-DONE_ATTEMPT'],
  keyed: ['-DONE_RECOVERER', '-DNO_NETWORK_FAULTS'],
  // T gives D1 back while it waits and takes it again; the give-back may land late (one recoverer: the state space).
  'give-back': ['-DONE_ATTEMPT', '-DONE_RECOVERER', '-DGIVE_BACK'],
};

/** Each mutant removes one rule; the configuration in which its counterexample exists. */
const mutants: [string, keyof typeof configurations][] = [
  ['MUTANT_NO_VERSION_GUARD', 'faults'],
  ['MUTANT_APPLY_WITHOUT_GUARD', 'faults'],
  ['MUTANT_TAKEOVER_WITHOUT_TOMBSTONE', 'faults'],
  ['MUTANT_GRANT_UNCONDITIONAL', 'faults'],
  ['MUTANT_NO_EPOCH_GUARD', 'keyed'],
  ['MUTANT_TRUST_GIVEN_BACK', 'give-back'],
];

function run(cmd: string, args: string[], cwd: string): string {
  const out = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (out.error) throw new Error(`${cmd}: ${out.error.message} (is it installed? .ci/run installs spin and gcc)`);
  if (out.status !== 0 && cmd !== './pan') throw new Error(`${cmd} ${args.join(' ')} exited ${out.status}:\n${out.stdout}\n${out.stderr}`);
  return `${out.stdout}\n${out.stderr}`;
}

/** spin -a, gcc, pan in a directory of its own: pan's report (without its progress lines). */
function check(defines: string[], optimize = '-O2', file = model): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'transact-spin-'));
  try {
    fs.copyFileSync(file, path.join(dir, path.basename(file)));
    run('spin', ['-a', ...defines, path.basename(file)], dir);
    run('gcc', [optimize, '-DSAFETY', '-DCOLLAPSE', '-DMEMLIM=2000', '-o', 'pan', 'pan.c'], dir);
    return run('./pan', ['-m100000'], dir).split('\n').filter((line) => !line.startsWith('Depth=')).join('\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('the Spin model of log protocol v3 (model/transact.pml)', function () {
  this.timeout(300_000);

  before(function () {
    // Fails, never skips, when the tools are missing.
    run('spin', ['-V'], os.tmpdir());
    run('gcc', ['--version'], os.tmpdir());
  });

  for (const [name, defines] of Object.entries(configurations)) {
    it(`configuration "${name}": every invariant holds, the search complete`, function () {
      const report = check(defines);
      expect(report, report).to.match(/errors: 0\b/);
      expect(report, report).to.not.match(/assertion violated|Search not completed|max search depth too small|reached -DMEMLIM|out of memory/i);
      expect(report, report).to.match(/states, stored/);
    });
  }

  for (const [mutant, configuration] of mutants) {
    it(`${mutant}: Spin finds an assertion violation`, function () {
      // -O0: pan stops at its first violation, in a moment; gcc -O2 would take longer than the search.
      const report = check([...configurations[configuration], `-D${mutant}`], '-O0');
      expect(report, report).to.match(/assertion violated/);
      expect(report, report).to.match(/errors: [1-9]/);
    });
  }
});

/** R9 on MongoDB on its own (model/unique-claim.pml; docs/protocol-v3.md "R9 on MongoDB"): a claim document and a marker. */
describe('the Spin model of R9 on MongoDB (model/unique-claim.pml)', function () {
  this.timeout(300_000);
  const claims = path.join(repoRoot(), 'model', 'unique-claim.pml');

  it('no two transactions commit one unique value, the search complete', function () {
    const report = check([], '-O2', claims);
    expect(report, report).to.match(/errors: 0\b/);
    expect(report, report).to.not.match(/assertion violated|Search not completed|max search depth too small|reached -DMEMLIM|out of memory/i);
    expect(report, report).to.match(/states, stored/);
  });

  for (const mutant of ['MUTANT_NO_MARKER_CHECK', 'MUTANT_SWEEP_LIVE']) {
    it(`${mutant}: Spin finds a double commit`, function () {
      const report = check([`-D${mutant}`], '-O0', claims);
      expect(report, report).to.match(/assertion violated/);
      expect(report, report).to.match(/errors: [1-9]/);
    });
  }
});
