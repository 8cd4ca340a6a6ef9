'use strict';

module.exports = {
  spec: ['dist/test/**/*.test.js'],
  reporter: './test/support/stats-reporter.js',
  timeout: 60000,
  exit: true,
  // `npm test` runs each file in a process of its own (test/support/run-files.js); this config is
  // for mocha run by hand over several files. A lowered app used to keep every load's copy of the
  // fund app's modules (85-107 MB a load, issue 22: 14 GB here); test/support/app.ts now lets
  // them go (test/support/modules.ts) and a load leaves ~0.2 MB (test/hook/heap.test.ts), so
  // 4 GB is room for the largest files' own data, not for the loads.
  'node-option': ['max-old-space-size=4096'],
  recursive: true,
};
