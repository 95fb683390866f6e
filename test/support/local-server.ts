import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A port nobody listens on right now. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, 'localhost', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** `npm start`'s server (bin/local.ts) as a child process on free ports, with its own DynamoDB Local data in a temporary directory. */
export interface LocalServer {
  readonly baseUrl: string;
  /** Its data directory (LOCAL_DATA_DIR): `dynamodb-endpoint.json` names its DynamoDB Local. */
  readonly dataDir: string;
  readonly output: () => string;
  stop(): Promise<void>;
}

export async function startLocalServer(): Promise<LocalServer> {
  const [port, oidcPort] = [await freePort(), await freePort()];
  const data = mkdtempSync(join(tmpdir(), 'sso-browser-'));
  let output = '';
  // A clean environment: the tests' own DynamoDB Local and table are not this server's.
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), OIDC_PROVIDER_PORT: String(oidcPort), LOCAL_DATA_DIR: data, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  const child: ChildProcess = spawn(join(ROOT, 'node_modules/.bin/tsx'), ['bin/local.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the local server did not start in 90 s:\n${output}`)), 90_000);
    const check = () => {
      if (output.includes('SSO callback service running on')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the local server exited with ${code}:\n${output}`));
    });
  });
  return {
    baseUrl: `http://localhost:${port}`,
    dataDir: data,
    output: () => output,
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(data, { recursive: true, force: true });
    },
  };
}
