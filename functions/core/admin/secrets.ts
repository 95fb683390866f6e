import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { randomUUID } from 'node:crypto';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { Environment } from '../config';
import { AppError } from '../errors';
import { parseLocalSecrets, type LocalSecretEntry } from '../secrets';

/** A secret as the admin sees it: its name and dates, never its value. */
export interface SecretInfo {
  readonly name: string;
  readonly createdAt?: string;
  readonly updatedAt?: string;
}

/** Where the admin CLI writes secrets: Secrets Manager under the stack's prefix, or the local store of `npm start`. */
export interface SecretStore {
  /** Where the secrets are, for messages: `Secrets Manager sso/Sso-prod/` or the local file. */
  readonly where: string;
  /** Creates the secret or gives it a new value. */
  set(name: string, value: string): Promise<'created' | 'updated'>;
  list(): Promise<SecretInfo[]>;
  /** @returns false when there was no such secret. */
  remove(name: string): Promise<boolean>;
  has(name: string): Promise<boolean>;
}

/** Secret names Secrets Manager accepts (and that a connection id makes). */
const NAME = /^[A-Za-z0-9/_+=.@-]{1,200}$/;

/** @throws AppError `invalid_request` for a name Secrets Manager would refuse. */
export function checkSecretName(name: string): string {
  if (!NAME.test(name)) throw new AppError('invalid_request', `the secret name "${name}" must be 1-200 letters, digits or / _ + = . @ -`);
  return name;
}

/** The command that creates a secret, for the refusals that name one that does not exist. */
export const setSecretCommand = (name: string) => `npm run admin -- secrets set --name ${name} --file FILE (or --stdin)`;

/**
 * Refuses a secret name that the store does not hold, naming the command that creates it.
 * @throws AppError `not_found`.
 */
export async function requireSecret(store: SecretStore, name: string, what: string): Promise<void> {
  if (!(await store.has(name))) throw new AppError('not_found', `${what} ${name} does not exist in ${store.where}: create it first with ${setSecretCommand(name)}`);
}

/**
 * The local secrets file, `.local/secrets.json` (mode 0600). Each write replaces the file whole
 * (a rename), so the running service, which re-reads it when it changes, never sees half a file.
 */
export function localSecretStore(file: string, now: () => Date = () => new Date()): SecretStore {
  const load = async (): Promise<Record<string, LocalSecretEntry>> => {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw error;
    }
    try {
      return parseLocalSecrets(text);
    } catch (error) {
      throw new Error(`${file}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  };
  const save = async (entries: Record<string, LocalSecretEntry>) => {
    await mkdir(dirname(file), { recursive: true });
    const temporary = `${file}.${randomUUID()}.tmp`;
    await writeFile(temporary, `${JSON.stringify(entries, null, 2)}\n`, { mode: 0o600 });
    await chmod(temporary, 0o600);
    await rename(temporary, file);
  };
  return {
    where: `the local secrets file ${file}`,
    async set(name, value) {
      const entries = await load();
      const previous = entries[name];
      const at = now().toISOString();
      const createdAt = previous === undefined ? at : typeof previous === 'string' ? undefined : previous.createdAt;
      entries[name] = { value, ...(createdAt ? { createdAt } : {}), updatedAt: at };
      await save(entries);
      return previous === undefined ? 'created' : 'updated';
    },
    async list() {
      const entries = await load();
      return Object.entries(entries)
        .map(([name, entry]) => (typeof entry === 'string' ? { name } : { name, ...(entry.createdAt ? { createdAt: entry.createdAt } : {}), ...(entry.updatedAt ? { updatedAt: entry.updatedAt } : {}) }))
        .sort((a, b) => a.name.localeCompare(b.name));
    },
    async remove(name) {
      const entries = await load();
      if (!Object.hasOwn(entries, name)) return false;
      delete entries[name];
      await save(entries);
      return true;
    },
    async has(name) {
      return Object.hasOwn(await load(), name);
    },
  };
}

const iso = (date: Date | undefined) => date?.toISOString();

/** Secrets Manager secrets named `<prefix><name>` (the stack's `SecretsPrefix`), the ones the login functions may read. */
export function secretsManagerStore(client: SecretsManagerClient, prefix: string): SecretStore {
  return {
    where: `Secrets Manager under ${prefix}`,
    async set(name, value) {
      try {
        await client.send(new CreateSecretCommand({ Name: `${prefix}${name}`, SecretString: value }));
        return 'created';
      } catch (error) {
        if (!(error instanceof ResourceExistsException)) throw error;
      }
      await client.send(new PutSecretValueCommand({ SecretId: `${prefix}${name}`, SecretString: value }));
      return 'updated';
    },
    async list() {
      const secrets: SecretInfo[] = [];
      let NextToken: string | undefined;
      do {
        const page = await client.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [prefix] }], ...(NextToken ? { NextToken } : {}) }));
        for (const secret of page.SecretList ?? []) {
          // The name filter matches prefixes of words too: keep only names under the prefix itself.
          if (!secret.Name?.startsWith(prefix)) continue;
          const createdAt = iso(secret.CreatedDate);
          const updatedAt = iso(secret.LastChangedDate);
          secrets.push({ name: secret.Name.slice(prefix.length), ...(createdAt ? { createdAt } : {}), ...(updatedAt ? { updatedAt } : {}) });
        }
        NextToken = page.NextToken;
      } while (NextToken);
      return secrets.sort((a, b) => a.name.localeCompare(b.name));
    },
    async remove(name) {
      try {
        await client.send(new DeleteSecretCommand({ SecretId: `${prefix}${name}`, ForceDeleteWithoutRecovery: true }));
        return true;
      } catch (error) {
        if (error instanceof ResourceNotFoundException) return false;
        throw error;
      }
    },
    async has(name) {
      try {
        await client.send(new DescribeSecretCommand({ SecretId: `${prefix}${name}` }));
        return true;
      } catch (error) {
        if (error instanceof ResourceNotFoundException) return false;
        throw error;
      }
    },
  };
}

/**
 * The secret store of a service environment: Secrets Manager with `SECRETS_PREFIX`, else the
 * `LOCAL_SECRETS_FILE`.
 * @throws Error when the environment names neither.
 */
export function secretStoreFromEnvironment(env: Environment): SecretStore {
  if (env.SECRETS_PREFIX) return secretsManagerStore(new SecretsManagerClient({}), env.SECRETS_PREFIX);
  if (env.LOCAL_SECRETS_FILE) return localSecretStore(env.LOCAL_SECRETS_FILE);
  throw new Error('Configuration error: no secret store: the stack has no SecretsPrefix output, and no LOCAL_SECRETS_FILE is set');
}
