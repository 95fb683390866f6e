import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAdmin } from '../../bin/admin';
import { isAppError } from '../../functions/core/errors';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { secretsManagerStore, type SecretInfo } from '../../functions/core/admin/secrets';
import { runtimeFromEnvironment } from '../../functions/core/runtime';
import { createLocalFileSecrets, createSecretsManagerSecrets } from '../../functions/core/secrets';
import { createOidcHandler } from '../../functions/oidc';
import { createSamlHandler } from '../../functions/saml';
import { issueSamlResponse } from '../../local/saml-idp';
import { startTestProvider, type TestProvider } from '../support/oidc-provider';
import { createSamlConnection, invoke, keys, oidcConnection, postAcs, problemCode, responseFor, testRuntime } from '../support/harness';

/** Secrets through the admin CLI (in-process) and the runtime's reading of them, against DynamoDB Local. */

const dir = mkdtempSync(join(tmpdir(), 'sso-secrets-'));
const secretsFile = join(dir, 'secrets.json');
const env = { ...process.env, LOCAL_SECRETS_FILE: secretsFile };

async function admin(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runAdmin(argv, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) }, env, log: () => undefined });
  return { code, stdout, stderr };
}

function file(content: string): string {
  const path = join(dir, randomUUID());
  writeFileSync(path, content);
  return path;
}

const CLIENT_ID = 'secrets-rp';
const CLIENT_SECRET = 'secrets-rp-secret';
const CONNECTION_ID = `oidc-secrets-${randomUUID().slice(0, 8)}`;
let op: TestProvider;

beforeAll(async () => {
  op = await startTestProvider({ clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`https://sso.test/oidc/${CONNECTION_ID}/callback`] }] });
});
afterAll(() => op.stop());

describe('secrets verbs', () => {
  it('sets, lists (names and dates, never values) and removes a secret in a 0600 local store', async () => {
    const name = `s-${randomUUID().slice(0, 8)}`;
    const set = await admin('secrets', 'set', '--name', name, '--file', file('first-value\n'));
    expect(set).toMatchObject({ code: 0, stderr: '' });
    expect(set.stdout).not.toContain('first-value');
    expect(statSync(secretsFile).mode & 0o777).toBe(0o600);
    expect(await createLocalFileSecrets(secretsFile).read(name)).toBe('first-value');

    let stdin = 'second-value';
    const update = await runAdmin(['secrets', 'set', '--name', name, '--stdin'], { stdout: { write: () => true }, stderr: { write: () => true }, env, stdin: async () => stdin });
    expect(update).toBe(0);
    expect(await createLocalFileSecrets(secretsFile).read(name)).toBe('second-value');
    stdin = '';

    const list = await admin('secrets', 'list', '--json');
    expect(list.code).toBe(0);
    expect(list.stdout).not.toContain('second-value');
    const listed = (JSON.parse(list.stdout) as SecretInfo[]).find((s) => s.name === name);
    expect(listed).toEqual({ name, createdAt: expect.any(String), updatedAt: expect.any(String) });
    expect((await admin('secrets', 'list')).stdout).not.toContain('second-value');

    expect((await admin('secrets', 'remove', '--name', name)).code).toBe(0);
    expect(JSON.parse(readFileSync(secretsFile, 'utf8'))).not.toHaveProperty(name);
    expect(await admin('secrets', 'remove', '--name', name)).toMatchObject({ code: 1 });
    expect((await admin('secrets', 'set', '--name', 'bad name!', '--file', file('x'))).code).toBe(2);
    expect((await admin('secrets', 'set', '--name', name)).code).toBe(2);
  });

  it('refuses add-oidc with a client secret name that does not exist, naming the command that creates it', async () => {
    const tenant = `tenant-${randomUUID().slice(0, 8)}`;
    expect((await admin('tenants', 'add', '--id', tenant)).code).toBe(0);
    const args = ['connections', 'add-oidc', '--tenant', tenant, '--id', `oidc-${randomUUID().slice(0, 8)}`, '--issuer', op.issuer, '--client-id', CLIENT_ID, '--client-secret-name'];
    const missing = await admin(...args, 'no-such-secret');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('secrets set --name no-such-secret');

    const name = `present-${randomUUID().slice(0, 8)}`;
    expect((await admin('secrets', 'set', '--name', name, '--file', file('x'))).code).toBe(0);
    expect(await admin(...args, name)).toMatchObject({ code: 0 });
  });
});

describe('reading secrets at login', () => {
  it('answers a missing client secret with service_unavailable, and uses a secret set while the runtime runs at the next login', async () => {
    const runtime = { ...(await runtimeFromEnvironment(env)), log: () => undefined };
    const secretName = `rp-${randomUUID().slice(0, 8)}`;
    const connection = oidcConnection({ id: CONNECTION_ID, tenantId: `tenant-${randomUUID()}`, issuer: op.issuer, clientId: CLIENT_ID, clientSecretName: secretName });
    await runtime.store.putTenant({ id: connection.tenantId, name: 'Secrets tenant' });
    await runtime.store.putConnection(connection);
    const handler = createOidcHandler(runtime);
    const logIn = async () => {
      const sub = `user-${randomUUID()}`;
      op.signInAs({ sub, email: `${sub}@example.test`, email_verified: true });
      const start = await invoke(handler, { method: 'GET', url: `/oidc/${connection.id}/login?return_to=${encodeURIComponent('https://app.example.test/')}` });
      if (start.statusCode !== 302) return start;
      const redirect = await op.authorize(String(start.headers?.location));
      return invoke(handler, { method: 'GET', url: redirect.pathname + redirect.search, headers: { cookie: String(start.cookies?.[0]).split(';')[0]! } });
    };

    const missing = await logIn();
    expect(missing.statusCode).toBe(503);
    expect(problemCode(missing)).toBe('service_unavailable');

    expect((await admin('secrets', 'set', '--name', secretName, '--file', file(CLIENT_SECRET))).code).toBe(0);
    const signedIn = await logIn();
    expect(signedIn.statusCode).toBe(303);

    // A changed value is read at the next login too: the provider now refuses the client.
    expect((await admin('secrets', 'set', '--name', secretName, '--file', file('not-the-secret'))).code).toBe(0);
    const wrong = await logIn();
    expect(problemCode(wrong)).toBe('oidc_idp_error');
  });

  it('names the missing secret in its refusal (logged), never a value', async () => {
    const error = await createLocalFileSecrets(secretsFile).read('never-set').catch((e: unknown) => e);
    expect(isAppError(error, 'service_unavailable')).toBe(true);
    expect((error as Error).message).toContain('never-set');
  });

  it('answers an ACS post with service_unavailable when the decryption key secret is missing', async () => {
    const runtime = await testRuntime();
    const cert = keys.read('sp-encryption.cert.pem');
    const connection = await createSamlConnection(runtime, {
      allowIdpInitiated: true,
      spKeys: [{ id: 'encryption-1', use: 'encryption', certificate: cert, secretName: 'missing-sp-key', createdAt: new Date().toISOString() }],
    });
    const result = await postAcs(createSamlHandler(runtime), connection.id, await issueSamlResponse(responseFor(connection, runtime, { encryptFor: cert })));
    expect(result.statusCode).toBe(503);
    expect(problemCode(result)).toBe('service_unavailable');
  });

  it('reads no decryption secret for a connection without encryption (its signing key secret missing too)', async () => {
    const runtime = await testRuntime();
    const connection = await createSamlConnection(runtime, {
      allowIdpInitiated: true,
      spKeys: [{ id: 'signing-1', use: 'signing', certificate: keys.read('sp-encryption.cert.pem'), secretName: 'missing-signing-key', createdAt: new Date().toISOString() }],
    });
    const result = await postAcs(createSamlHandler(runtime), connection.id, await issueSamlResponse(responseFor(connection, runtime)));
    expect(result.statusCode).toBe(303);
  });
});

/** Secrets Manager's JSON protocol, answered on loopback: the real SDK client talks to it, no mock of the SDK. */
async function loopbackSecretsManager() {
  const secrets = new Map<string, { value: string; created: number }>();
  const calls: string[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const action = String(request.headers['x-amz-target']).split('.')[1]!;
      const input = JSON.parse(body) as { Name?: string; SecretId?: string; SecretString?: string };
      calls.push(action);
      const fail = (type: string) => {
        response.statusCode = 400;
        response.end(JSON.stringify({ __type: type, message: type }));
      };
      response.setHeader('content-type', 'application/x-amz-json-1.1');
      const id = input.Name ?? input.SecretId!;
      if (action === 'CreateSecret') {
        if (secrets.has(id)) return fail('ResourceExistsException');
        secrets.set(id, { value: input.SecretString!, created: 1_700_000_000 });
      } else if (action === 'PutSecretValue') {
        if (!secrets.has(id)) return fail('ResourceNotFoundException');
        secrets.set(id, { ...secrets.get(id)!, value: input.SecretString! });
      } else if (action === 'DeleteSecret' || action === 'DescribeSecret') {
        if (!secrets.has(id)) return fail('ResourceNotFoundException');
        if (action === 'DeleteSecret') secrets.delete(id);
      } else if (action === 'GetSecretValue') {
        if (!secrets.has(id)) return fail('ResourceNotFoundException');
        return response.end(JSON.stringify({ Name: id, SecretString: secrets.get(id)!.value }));
      } else if (action === 'ListSecrets') {
        return response.end(JSON.stringify({ SecretList: [...secrets].map(([Name, s]) => ({ Name, CreatedDate: s.created, LastChangedDate: s.created })) }));
      }
      response.end(JSON.stringify({ Name: id }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new SecretsManagerClient({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, region: 'local', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  return { secrets, calls, client, close: () => server.close() };
}

describe('Secrets Manager', () => {
  it('the secrets verbs\' store creates, updates, lists under the prefix only, and deletes', async () => {
    const { secrets, calls, client, close } = await loopbackSecretsManager();
    try {
      const store = secretsManagerStore(client, 'sso/Sso-test/');
      secrets.set('sso/Sso-testing/other', { value: 'x', created: 1_700_000_000 });
      expect(await store.set('rp-secret', 'one')).toBe('created');
      expect(await store.set('rp-secret', 'two')).toBe('updated');
      expect(secrets.get('sso/Sso-test/rp-secret')?.value).toBe('two');
      expect(await store.list()).toEqual([{ name: 'rp-secret', createdAt: '2023-11-14T22:13:20.000Z', updatedAt: '2023-11-14T22:13:20.000Z' }]);
      expect(await store.has('rp-secret')).toBe(true);
      expect(await store.remove('rp-secret')).toBe(true);
      expect(await store.remove('rp-secret')).toBe(false);
      expect(await store.has('rp-secret')).toBe(false);
      expect(calls).toEqual(['CreateSecret', 'CreateSecret', 'PutSecretValue', 'ListSecrets', 'DescribeSecret', 'DeleteSecret', 'DeleteSecret', 'DescribeSecret']);
    } finally {
      close();
    }
  });

  it('the login functions read a secret under the prefix, cache it 60 s, then read the new value; a missing one is service_unavailable', async () => {
    const { secrets, client, close } = await loopbackSecretsManager();
    try {
      let now = 1_000_000;
      const reader = createSecretsManagerSecrets(client, 'sso/Sso-test/', { now: () => now });
      const error = await reader.read('rp-secret').catch((e: unknown) => e);
      expect(isAppError(error, 'service_unavailable')).toBe(true);
      secrets.set('sso/Sso-test/rp-secret', { value: 'one', created: 1 });
      expect(await reader.read('rp-secret')).toBe('one');
      secrets.set('sso/Sso-test/rp-secret', { value: 'two', created: 1 });
      now += 59_000;
      expect(await reader.read('rp-secret')).toBe('one');
      now += 2_000;
      expect(await reader.read('rp-secret')).toBe('two');
    } finally {
      close();
    }
  });
});
