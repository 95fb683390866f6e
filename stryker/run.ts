// npm run mutation: starts DynamoDB Local once for the whole Stryker run (each Jest run's global
// setup then reuses it through DYNAMODB_ENDPOINT instead of starting a JVM per mutant), runs
// Stryker with stryker.config.mjs, and stops the database.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { resolve } from 'node:path';
import { startDynamoDbLocal } from '../local/dynamodb-local';

// The interop test reads ../shared beside the worktree; a sandbox lives in
// .stryker-tmp/<run>/sandbox-*, so its ../shared is .stryker-tmp/<run>/shared.
const temp = `.stryker-tmp/${process.env.MUTATION_RUN ?? 'mutation'}`;
mkdirSync(temp, { recursive: true });
if (!existsSync(`${temp}/shared`)) symlinkSync(resolve('../shared'), `${temp}/shared`);

const dynamo = await startDynamoDbLocal();
const child = spawn(process.execPath, ['node_modules/@stryker-mutator/core/bin/stryker.js', 'run', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, DYNAMODB_ENDPOINT: dynamo.endpoint },
});
const code = await new Promise<number>((resolve) => child.once('exit', (status) => resolve(status ?? 1)));
await dynamo.stop();
process.exit(code);
