'use strict';
// Mocha reporter: Spec output + writes runner.stats as JSON to $MOCHA_STATS_FILE.
const fs = require('fs');
const path = require('path');
const Mocha = require('mocha');

const Spec = Mocha.reporters.Spec || require('mocha/lib/reporters/spec');
const { EVENT_RUN_END } = Mocha.Runner.constants;

class StatsReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const file = process.env.MOCHA_STATS_FILE;
      if (!file) return;
      try {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, JSON.stringify(runner.stats));
      } catch (err) {
        console.error('stats-reporter: could not write ' + file + ': ' + err.message);
      }
    });
  }
}

module.exports = StatsReporter;
