import { fileURLToPath } from 'node:url';
import base from '../jest.config.js';

/**
 * The tests that exercise the mutated modules. The CDK, CLI and metadata tests add time, not kills;
 * the 200-login race test would run for every provisioning mutant, so it is left to npm test.
 * Nearly every login test covers provisioning and sessions, so a run of one module can name the
 * test files that matter to it: MUTATION_TESTS=test/unit/provisioning.test.ts,... (see README).
 */
const ALL = [
  'test/unit/return-to.test.ts',
  'test/unit/session-token.test.ts',
  'test/unit/provisioning.test.ts',
  'test/integration/saml-checks.test.ts',
  'test/integration/saml-interop.test.ts',
  'test/integration/saml-login.test.ts',
  'test/integration/provisioning-policy.test.ts',
  'test/integration/provisioning-checks.test.ts',
  'test/integration/session.test.ts',
  'test/integration/session-checks.test.ts',
];
const chosen = process.env.MUTATION_TESTS ? process.env.MUTATION_TESTS.split(',').map((file) => file.trim()) : ALL;

export default {
  ...base,
  rootDir: '..',
  // A path, not <rootDir>/...: Stryker's jest runner resolves the environment itself, unsubstituted.
  testEnvironment: fileURLToPath(new URL('./fail-fast-environment.cjs', import.meta.url)),
  testSequencer: fileURLToPath(new URL('./listed-order-sequencer.cjs', import.meta.url)),
  testMatch: chosen.map((file) => `<rootDir>/${file}`),
};
