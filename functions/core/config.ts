/**
 * The service's configuration, parsed once from the environment. A missing or malformed key
 * fails at cold start with its name, never later in a request.
 */

export interface ServiceConfig {
  /** The DynamoDB table that holds every item of the service. */
  readonly tableName: string;
  /** Where DynamoDB is reached; unset in AWS, DynamoDB Local's URL for `npm start` and tests. */
  readonly dynamoDbEndpoint: string | undefined;
  /** The public base URL of the API, without a trailing slash; SP entity ids and ACS URLs derive from it. */
  readonly publicBaseUrl: string;
  /** The `iss` of session tokens. */
  readonly sessionIssuer: string;
  /** The `aud` of session tokens: the SaaS front end that verifies them. */
  readonly sessionAudience: string;
  readonly sessionTtlSeconds: number;
  /** KMS key ids or ARNs that sign sessions: the first signs, all are published in the JWKS. */
  readonly kmsSigningKeyIds: readonly string[];
  /**
   * Names (under `SECRETS_PREFIX`) of Secrets Manager secrets holding ES256 keys that sign in
   * memory instead of KMS: the first signs, all are published. Exclusive with `kmsSigningKeyIds`.
   */
  readonly signingSecretNames: readonly string[];
  /** A file holding a local P-256 private JWK, for `npm start` and tests (used when no KMS key is set). */
  readonly localSigningKeyFile: string | undefined;
  /**
   * The largest request body the ACS reads, in bytes (`MAX_BODY_BYTES`, default 100 KiB: the
   * largest real responses, encrypted ones with many groups, are a few tens of KiB).
   */
  readonly maxBodyBytes: number;
  /**
   * How long a container serves logins from a connection it read, in seconds
   * (`CONNECTION_CACHE_SECONDS`, default 10; 0 reads it on every login). A change made by another
   * process (the admin CLI, the metadata refresh) reaches every container within this time; one
   * made through the container's own store at once.
   */
  readonly connectionCacheSeconds: number;
}

export type Environment = Readonly<Record<string, string | undefined>>;

function required(env: Environment, key: string): string {
  const value = env[key];
  if (!value) throw new Error(`Configuration error: the environment variable ${key} is not set`);
  return value;
}

function positiveInteger(env: Environment, key: string, fallback: number, options: { zero?: boolean } = {}): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < (options.zero ? 0 : 1)) {
    throw new Error(`Configuration error: ${key} must be a ${options.zero ? 'non-negative' : 'positive'} integer, got "${raw}"`);
  }
  return value;
}

/** Parses and freezes the configuration; throws naming the first missing or malformed key. */
export function loadConfig(env: Environment): ServiceConfig {
  const publicBaseUrl = required(env, 'PUBLIC_BASE_URL').replace(/\/+$/, '');
  const kmsSigningKeyIds = (env.SIGNING_KEY_IDS ?? '').split(',').map((id) => id.trim()).filter(Boolean);
  const signingSecretNames = (env.SIGNING_SECRET_NAMES ?? '').split(',').map((name) => name.trim()).filter(Boolean);
  const localSigningKeyFile = env.LOCAL_SIGNING_KEY_FILE || undefined;
  if (kmsSigningKeyIds.length > 0 && signingSecretNames.length > 0) {
    throw new Error('Configuration error: set SIGNING_KEY_IDS (KMS keys) or SIGNING_SECRET_NAMES (keys in secrets), not both');
  }
  if (kmsSigningKeyIds.length === 0 && signingSecretNames.length === 0 && !localSigningKeyFile) {
    throw new Error('Configuration error: set SIGNING_KEY_IDS (KMS keys), SIGNING_SECRET_NAMES (keys in secrets) or LOCAL_SIGNING_KEY_FILE');
  }
  return Object.freeze({
    tableName: required(env, 'TABLE_NAME'),
    dynamoDbEndpoint: env.DYNAMODB_ENDPOINT || undefined,
    publicBaseUrl,
    sessionIssuer: env.SESSION_ISSUER || publicBaseUrl,
    sessionAudience: required(env, 'SESSION_AUDIENCE'),
    sessionTtlSeconds: positiveInteger(env, 'SESSION_TTL_SECONDS', 8 * 60 * 60),
    kmsSigningKeyIds: Object.freeze(kmsSigningKeyIds),
    signingSecretNames: Object.freeze(signingSecretNames),
    localSigningKeyFile,
    maxBodyBytes: positiveInteger(env, 'MAX_BODY_BYTES', 100 * 1024),
    connectionCacheSeconds: positiveInteger(env, 'CONNECTION_CACHE_SECONDS', 10, { zero: true }),
  });
}
