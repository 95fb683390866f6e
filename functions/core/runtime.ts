import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createEventBridgePublisher, createInMemoryPublisher, type EventPublisher } from './events';
import { loadConfig, type Environment, type ServiceConfig } from './config';
import { createInMemorySecrets, createLocalFileSecrets, createSecretsManagerSecrets, type Secrets } from './secrets';
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

/**
 * Builds the runtime from the environment: KMS and Secrets Manager in AWS, a local key file and
 * local secrets file (re-read when it changes) for `npm start` and tests.
 *
 * @throws Error naming the missing or malformed configuration key.
 */
export async function runtimeFromEnvironment(env: Environment): Promise<Runtime> {
  const config = loadConfig(env);
  const store = createStore({
    tableName: config.tableName,
    client: createDocumentClient(config.dynamoDbEndpoint ? { endpoint: config.dynamoDbEndpoint } : {}),
  });
  const signer =
    config.kmsSigningKeyIds.length > 0
      ? createKmsSigner(new KMSClient({}), config.kmsSigningKeyIds)
      : createLocalSigner(await loadOrCreateLocalSigningKey(config.localSigningKeyFile!));
  const secrets = env.SECRETS_PREFIX
    ? createSecretsManagerSecrets(new SecretsManagerClient({}), env.SECRETS_PREFIX)
    : env.LOCAL_SECRETS_FILE
      ? createLocalFileSecrets(env.LOCAL_SECRETS_FILE)
      : createInMemorySecrets({});
  const events = env.EVENT_BUS_NAME ? createEventBridgePublisher(new EventBridgeClient({}), env.EVENT_BUS_NAME) : createInMemoryPublisher();
  return { config, store, signer, secrets, clock: () => new Date(), log: logJsonLine, events };
}
