// Mutation testing of the security core (npm run mutation, see README "Mutation testing").
// MUTATION_RUN names a run, so that runs of different modules can go side by side.
const run = process.env.MUTATION_RUN ?? 'mutation';
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'jest',
  jest: { configFile: 'stryker/jest.config.js', enableFindRelatedTests: false },
  // Jest runs the ESM test files through node's VM modules.
  testRunnerNodeArgs: ['--experimental-vm-modules'],
  coverageAnalysis: 'perTest',
  // TypeScript 7 (native) has no JS API for Stryker's tsconfig rewriting, and Jest compiles with
  // swc without a tsconfig: point the rewriter at no file so it has nothing to do.
  tsconfigFile: 'stryker/no-tsconfig.json',
  mutate: [
    'functions/core/saml/verify-response.ts',
    'functions/core/provisioning.ts',
    'functions/core/sessions.ts',
    'functions/core/session-token.ts',
  ],
  plugins: ['@stryker-mutator/jest-runner', './stryker/ignore-error-messages.mjs'],
  ignorers: ['error-messages'],
  // Two cores, shared: one worker.
  concurrency: 1,
  // Jest's ESM module registry grows with every run of a worker until it runs out of memory (and
  // slows long before, in the collector): a fresh worker every 15 mutants keeps runs fast.
  maxTestRunnerReuse: 15,
  timeoutMS: 60000,
  timeoutFactor: 2,
  reporters: ['clear-text', 'progress-append-only', 'html', 'json'],
  htmlReporter: { fileName: `reports/${run}/index.html` },
  jsonReporter: { fileName: `reports/${run}/mutation.json` },
  tempDirName: `.stryker-tmp/${run}`,
  ignorePatterns: ['.stryker-tmp', 'reports', 'cdk.out', '.local'],
  cleanTempDir: 'always',
  thresholds: { high: 90, low: 80, break: null },
};
