// The test environment of mutation runs (stryker/jest.config.js): once a test of a file fails, the
// file's remaining tests are skipped. A mutant is killed by one failing test; Jest cannot bail
// programmatically (Stryker's jest runner turns bail off), so without this every killed mutant
// still ran every test that covers it, which made a run of the SAML checks take hours.
const { TestEnvironment } = require('jest-environment-node');

class FailFastEnvironment extends TestEnvironment {
  failed = false;

  async handleTestEvent(event) {
    if (event.name === 'test_fn_failure' || event.name === 'hook_failure') this.failed = true;
    else if (event.name === 'test_start' && this.failed) event.test.mode = 'skip';
  }
}

module.exports = FailFastEnvironment;
