/**
 * Where the admin CLI reads and writes: a deployed stack (`--stack NAME`, its CloudFormation
 * outputs), the DynamoDB Local named by TABLE_NAME and DYNAMODB_ENDPOINT (the tests), or the
 * local stack of `npm start`.
 */
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { stackEnvironment } from '../../functions/core/admin/stack';
import type { Environment } from '../../functions/core/config';
import { createDocumentClient, ensureTable } from '../../functions/core/store/store';
import { startDynamoDbLocal } from '../../local/dynamodb-local';
import type { AdminIo } from './cli';

const LOCAL_DATA = new URL('../../.local/', import.meta.url);
const LOCAL_TABLE = 'sso-local';

export interface Target {
  readonly env: Environment;
  close(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What a running `npm start` recorded under .local/ (bin/local.ts writes it with its pid), while that process lives. */
async function runningLocal(name: string): Promise<Readonly<Record<string, unknown>> | undefined> {
  try {
    const parsed: unknown = JSON.parse(await readFile(new URL(name, LOCAL_DATA), 'utf8'));
    if (typeof parsed !== 'object' || parsed === null || !('pid' in parsed) || typeof parsed.pid !== 'number' || !alive(parsed.pid)) return undefined;
    return parsed as Readonly<Record<string, unknown>>;
  } catch {
    return undefined;
  }
}

/** The DynamoDB Local of a running `npm start`, if there is one. */
async function runningLocalEndpoint(): Promise<string | undefined> {
  const endpoint = (await runningLocal('dynamodb-endpoint.json'))?.endpoint;
  return typeof endpoint === 'string' ? endpoint : undefined;
}

/**
 * The local stack: the DynamoDB Local of `npm start` while it runs, else one started here on the
 * same data for the command's duration (two processes on one data directory deadlock on writes,
 * so the CLI never starts a second beside a running one).
 */
async function localTarget(env: Environment): Promise<Target> {
  // The URLs the CLI prints are those of the running server (its PORT), else of the one npm start would run.
  const recorded = (await runningLocal('server.json'))?.baseUrl;
  const baseUrl = typeof recorded === 'string' ? recorded : `http://localhost:${env.PORT ?? 3000}`;
  const secretsFile = new URL('secrets.json', LOCAL_DATA);
  const localEnv = (endpoint: string): Environment => ({
    TABLE_NAME: LOCAL_TABLE,
    DYNAMODB_ENDPOINT: endpoint,
    PUBLIC_BASE_URL: baseUrl,
    SESSION_AUDIENCE: baseUrl,
    LOCAL_SIGNING_KEY_FILE: fileURLToPath(new URL('signing-key.json', LOCAL_DATA)),
    LOCAL_SECRETS_FILE: fileURLToPath(secretsFile),
  });
  const prepared = async (endpoint: string) => {
    const client = createDocumentClient({ endpoint });
    try {
      await ensureTable(client, LOCAL_TABLE);
    } finally {
      client.destroy();
    }
  };
  const running = await runningLocalEndpoint();
  if (running) {
    try {
      await prepared(running);
      return { env: localEnv(running), close: async () => undefined };
    } catch {
      // npm start's DynamoDB Local is gone although its process is not: start one here.
    }
  }
  const path = fileURLToPath(new URL('dynamodb/', LOCAL_DATA));
  mkdirSync(path, { recursive: true });
  const dynamo = await startDynamoDbLocal({ path });
  try {
    await prepared(dynamo.endpoint);
  } catch (error) {
    await dynamo.stop();
    throw error;
  }
  return { env: localEnv(dynamo.endpoint), close: () => dynamo.stop() };
}

export async function openTarget(stack: string | undefined, io: AdminIo): Promise<Target> {
  if (stack !== undefined) return { env: await stackEnvironment(stack), close: async () => undefined };
  if (io.env.TABLE_NAME && io.env.DYNAMODB_ENDPOINT) {
    const baseUrl = io.env.PUBLIC_BASE_URL ?? `http://localhost:${io.env.PORT ?? 3000}`;
    return {
      env: { PUBLIC_BASE_URL: baseUrl, SESSION_AUDIENCE: baseUrl, LOCAL_SIGNING_KEY_FILE: fileURLToPath(new URL('signing-key.json', LOCAL_DATA)), ...io.env },
      close: async () => undefined,
    };
  }
  return localTarget(io.env);
}
