'use strict';
// Mocha reporter: Spec output + writes runner.stats as JSON to $MOCHA_STATS_FILE, and ends with
// the wall time each test file took (the CI budget is watched file by file), and the failures'
// titles and messages (run-files.js repeats them at the end).
const fs = require('fs');
const path = require('path');
const Mocha = require('mocha');

const Spec = Mocha.reporters.Spec || require('mocha/lib/reporters/spec');
const { EVENT_RUN_END, EVENT_SUITE_BEGIN, EVENT_SUITE_END, EVENT_TEST_FAIL } = Mocha.Runner.constants;

class StatsReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    const started = new Map();
    const perFile = new Map();
    // Each failure's title and the head of its message, for the summary at the very end of the run
    // (CI shows only the output's tail).
    const failed = [];
    runner.on(EVENT_TEST_FAIL, (test, err) => {
      const message = String((err && (err.stack || err.message)) || err).split('\n').slice(0, 6).join('\n');
      failed.push({ title: test.fullTitle(), message });
    });
    runner.on(EVENT_SUITE_BEGIN, (suite) => {
      if (suite.parent && suite.parent.root && suite.file) started.set(suite, Date.now());
    });
    runner.on(EVENT_SUITE_END, (suite) => {
      const at = started.get(suite);
      if (at === undefined) return;
      const file = path.basename(suite.file);
      perFile.set(file, (perFile.get(file) || 0) + Date.now() - at);
    });
    runner.once(EVENT_RUN_END, () => {
      const rows = [...perFile].sort((a, b) => b[1] - a[1]);
      if (rows.length > 1) {
        console.log('  wall time per test file:');
        for (const [file, ms] of rows) console.log(`    ${(ms / 1000).toFixed(1).padStart(7)} s  ${file}`);
      }
    });
    runner.once(EVENT_RUN_END, () => {
      const file = process.env.MOCHA_STATS_FILE;
      if (!file) return;
      try {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, JSON.stringify({ ...runner.stats, failed }));
      } catch (err) {
        console.error('stats-reporter: could not write ' + file + ': ' + err.message);
      }
    });
  }
}

module.exports = StatsReporter;
