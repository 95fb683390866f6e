import base from '../jest.config.js';

/** The tests that exercise the mutated modules; the CDK, CLI and metadata tests add time, not kills. */
export default {
  ...base,
  rootDir: '..',
  testMatch: [
    '<rootDir>/test/unit/return-to.test.ts',
    '<rootDir>/test/unit/session-token.test.ts',
    '<rootDir>/test/unit/provisioning*.test.ts',
    '<rootDir>/test/integration/saml-checks.test.ts',
    '<rootDir>/test/integration/saml-interop.test.ts',
    '<rootDir>/test/integration/saml-login.test.ts',
    '<rootDir>/test/integration/provisioning-*.test.ts',
    '<rootDir>/test/integration/session*.test.ts',
  ],
};
