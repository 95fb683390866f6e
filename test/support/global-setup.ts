import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDynamoDbLocal, type RunningDynamoDbLocal } from '../../local/dynamodb-local';
import { createDocumentClient, ensureTable } from '../../functions/core/store/store';

declare global {
  var dynamoDbLocal: RunningDynamoDbLocal | undefined;
}

/**
 * Starts Amazon's DynamoDB Local once for the whole run and creates the table; the tests reach it
 * through the environment the handlers read in AWS. Java missing means a failed run, never a skip.
 * With DYNAMODB_ENDPOINT already set (npm run mutation starts one database for all its Jest runs)
 * that database is reused, and left running.
 */
export default async function globalSetup(): Promise<void> {
  const reused = process.env.DYNAMODB_ENDPOINT;
  const dynamo = reused ? undefined : await startDynamoDbLocal();
  globalThis.dynamoDbLocal = dynamo;
  const endpoint = reused ?? dynamo!.endpoint;
  const tableName = 'sso-test';
  const client = createDocumentClient({ endpoint });
  await ensureTable(client, tableName);
  client.destroy();
  Object.assign(process.env, {
    TABLE_NAME: tableName,
    DYNAMODB_ENDPOINT: endpoint,
    PUBLIC_BASE_URL: 'https://sso.test',
    SESSION_AUDIENCE: 'https://app.test',
    LOCAL_SIGNING_KEY_FILE: join(mkdtempSync(join(tmpdir(), 'sso-test-')), 'signing-key.json'),
    // The admin CLI's local secret store in tests (runtimes built by the harness hold their own secrets).
    LOCAL_SECRETS_FILE: join(mkdtempSync(join(tmpdir(), 'sso-test-secrets-')), 'secrets.json'),
    AWS_REGION: 'local',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    // EMF lines on every request would bury the test output; the observability test turns them on.
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
}
