import { readFile } from 'node:fs/promises';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createEventBridgePublisher, createInMemoryPublisher, type EventPublisher } from './events';
import { loadConfig, type Environment, type ServiceConfig } from './config';
import { createInMemorySecrets, createSecretsManagerSecrets, type Secrets } from './secrets';
import { createKmsSigner, createLocalSigner, loadOrCreateLocalSigningKey, type SessionSigner } from './signing';
import { createDocumentClient, createStore, type Store } from './store';

/** Everything a handler needs besides its input: built once per container, injectable in tests. */
export interface Runtime {
  readonly config: ServiceConfig;
  readonly store: Store;
  readonly signer: SessionSigner;
  readonly secrets: Secrets;
  /** The current instant; tests freeze it to verify years-old IdP responses at their issue instant. */
  readonly clock: () => Date;
  /** Writes one structured log line (audit events). */
  readonly log: (entry: Readonly<Record<string, unknown>>) => void;
  readonly events: EventPublisher;
}

/** One JSON line on stdout, which Lambda and CloudWatch take as a structured log record. */
export function logJsonLine(entry: Readonly<Record<string, unknown>>): void {
  process.stdout.write(`${JSON.stringify({ timestamp: new Date().toISOString(), ...entry })}\n`);
}

/** How long one DynamoDB attempt may wait: to connect, and for the answer once connected. */
export const DATABASE_TIMEOUTS = { connectionTimeoutMs: 1000, requestTimeoutMs: 2000 } as const;

/**
 * The runtime's document client: the store's, with bounded waits. A database that accepts
 * connections but never answers (a partition, a paused host) then costs a login at most the
 * SDK's three attempts of `DATABASE_TIMEOUTS` (about 6 s, under the function's 10 s timeout) and
 * ends in `service_unavailable`, instead of hanging until Lambda kills the function.
 */
export function createRuntimeDocumentClient(options: { endpoint?: string } = {}): ReturnType<typeof createDocumentClient> {
  const client = createDocumentClient(options);
  const handler = client.config.requestHandler as unknown as { updateHttpClientConfig(key: string, value: unknown): void };
  handler.updateHttpClientConfig('connectionTimeout', DATABASE_TIMEOUTS.connectionTimeoutMs);
  handler.updateHttpClientConfig('requestTimeout', DATABASE_TIMEOUTS.requestTimeoutMs);
  // Without it the SDK only logs a warning when requestTimeout passes, and keeps waiting.
  handler.updateHttpClientConfig('throwOnRequestTimeout', true);
  return client;
}

/**
 * Builds the runtime from the environment: KMS and Secrets Manager in AWS, a local key file and
 * local secrets file for `npm start` and tests.
 *
 * @throws Error naming the missing or malformed configuration key.
 */
export async function runtimeFromEnvironment(env: Environment): Promise<Runtime> {
  const config = loadConfig(env);
  const store = createStore({
    tableName: config.tableName,
    client: createRuntimeDocumentClient(config.dynamoDbEndpoint ? { endpoint: config.dynamoDbEndpoint } : {}),
  });
  const signer =
    config.kmsSigningKeyIds.length > 0
      ? createKmsSigner(new KMSClient({}), config.kmsSigningKeyIds)
      : createLocalSigner(await loadOrCreateLocalSigningKey(config.localSigningKeyFile!));
  const secrets = env.SECRETS_PREFIX
    ? createSecretsManagerSecrets(new SecretsManagerClient({}), env.SECRETS_PREFIX)
    : createInMemorySecrets(env.LOCAL_SECRETS_FILE ? JSON.parse(await readFile(env.LOCAL_SECRETS_FILE, 'utf8')) : {});
  const events = env.EVENT_BUS_NAME ? createEventBridgePublisher(new EventBridgeClient({}), env.EVENT_BUS_NAME) : createInMemoryPublisher();
  return { config, store, signer, secrets, clock: () => new Date(), log: logJsonLine, events };
}
