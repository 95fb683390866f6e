// The test environment of mutation runs (stryker/jest.config.js): once a test fails while a mutant
// is active, the remaining tests of that mutant's run are skipped, in this file and in the run's
// other files (they share this module in the runner's process). A mutant is killed by one
// failing test; Jest cannot bail programmatically (Stryker's jest runner turns bail off), so
// without this every killed mutant still ran every test that covers it, which made a run of the
// SAML checks take hours.
const { TestEnvironment } = require('jest-environment-node');

/** The mutant a test failed under (Stryker names the active one in this variable per run). */
let failedUnder;
const activeMutant = () => process.env.__STRYKER_ACTIVE_MUTANT__;

class FailFastEnvironment extends TestEnvironment {
  async handleTestEvent(event) {
    const mutant = activeMutant();
    if (mutant === undefined) return;
    if (event.name === 'test_fn_failure' || event.name === 'hook_failure') failedUnder = mutant;
    else if (event.name === 'test_start' && failedUnder === mutant) event.test.mode = 'skip';
  }
}

module.exports = FailFastEnvironment;
