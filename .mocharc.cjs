'use strict';
// Under CI=true nothing may be skipped: a pending test fails the run.
module.exports = {
  'node-option': ['import=tsx'],
  spec: ['test/**/*.test.ts'],
  extension: ['ts'],
  reporter: './test/support/reporter.cjs',
  timeout: 20000,
  'forbid-pending': process.env.CI === 'true',
  'forbid-only': process.env.CI === 'true',
};
