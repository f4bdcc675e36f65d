'use strict';
// The spec reporter, plus the machine-readable last line CI reads:
// "N passed, N failed". Pending tests count as failed when CI=true (mocha's
// --forbid-pending already fails them; this keeps the line honest too).
const Mocha = require('mocha');
const { writeFileSync } = require('node:fs');

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const s = runner.stats ?? { passes: 0, failures: 0, pending: 0 };
      const failed = s.failures + (process.env.CI === 'true' ? s.pending : 0);
      const summary = { passed: s.passes, failed, pending: s.pending };
      if (process.env.CPE_TEST_SUMMARY) {
        writeFileSync(process.env.CPE_TEST_SUMMARY, JSON.stringify(summary));
      }
      process.stdout.write(`\n${summary.passed} passed, ${summary.failed} failed\n`);
    });
  }
}

module.exports = SummaryReporter;
