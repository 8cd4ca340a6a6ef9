'use strict';

module.exports = {
  spec: ['dist/test/**/*.test.js'],
  reporter: './test/support/stats-reporter.js',
  timeout: 60000,
  exit: true,
  recursive: true,
};
