// npm run mutation: starts DynamoDB Local once for the whole Stryker run (each Jest run's global
// setup then reuses it through DYNAMODB_ENDPOINT instead of starting a JVM per mutant), runs
// Stryker with stryker.config.mjs, and stops the database.
import { spawn } from 'node:child_process';
import { startDynamoDbLocal } from '../local/dynamodb-local';

const dynamo = await startDynamoDbLocal();
const child = spawn(process.execPath, ['node_modules/@stryker-mutator/core/bin/stryker.js', 'run', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, DYNAMODB_ENDPOINT: dynamo.endpoint },
});
const code = await new Promise<number>((resolve) => child.once('exit', (status) => resolve(status ?? 1)));
await dynamo.stop();
process.exit(code);
