import { CreateTableCommand, DynamoDBClient, ResourceInUseException, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TABLE_KEYS } from '../table';
import { auditStore, type AuditStore } from './audit';
import { connectionStore, type ConnectionStore } from './connections';
import { loginStateStore, type LoginStateStore } from './login-state';
import { scimStore, type ScimStore } from './scim';
import { setupLinkStore, type SetupLinkStore } from './setup-links';
import { signInStore, type SignInStore } from './sign-ins';
import { tableAccess } from './table';
import { tenantStore, type TenantStore } from './tenants';
import { userStore, type UserStore } from './users';

export type { AssertionUse, PendingLogin } from './login-state';
export type { SignInWrite } from './sign-ins';

/**
 * The store: the domain's verbs on the one table, composed of one module per aggregate (tenants,
 * connections, users and identities, sessions and login state, a login's one commit, audit, SCIM, setup links). Only the modules of
 * this folder import the DynamoDB SDK; they turn conditional-check failures into domain errors
 * where they happen, any other DynamoDB failure is `service_unavailable`, and nothing is left
 * half-written because every multi-item change is one transaction.
 */
export interface Store extends TenantStore, ConnectionStore, UserStore, LoginStateStore, SignInStore, AuditStore, ScimStore, SetupLinkStore {}

export interface StoreOptions {
  readonly tableName: string;
  readonly client: DynamoDBDocumentClient;
  /** How long audit events are kept. @default 90 days */
  readonly auditRetentionDays?: number;
}

/**
 * How long one attempt may wait for DynamoDB. A database that accepts connections but never
 * answers (a partition, a paused host) then costs a request at most the SDK's three attempts
 * (about 6 s, under the functions' 10 s timeout) and ends in `service_unavailable`, instead of
 * hanging until Lambda kills the function.
 */
export const DATABASE_TIMEOUTS = { connectionTimeoutMs: 1000, requestTimeoutMs: 2000 } as const;

/**
 * A document client for the table, built once per container, with bounded waits (`timeouts`;
 * `false` for a client shared by hundreds of concurrent requests on one loaded machine, as the
 * test suite's is, where a queued request would outwait the bound).
 */
export function createDocumentClient(options: { endpoint?: string; region?: string; timeouts?: false } = {}): DynamoDBDocumentClient {
  const local = options.endpoint !== undefined;
  const client = new DynamoDBClient({
    ...(local
      ? { endpoint: options.endpoint, region: options.region ?? 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }
      : options.region ? { region: options.region } : {}),
    maxAttempts: 3,
    // Without throwOnRequestTimeout the SDK only logs a warning when requestTimeout passes, and keeps waiting.
    ...(options.timeouts === false
      ? {}
      : { requestHandler: { connectionTimeout: DATABASE_TIMEOUTS.connectionTimeoutMs, requestTimeout: DATABASE_TIMEOUTS.requestTimeoutMs, throwOnRequestTimeout: true } }),
  });
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

/** The store on one table. */
export function createStore(options: StoreOptions): Store {
  const table = tableAccess(options.tableName, options.client);
  const auditRetentionSeconds = (options.auditRetentionDays ?? 90) * 24 * 60 * 60;
  return {
    ...tenantStore(table),
    ...connectionStore(table),
    ...userStore(table),
    ...loginStateStore(table),
    ...signInStore(table, auditRetentionSeconds),
    ...auditStore(table, auditRetentionSeconds),
    ...scimStore(table),
    ...setupLinkStore(table),
  };
}

/**
 * Creates the table as the CDK stack defines it, for `npm start` and the tests on DynamoDB Local.
 * An existing table is left as it is.
 */
export async function ensureTable(client: DynamoDBDocumentClient, TableName: string): Promise<void> {
  const { partitionKey, sortKey, byTenantIndex, byTenantPartitionKey, byTenantSortKey, timeToLive } = TABLE_KEYS;
  try {
    await client.send(
      new CreateTableCommand({
        TableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [partitionKey, sortKey, byTenantPartitionKey, byTenantSortKey].map((AttributeName) => ({ AttributeName, AttributeType: 'S' })),
        KeySchema: [
          { AttributeName: partitionKey, KeyType: 'HASH' },
          { AttributeName: sortKey, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: byTenantIndex,
            KeySchema: [
              { AttributeName: byTenantPartitionKey, KeyType: 'HASH' },
              { AttributeName: byTenantSortKey, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      }),
    );
    await client.send(new UpdateTimeToLiveCommand({ TableName, TimeToLiveSpecification: { AttributeName: timeToLive, Enabled: true } }));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
}
