import { randomUUID, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { runAdmin } from '../../bin/admin';
import type { SpKeyInfo } from '../../functions/core/admin/sp-keys';
import type { SamlConnection } from '../../functions/core/model';
import { runtimeFromEnvironment, type Runtime } from '../../functions/core/runtime';
import { createSamlHandler } from '../../functions/saml';
import { adaptRequest } from '../../local/api-gateway-event';
import { issueSamlResponse } from '../../local/saml-idp';
import { idpCert, responseFor, testStore } from '../support/harness';

/**
 * SP keys generated, rotated and retired by the admin CLI (in-process), and the local server's
 * runtime (the same runtime and API Gateway adapter as bin/local.ts, on DynamoDB Local) accepting
 * assertions encrypted for them over HTTP.
 */

const dir = mkdtempSync(join(tmpdir(), 'sso-sp-keys-'));
// The admin CLI changes the connection beside the server's store, as from another process: no cache between them.
const env = { ...process.env, LOCAL_SECRETS_FILE: join(dir, 'secrets.json'), CONNECTION_CACHE_SECONDS: '0' };
const store = testStore();

async function admin(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runAdmin(argv, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) }, env, log: () => undefined });
  return { code, stdout, stderr };
}

const IDP_ENTITY_ID = 'https://idp.example.test/metadata';
const metadataFile = join(dir, 'idp.xml');
writeFileSync(
  metadataFile,
  `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${IDP_ENTITY_ID}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${idpCert.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, '')}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.test/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>`,
);

async function newConnection(): Promise<string> {
  const tenant = `tenant-${randomUUID().slice(0, 8)}`;
  const id = `saml-${randomUUID().slice(0, 8)}`;
  expect((await admin('tenants', 'add', '--id', tenant)).code).toBe(0);
  expect((await admin('connections', 'add-saml', '--tenant', tenant, '--id', id, '--metadata', metadataFile, '--return-to', 'https://app.example.test/', '--allow-idp-initiated')).code).toBe(0);
  return id;
}

async function generate(id: string, use: 'encryption' | 'signing'): Promise<SpKeyInfo> {
  const run = await admin('connections', 'sp-keys', '--id', id, '--generate', '--use', use, '--json');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as SpKeyInfo;
}

const der = (pem: string) => pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, '');

/** The local server: the runtime of the environment, the SAML handler behind the API Gateway adapter, on loopback. */
let server: Server;
let baseUrl: string;
let runtime: Runtime;

beforeAll(async () => {
  runtime = { ...(await runtimeFromEnvironment(env)), log: () => undefined };
  const handler = createSamlHandler(runtime);
  server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const { event } = adaptRequest({ method: request.method ?? 'GET', url: request.url ?? '/', headers: request.headers as Record<string, string>, body: Buffer.concat(chunks).toString('utf8') });
    const result = await handler(event as never, { awsRequestId: 'local' } as Context);
    response.statusCode = result.statusCode ?? 200;
    for (const [name, value] of Object.entries(result.headers ?? {})) response.setHeader(name, String(value));
    response.end(result.body ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function postEncrypted(id: string, certificate: string) {
  const connection = (await store.getConnection(id)) as SamlConnection;
  const samlResponse = await issueSamlResponse(responseFor(connection, runtime, { encryptFor: certificate }));
  const response = await fetch(`${baseUrl}/saml/${id}/acs`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ SAMLResponse: samlResponse, RelayState: 'https://app.example.test/' }).toString(),
    redirect: 'manual',
  });
  return { status: response.status, body: await response.text() };
}

describe('connections sp-keys', () => {
  it('generates an RSA 3072 encryption key whose certificate the SP metadata publishes, and the server decrypts an assertion for it over HTTP', async () => {
    const id = await newConnection();
    const key = await generate(id, 'encryption');
    const cert = new X509Certificate(key.certificate);
    expect(cert.publicKey.asymmetricKeyDetails?.modulusLength).toBe(3072);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(key.secretName).toMatch(new RegExp(`^sp-${id}-encryption-\\d{8}-[0-9a-f]{6}$`));
    expect(JSON.parse(readFileSync(env.LOCAL_SECRETS_FILE, 'utf8'))[key.secretName].value).toContain('-----BEGIN PRIVATE KEY-----');
    expect((await store.getConnection(id)) as SamlConnection).toMatchObject({ spKeys: [{ id: key.id, use: 'encryption', secretName: key.secretName }] });

    const metadata = await fetch(`${baseUrl}/saml/${id}/metadata`).then((r) => r.text());
    expect(metadata).toMatch(new RegExp(`KeyDescriptor use="encryption">[\\s\\S]*${der(key.certificate).slice(0, 64).replace(/[+/]/g, '\\$&')}`));

    expect(await postEncrypted(id, key.certificate)).toMatchObject({ status: 303 });
  });

  it('refuses an assertion encrypted for a key the connection does not have', async () => {
    const id = await newConnection();
    await generate(id, 'encryption');
    const other = await newConnection();
    const foreign = await generate(other, 'encryption');
    const refused = await postEncrypted(id, foreign.certificate);
    expect(refused.status).toBe(400);
    expect((JSON.parse(refused.body) as { code: string }).code).toBe('invalid_request');
  });

  it('rotates: a second key beside the first (metadata lists both, both decrypt), then retires the first by fingerprint and removes its secret', async () => {
    const id = await newConnection();
    const first = await generate(id, 'encryption');
    const second = await generate(id, 'encryption');
    const metadata = await fetch(`${baseUrl}/saml/${id}/metadata`).then((r) => r.text());
    expect(metadata.match(/KeyDescriptor use="encryption"/g)).toHaveLength(2);
    expect(await postEncrypted(id, first.certificate)).toMatchObject({ status: 303 });
    expect(await postEncrypted(id, second.certificate)).toMatchObject({ status: 303 });

    const list = await admin('connections', 'sp-keys', '--id', id);
    expect(list.stdout).toContain(first.id);
    expect(list.stdout).toContain(second.id);

    const retire = await admin('connections', 'sp-keys', '--id', id, '--retire', first.fingerprint.replace(/:/g, '').toLowerCase());
    expect(retire).toMatchObject({ code: 0, stderr: '' });
    expect(((await store.getConnection(id)) as SamlConnection).spKeys?.map((k) => k.id)).toEqual([second.id]);
    expect(JSON.parse(readFileSync(env.LOCAL_SECRETS_FILE, 'utf8'))).not.toHaveProperty(first.secretName);
    const after = await fetch(`${baseUrl}/saml/${id}/metadata`).then((r) => r.text());
    expect(after.match(/KeyDescriptor use="encryption"/g)).toHaveLength(1);
    expect((await postEncrypted(id, first.certificate)).status).toBe(400);
    expect(await postEncrypted(id, second.certificate)).toMatchObject({ status: 303 });

    expect((await admin('connections', 'sp-keys', '--id', id, '--retire', 'no-such-key')).code).toBe(1);
    expect((await admin('connections', 'sp-keys', '--id', id, '--generate', '--use', 'decoration')).code).toBe(2);
  });

  it('adds a key the admin brings only when its secret exists, naming the command that creates it', async () => {
    const id = await newConnection();
    const certFile = join(dir, 'cert.pem');
    writeFileSync(certFile, idpCert);
    const missing = await admin('connections', 'sp-keys', '--id', id, '--add', '--use', 'encryption', '--cert', certFile, '--secret', 'no-such-key-secret');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('secrets set --name no-such-key-secret');
    expect(((await store.getConnection(id)) as SamlConnection).spKeys).toBeUndefined();
  });
});
