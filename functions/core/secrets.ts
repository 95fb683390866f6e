import { readFile, stat } from 'node:fs/promises';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AppError } from './errors';

/**
 * Where secrets live: SP private keys and OIDC client secrets. Items and environment variables
 * hold only a secret's name, never its value.
 */
export interface Secrets {
  /**
   * The secret's value, read when a login needs it and cached briefly, so a secret an admin sets
   * is used without a restart.
   * @throws AppError `service_unavailable` (naming the secret, never its value) when it is missing or cannot be read.
   */
  read(name: string): Promise<string>;
}

/** The one refusal for a secret that is missing or unreadable, whatever the store: the name is logged, the value never. */
function unreadable(name: string, cause?: unknown): AppError {
  return new AppError('service_unavailable', `the secret ${name} is missing or could not be read`, cause === undefined ? {} : { cause });
}

/**
 * Secrets Manager secrets named `<prefix><name>`, each cached for `ttlMs` per container (a
 * rotation reaches every container within that time); a failure is not cached.
 */
export function createSecretsManagerSecrets(client: SecretsManagerClient, prefix: string, options: { ttlMs?: number; now?: () => number } = {}): Secrets {
  const ttlMs = options.ttlMs ?? 60_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { value: Promise<string>; readAt: number }>();
  return {
    read(name) {
      const cached = cache.get(name);
      if (cached && now() - cached.readAt < ttlMs) return cached.value;
      const value = client
        .send(new GetSecretValueCommand({ SecretId: `${prefix}${name}` }))
        .then(({ SecretString }) => {
          if (SecretString === undefined) throw new Error('the secret has no string value');
          return SecretString;
        })
        .catch((error: unknown) => {
          cache.delete(name);
          throw unreadable(`${prefix}${name}`, error);
        });
      cache.set(name, { value, readAt: now() });
      return value;
    },
  };
}

/** One entry of the local secrets file: the value, or (as the admin CLI writes it) the value with its dates. */
export type LocalSecretEntry = string | { readonly value: string; readonly createdAt?: string; readonly updatedAt?: string };

/**
 * Parses the local secrets file: a JSON object from name to entry.
 * @throws Error when it is not such an object.
 */
export function parseLocalSecrets(text: string): Record<string, LocalSecretEntry> {
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('the local secrets file is not a JSON object');
  const entries: Record<string, LocalSecretEntry> = {};
  for (const [name, entry] of Object.entries(parsed)) {
    if (typeof entry === 'string') entries[name] = entry;
    else if (typeof entry === 'object' && entry !== null && typeof (entry as { value?: unknown }).value === 'string') entries[name] = entry as LocalSecretEntry;
    else throw new Error(`the local secret ${name} has no string value`);
  }
  return entries;
}

/** The value of a local secrets file entry. */
export const localSecretValue = (entry: LocalSecretEntry): string => (typeof entry === 'string' ? entry : entry.value);

/**
 * The local secrets file of `npm start` (`.local/secrets.json`): re-read whenever it changed, so a
 * secret the admin CLI sets while the service runs is used at the next login. A file that does not
 * exist holds no secret.
 */
export function createLocalFileSecrets(file: string): Secrets {
  let loaded: { stamp: string; entries: Promise<Record<string, LocalSecretEntry>> } | undefined;
  const entries = async (): Promise<Record<string, LocalSecretEntry>> => {
    const info = await stat(file).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    const stamp = info ? `${info.mtimeMs}:${info.size}:${info.ino}` : 'absent';
    if (loaded?.stamp !== stamp) {
      const read = info ? readFile(file, 'utf8').then(parseLocalSecrets) : Promise.resolve({});
      loaded = { stamp, entries: read };
      read.catch(() => (loaded = undefined));
    }
    return loaded.entries;
  };
  return {
    async read(name) {
      let all: Record<string, LocalSecretEntry>;
      try {
        all = await entries();
      } catch (error) {
        throw unreadable(name, error);
      }
      const entry = Object.hasOwn(all, name) ? all[name] : undefined;
      if (entry === undefined) throw unreadable(name);
      return localSecretValue(entry);
    },
  };
}

/** Secrets held in memory, for tests. */
export function createInMemorySecrets(values: Readonly<Record<string, string>>): Secrets {
  return {
    async read(name) {
      const value = Object.hasOwn(values, name) ? values[name] : undefined;
      if (value === undefined) throw unreadable(name);
      return value;
    },
  };
}
