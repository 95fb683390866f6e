import { randomUUID, verify } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { runAdmin } from '../../bin/admin';
import type { SpKeyInfo } from '../../functions/core/admin/sp-keys';
import type { SamlConnection } from '../../functions/core/model';
import { runtimeFromEnvironment } from '../../functions/core/runtime';
import { createSamlHandler } from '../../functions/saml';
import { idpCert, invoke, problemCode, testStore } from '../support/harness';

/** AuthnRequests signed for the HTTP-Redirect binding (SAML Bindings 3.4.4.1), verified with node's crypto over the bytes of the Location. */

const dir = mkdtempSync(join(tmpdir(), 'sso-signed-'));
const env = { ...process.env, LOCAL_SECRETS_FILE: join(dir, 'secrets.json') };
const store = testStore();
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';

async function admin(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runAdmin(argv, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) }, env, log: () => undefined });
  return { code, stdout, stderr };
}

function metadataFile(wantSigned: boolean): string {
  const path = join(dir, `${randomUUID()}.xml`);
  writeFileSync(
    path,
    `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example.test/metadata">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"${wantSigned ? ' WantAuthnRequestsSigned="true"' : ''}>
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${idpCert.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, '')}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.test/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>`,
  );
  return path;
}

async function newConnection(wantSigned = false): Promise<string> {
  const tenant = `tenant-${randomUUID().slice(0, 8)}`;
  const id = `saml-${randomUUID().slice(0, 8)}`;
  expect((await admin('tenants', 'add', '--id', tenant)).code).toBe(0);
  expect((await admin('connections', 'add-saml', '--tenant', tenant, '--id', id, '--metadata', metadataFile(wantSigned), '--return-to', 'https://app.example.test/')).code).toBe(0);
  return id;
}

async function generateSigningKey(id: string): Promise<SpKeyInfo> {
  const run = await admin('connections', 'sp-keys', '--id', id, '--generate', '--use', 'signing', '--json');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as SpKeyInfo;
}

async function startLogin(id: string) {
  const handler = createSamlHandler({ ...(await runtimeFromEnvironment(env)), log: () => undefined });
  return invoke(handler, { method: 'GET', url: `/saml/${id}/login?return_to=${encodeURIComponent('https://app.example.test/dash?tab=1&x=y')}` });
}

/** The raw query of a Location header, split at its `&` without decoding: the bytes the IdP verifies. */
function rawQuery(location: string): { signed: string; params: string[]; signature: Buffer } {
  const query = location.slice(location.indexOf('?') + 1);
  const params = query.split('&');
  const signed = query.slice(0, query.indexOf('&Signature='));
  const signature = Buffer.from(decodeURIComponent(params.find((p) => p.startsWith('Signature='))!.slice('Signature='.length)), 'base64');
  return { signed, params, signature };
}

describe('signed AuthnRequests', () => {
  it('signs SAMLRequest, RelayState and SigAlg in that order with the newest signing key (RSA-SHA256), verifiable over the exact query bytes', async () => {
    const id = await newConnection();
    await generateSigningKey(id);
    const newest = await generateSigningKey(id);
    expect(await admin('connections', 'update', '--id', id, '--sign-authn-requests')).toMatchObject({ code: 0 });

    const start = await startLogin(id);
    expect(start.statusCode).toBe(302);
    const location = String(start.headers?.location);
    expect(location.startsWith('https://idp.example.test/sso?')).toBe(true);
    const { signed, params, signature } = rawQuery(location);
    expect(params.map((p) => p.split('=')[0])).toEqual(['SAMLRequest', 'RelayState', 'SigAlg', 'Signature']);
    expect(decodeURIComponent(params[2]!.slice('SigAlg='.length))).toBe(RSA_SHA256);
    expect(decodeURIComponent(params[1]!.slice('RelayState='.length))).toBe('https://app.example.test/dash?tab=1&x=y');

    expect(verify('sha256', Buffer.from(signed), newest.certificate, signature)).toBe(true);
    // Negative control: the same signature over a tampered RelayState does not verify.
    const tampered = signed.replace(/RelayState=[^&]*/, `RelayState=${encodeURIComponent('https://evil.example/')}`);
    expect(verify('sha256', Buffer.from(tampered), newest.certificate, signature)).toBe(false);

    const xml = inflateRawSync(Buffer.from(decodeURIComponent(params[0]!.slice('SAMLRequest='.length)), 'base64')).toString('utf8');
    expect(xml).toContain('AuthnRequest');

    const metadata = await admin('connections', 'metadata', '--id', id);
    expect(metadata.stdout).toContain('AuthnRequestsSigned="true"');
    expect(metadata.stdout.match(/KeyDescriptor use="signing"/g)).toHaveLength(2);
  });

  it('signs when the IdP metadata says WantAuthnRequestsSigned="true", without the flag, and keeps that on the connection', async () => {
    const id = await newConnection(true);
    expect(((await store.getConnection(id)) as SamlConnection).idpWantsAuthnRequestsSigned).toBe(true);
    const key = await generateSigningKey(id);
    const { signed, signature } = rawQuery(String((await startLogin(id)).headers?.location));
    expect(verify('sha256', Buffer.from(signed), key.certificate, signature)).toBe(true);
  });

  it('follows WantAuthnRequestsSigned when the connection is updated from new metadata', async () => {
    const id = await newConnection();
    const key = await generateSigningKey(id);
    expect(new URL(String((await startLogin(id)).headers?.location)).searchParams.has('Signature')).toBe(false);
    expect((await admin('connections', 'update', '--id', id, '--metadata', metadataFile(true))).code).toBe(0);
    expect(((await store.getConnection(id)) as SamlConnection).idpWantsAuthnRequestsSigned).toBe(true);
    const { signed, signature } = rawQuery(String((await startLogin(id)).headers?.location));
    expect(verify('sha256', Buffer.from(signed), key.certificate, signature)).toBe(true);
  });

  it('sends unsigned requests when neither the connection nor the IdP asks, even with a signing key', async () => {
    const id = await newConnection();
    await generateSigningKey(id);
    const location = new URL(String((await startLogin(id)).headers?.location));
    expect(location.searchParams.has('SAMLRequest')).toBe(true);
    expect(location.searchParams.has('Signature')).toBe(false);
    expect(location.searchParams.has('SigAlg')).toBe(false);
  });

  it('refuses --sign-authn-requests without a signing key, naming the command that makes one', async () => {
    const id = await newConnection();
    const run = await admin('connections', 'update', '--id', id, '--sign-authn-requests');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`connections sp-keys --id ${id} --generate --use signing`);
    expect(((await store.getConnection(id)) as SamlConnection).signAuthnRequests).toBeUndefined();
  });

  it('answers a login whose signing key secret is gone with service_unavailable', async () => {
    const id = await newConnection(true);
    const key = await generateSigningKey(id);
    expect((await admin('secrets', 'remove', '--name', key.secretName)).code).toBe(0);
    const start = await startLogin(id);
    expect(start.statusCode).toBe(503);
    expect(problemCode(start)).toBe('service_unavailable');
  });
});
