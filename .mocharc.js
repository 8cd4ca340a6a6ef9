'use strict';

module.exports = {
  spec: ['dist/test/**/*.test.js'],
  reporter: './test/support/stats-reporter.js',
  timeout: 60000,
  exit: true,
  // `npm test` runs each file in a process of its own (test/support/run-files.js); this config is
  // for mocha run by hand over several files. Each loaded Sails app stays reachable after lower
  // (~40 MB a load, a known leak, issue 22): many files in one process need a large heap.
  'node-option': ['max-old-space-size=14336'],
  recursive: true,
};
