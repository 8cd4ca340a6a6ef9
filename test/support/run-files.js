'use strict';
// npm test: mocha once per test file, one after another, each in a process of its own; the run's
// stats (passes, failures, pending) summed into $MOCHA_STATS_FILE as one mocha run would write them.
// Why: every Sails load stayed reachable after lower (85-107 MB a load of the fund app, issue 22,
// fixed in test/support/modules.ts; test/hook/heap.test.ts), and one process over the whole suite
// spent its last minutes collecting garbage near its heap limit. A file of its own per process
// still isolates what a file leaves behind (adapters' module state, servers, environment).
// Arguments (files) run only those.
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..', '..');
const distTest = path.join(root, 'dist', 'test');

function testFiles(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...testFiles(full));
    else if (entry.name.endsWith('.test.js')) out.push(full);
  }
  return out;
}

const files = process.argv.length > 2 ? process.argv.slice(2).map((file) => path.resolve(file)) : testFiles(distTest);
const statsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'transact-stats-'));
const total = { suites: 0, tests: 0, passes: 0, pending: 0, failures: 0, start: new Date().toISOString(), end: null, duration: 0 };
const failedFiles = [];
const failures = [];
const wall = [];
let status = 0;
for (const [i, file] of files.entries()) {
  const statsFile = path.join(statsDir, `${i}.json`);
  const started = Date.now();
  const run = spawnSync(process.execPath, [
    '--max-old-space-size=8192',
    path.join(root, 'node_modules', 'mocha', 'bin', 'mocha.js'),
    '--no-config', '--reporter', path.join(__dirname, 'stats-reporter.js'), '--timeout', '60000', '--exit', file,
  ], { cwd: root, stdio: 'inherit', env: { ...process.env, MOCHA_STATS_FILE: statsFile } });
  wall.push([path.relative(distTest, file), Date.now() - started]);
  let stats = null;
  try {
    stats = JSON.parse(fs.readFileSync(statsFile, 'utf8'));
  } catch {
    // the file's process died before its end (a crash, out of memory): one failure
  }
  if (stats === null) {
    total.failures += 1;
    failedFiles.push(`${path.relative(distTest, file)} (no stats: exit ${run.status ?? run.signal})`);
    status = 1;
    continue;
  }
  for (const key of ['suites', 'tests', 'passes', 'pending', 'failures']) total[key] += stats[key] | 0;
  for (const failure of stats.failed || []) failures.push({ file: path.relative(distTest, file), ...failure });
  if ((stats.failures | 0) > 0 || run.status !== 0) {
    failedFiles.push(path.relative(distTest, file));
    status = 1;
  }
}
total.end = new Date().toISOString();
total.duration = Date.parse(total.end) - Date.parse(total.start);
fs.rmSync(statsDir, { recursive: true, force: true });
console.log('\n  wall time per test file:');
for (const [file, ms] of wall.sort((a, b) => b[1] - a[1])) console.log(`    ${(ms / 1000).toFixed(1).padStart(7)} s  ${file}`);
console.log(`\n  ${total.passes} passing, ${total.failures} failing, ${total.pending} pending, ${files.length} files, ${(total.duration / 1000).toFixed(0)} s`);
if (failures.length > 0) {
  console.log('\n  failures:');
  for (const [i, failure] of failures.entries()) {
    console.log(`  ${i + 1}) ${failure.file}: ${failure.title}`);
    console.log(failure.message.split('\n').map((line) => `       ${line}`).join('\n'));
  }
}
if (failedFiles.length > 0) console.log(`  failed: ${failedFiles.join(', ')}`);
if (process.env.MOCHA_STATS_FILE) {
  fs.mkdirSync(path.dirname(process.env.MOCHA_STATS_FILE), { recursive: true });
  fs.writeFileSync(process.env.MOCHA_STATS_FILE, JSON.stringify(total));
}
process.exit(status);
