import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AppError } from './errors';

/**
 * Where secrets live: SP decryption keys, and later OIDC client secrets and SCIM tokens. Items
 * and environment variables hold only a secret's name, never its value.
 */
export interface Secrets {
  /**
   * The secret's value, read once per container.
   * @throws AppError `service_unavailable` when it cannot be read.
   */
  read(name: string): Promise<string>;
}

/** Secrets Manager secrets named `<prefix><name>`, cached per container; a failure is not cached. */
export function createSecretsManagerSecrets(client: SecretsManagerClient, prefix: string): Secrets {
  const cache = new Map<string, Promise<string>>();
  return {
    read(name) {
      const cached = cache.get(name);
      if (cached) return cached;
      const value = client
        .send(new GetSecretValueCommand({ SecretId: `${prefix}${name}` }))
        .then(({ SecretString }) => {
          if (SecretString === undefined) throw new Error(`secret ${prefix}${name} has no string value`);
          return SecretString;
        })
        .catch((error: unknown) => {
          cache.delete(name);
          throw new AppError('service_unavailable', 'a secret of this connection could not be read', { cause: error });
        });
      cache.set(name, value);
      return value;
    },
  };
}

/** Secrets held in memory, for `npm start` (from the git-ignored .local folder) and tests. */
export function createInMemorySecrets(values: Readonly<Record<string, string>>): Secrets {
  return {
    async read(name) {
      const value = values[name];
      if (value === undefined) throw new Error(`Configuration error: no local secret named ${name}`);
      return value;
    },
  };
}
