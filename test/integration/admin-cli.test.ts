import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runAdmin } from '../../bin/admin';
import type { LoginReport } from '../../functions/core/admin/evaluation';
import type { Connection, OidcConnection, SamlConnection, Tenant, User } from '../../functions/core/model';
import { DEFAULT_ATTRIBUTE_MAPPING } from '../../functions/core/provisioning';
import { seedDemo } from '../../local/demo-seed';
import { idpCert, testStore } from '../support/harness';

/** The admin CLI, run in-process against the DynamoDB Local of the global setup (TABLE_NAME, DYNAMODB_ENDPOINT). */

const INTEROP = new URL('../../../shared/interop/saml/', import.meta.url);
const interop = (name: string) => fileURLToPath(new URL(name, INTEROP));
const dir = mkdtempSync(join(tmpdir(), 'sso-admin-'));
// This file's own local secret store: test files run in parallel, each with its own.
process.env.LOCAL_SECRETS_FILE = join(dir, 'secrets.json');
const store = testStore();
const logged: Record<string, unknown>[] = [];

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  json<T>(): T;
}

async function admin(...argv: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runAdmin(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: process.env,
    log: (entry) => logged.push({ ...entry }),
  });
  return { code, stdout, stderr, json: <T>() => JSON.parse(stdout) as T };
}

function file(name: string, content: string | object): string {
  const path = join(dir, `${randomUUID()}-${name}`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

async function newTenant(options: string[] = []): Promise<string> {
  const id = unique('tenant');
  const run = await admin('tenants', 'add', '--id', id, '--name', 'Acme Corp', ...options);
  expect(run).toMatchObject({ code: 0, stderr: '' });
  return id;
}

const IDP_ENTITY_ID = 'https://idp.example.test/metadata';

function idpMetadataXml(): string {
  const base64 = idpCert.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, '');
  return `<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${IDP_ENTITY_ID}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${base64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example.test/sso/post"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.test/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>`;
}

async function newSamlConnection(tenantId: string, extra: string[] = []): Promise<string> {
  const id = unique('saml');
  const run = await admin('connections', 'add-saml', '--tenant', tenantId, '--id', id, '--metadata', file('idp.xml', idpMetadataXml()), '--return-to', 'https://app.example.test/', ...extra);
  expect(run).toMatchObject({ code: 0, stderr: '' });
  return id;
}

/** A loopback server answering only the discovery document of its own issuer. */
let discovery: Server;
let issuer: string;
let supportedAuthMethods = ['client_secret_basic', 'client_secret_post'];
const supportedAlgorithms = ['RS256', 'ES256'];

beforeAll(async () => {
  discovery = createServer((request, response) => {
    if (request.url !== '/.well-known/openid-configuration') {
      response.statusCode = 404;
      return response.end();
    }
    response.setHeader('content-type', 'application/json');
    response.end(
      JSON.stringify({
        issuer,
        authorization_endpoint: `${issuer}/auth`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        token_endpoint_auth_methods_supported: supportedAuthMethods,
        id_token_signing_alg_values_supported: supportedAlgorithms,
      }),
    );
  });
  await new Promise<void>((resolve) => discovery.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(discovery.address() as AddressInfo).port}`;
  expect(await admin('secrets', 'set', '--name', 'admin-rp-secret', '--file', file('secret.txt', 'admin-rp-secret-value\n'))).toMatchObject({ code: 0, stderr: '' });
});
afterAll(() => new Promise<void>((resolve) => discovery.close(() => resolve())));

async function newOidcConnection(tenantId: string, extra: string[] = []): Promise<string> {
  const id = unique('oidc');
  const run = await admin('connections', 'add-oidc', '--tenant', tenantId, '--id', id, '--issuer', `${issuer}/`, '--client-id', 'admin-rp', '--client-secret-name', 'admin-rp-secret', '--return-to', 'https://app.example.test/', ...extra);
  expect(run).toMatchObject({ code: 0, stderr: '' });
  return id;
}

async function createUser(tenantId: string, email: string): Promise<User> {
  const now = new Date().toISOString();
  return store.createUser(
    { id: randomUUID(), tenantId, email, roles: ['member'], attributes: {}, status: 'active', createdAt: now, updatedAt: now },
    { connectionId: 'admin-test', subject: randomUUID() },
  );
}

describe('usage', () => {
  it('answers an unknown verb with exit code 2 and the usage', async () => {
    const run = await admin('tenants', 'frobnicate');
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('unknown command "tenants frobnicate"');
    expect(run.stderr).toContain('Usage: npm run admin -- tenants <verb>');
  });

  it('answers no command with exit code 2, and --help with the usage on stdout', async () => {
    expect((await admin()).code).toBe(2);
    const help = await admin('--help');
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toContain('connections add-saml');
    expect(help.stdout).toContain('evaluate --connection C');
  });

  it('gives each command its own help', async () => {
    const run = await admin('connections', 'add-saml', '--help');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('--sp-entity-id ID');
    expect(run.stdout).toContain('--policy FILE.json');
  });

  it('refuses an unknown option or a missing one with exit code 2 and one line', async () => {
    const unknown = await admin('tenants', 'add', '--id', 'x', '--colour', 'red');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^error: Unknown option '--colour'/);
    const missing = await admin('connections', 'show');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('error: --id is required (see npm run admin -- connections show --help)\n');
  });

  it('answers an unknown connection with exit code 1 and a clear message, no stack trace', async () => {
    const run = await admin('connections', 'show', '--id', 'no-such-connection');
    expect(run).toEqual(expect.objectContaining({ code: 1, stdout: '', stderr: 'error: there is no connection no-such-connection\n' }));
    const evaluate = await admin('evaluate', '--connection', 'no-such-connection', '--claims', file('claims.json', { sub: 'x' }));
    expect(evaluate).toEqual(expect.objectContaining({ code: 1, stderr: 'error: there is no connection no-such-connection\n' }));
  });
});

describe('tenants', () => {
  it('adds, lists and shows a tenant, and refuses to add it twice', async () => {
    const id = await newTenant(['--seat-limit', '5']);
    expect(await store.getTenant(id)).toEqual({ id, name: 'Acme Corp', seatLimit: 5, seatCount: 0 });

    const list = await admin('tenants', 'list', '--json');
    expect(list.json<Tenant[]>()).toContainEqual({ id, name: 'Acme Corp', seatLimit: 5, seatCount: 0 });
    expect((await admin('tenants', 'list')).stdout).toMatch(new RegExp(`${id}\\s+Acme Corp\\s+0 used of 5`));

    const show = await admin('tenants', 'show', '--id', id, '--json');
    expect(show.json()).toEqual({ tenant: { id, name: 'Acme Corp', seatLimit: 5, seatCount: 0 }, connections: [], users: { active: 0, deactivated: 0 } });

    const again = await admin('tenants', 'add', '--id', id);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`error: tenant ${id} exists already (use tenants update)\n`);
  });

  it('sets and removes a seat limit', async () => {
    const id = await newTenant();
    expect((await admin('tenants', 'seats', '--tenant', id, '--limit', '2')).code).toBe(0);
    expect(await store.getTenant(id)).toMatchObject({ seatLimit: 2 });
    expect((await admin('tenants', 'seats', '--tenant', id, '--limit', 'none')).code).toBe(0);
    expect((await store.getTenant(id))?.seatLimit).toBeUndefined();

    const bad = await admin('tenants', 'seats', '--tenant', id, '--limit', 'lots');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('error: --limit must be a whole number of seats, or "none", got "lots" (see npm run admin -- tenants seats --help)\n');
    expect((await admin('tenants', 'seats', '--tenant', 'no-such-tenant', '--limit', '3')).stderr).toBe('error: there is no tenant no-such-tenant\n');
  });

  it('renames a tenant and refuses to remove one that still has connections', async () => {
    const id = await newTenant();
    expect((await admin('tenants', 'update', '--id', id, '--name', 'Acme Inc.')).code).toBe(0);
    expect(await store.getTenant(id)).toMatchObject({ name: 'Acme Inc.' });
    await newSamlConnection(id);
    const remove = await admin('tenants', 'remove', '--id', id);
    expect(remove.code).toBe(1);
    expect(remove.stderr).toContain('still has 1 connection(s) and 0 user(s)');
  });
});

describe('connections', () => {
  it('adds a SAML connection from an IdP metadata file', async () => {
    const tenantId = await newTenant();
    const id = unique('saml');
    const run = await admin('connections', 'add-saml', '--tenant', tenantId, '--id', id, '--metadata', file('idp.xml', idpMetadataXml()), '--return-to', 'https://app.example.test/');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`https://sso.test/saml/${id}/acs`);
    const connection = (await store.getConnection(id)) as SamlConnection;
    expect(connection).toMatchObject({
      id,
      tenantId,
      protocol: 'saml',
      enabled: true,
      idpEntityId: IDP_ENTITY_ID,
      idpSsoUrl: 'https://idp.example.test/sso',
      allowSha1: false,
      allowIdpInitiated: false,
      returnToAllowlist: ['https://app.example.test/'],
      attributeMapping: DEFAULT_ATTRIBUTE_MAPPING,
    });
    expect(connection.idpCertificates.map((pem) => pem.replace(/\s+/g, ''))).toEqual([idpCert.replace(/\s+/g, '')]);

    const listed = await admin('connections', 'list', '--tenant', tenantId, '--json');
    expect(listed.json<Connection[]>().map((c) => c.id)).toEqual([id]);
  });

  it('refuses a SAML connection of an unknown tenant, or metadata without a signing certificate', async () => {
    const unknownTenant = await admin('connections', 'add-saml', '--tenant', 'no-such-tenant', '--id', unique('saml'), '--metadata', file('idp.xml', idpMetadataXml()));
    expect(unknownTenant).toMatchObject({ code: 1, stderr: 'error: there is no tenant no-such-tenant\n' });
    const tenantId = await newTenant();
    const noCert = idpMetadataXml().replace(/<md:KeyDescriptor[\s\S]*<\/md:KeyDescriptor>/, '');
    const run = await admin('connections', 'add-saml', '--tenant', tenantId, '--id', unique('saml'), '--metadata', file('idp.xml', noCert));
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--metadata .*idp\.xml: the metadata has no signing certificate/);
  });

  it('prints the SP metadata with the ACS URL', async () => {
    const id = await newSamlConnection(await newTenant());
    const run = await admin('connections', 'metadata', '--id', id);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^<(\?xml|EntityDescriptor|md:EntityDescriptor)/);
    expect(run.stdout).toContain(`Location="https://sso.test/saml/${id}/acs"`);
    expect(run.stdout).toContain(`entityID="https://sso.test/saml/${id}/metadata"`);
  });

  it('updates a connection from a policy file as its next version', async () => {
    const id = await newSamlConnection(await newTenant());
    const policy = file('policy.json', { jit: false, roles: { defaults: ['viewer'], groupRoles: { admins: ['admin'] } }, allowedEmailDomains: ['Example.test'] });
    const first = await admin('connections', 'update', '--id', id, '--policy', policy, '--json');
    expect(first.code).toBe(0);
    expect(first.json<Connection>()).toMatchObject({ version: 1 });
    expect(await store.getConnection(id)).toMatchObject({
      version: 1,
      jit: false,
      roles: { defaults: ['viewer'], groupRoles: { admins: ['admin'] } },
      allowedEmailDomains: ['example.test'],
      returnToAllowlist: ['https://app.example.test/'],
    });
    expect((await admin('connections', 'update', '--id', id, '--disable')).code).toBe(0);
    expect(await store.getConnection(id)).toMatchObject({ version: 2, enabled: false, jit: false });
  });

  it('refuses a policy file with a bad field, naming it, and changes nothing', async () => {
    const id = await newSamlConnection(await newTenant());
    const wrongType = await admin('connections', 'update', '--id', id, '--policy', file('policy.json', { roles: { defaults: ['member'], groupRoles: { admins: 'admin' } } }));
    expect(wrongType.code).toBe(2);
    expect(wrongType.stderr).toMatch(/^error: --policy .*policy\.json: roles\.groupRoles\["admins"\] must be an array of strings\n/);

    const unknownField = await admin('connections', 'update', '--id', id, '--policy', file('policy.json', { jitt: false }));
    expect(unknownField.code).toBe(2);
    expect(unknownField.stderr).toContain('policy.jitt is not a field here');

    const badRule = await admin('connections', 'update', '--id', id, '--policy', file('policy.json', { attributeMapping: { attributes: { email: { from: ['mail'], transforms: ['titlecase'] } } } }));
    expect(badRule.code).toBe(2);
    expect(badRule.stderr).toContain('attributeMapping.attributes.email.transforms[0] must be');

    expect((await store.getConnection(id))?.version).toBeUndefined();
  });

  it('adds an OIDC connection from the issuer\'s discovery document', async () => {
    const tenantId = await newTenant();
    const id = await newOidcConnection(tenantId, ['--auth', 'client_secret_post', '--scopes', 'openid email profile groups']);
    expect(await store.getConnection(id)).toMatchObject({
      protocol: 'oidc',
      issuer,
      clientId: 'admin-rp',
      clientSecretName: 'admin-rp-secret',
      tokenEndpointAuthMethod: 'client_secret_post',
      scopes: ['openid', 'email', 'profile', 'groups'],
      enabled: true,
    });
    const show = await admin('connections', 'show', '--id', id);
    expect(show.stdout).toContain(`https://sso.test/oidc/${id}/callback`);
  });

  it('refuses an OIDC connection whose provider does not offer the auth method, or names another issuer', async () => {
    const tenantId = await newTenant();
    const method = await admin('connections', 'add-oidc', '--tenant', tenantId, '--id', unique('oidc'), '--issuer', issuer, '--client-id', 'c', '--client-secret-name', 's', '--auth', 'private_key_jwt');
    expect(method.code).toBe(2);
    expect(method.stderr).toContain('the provider does not support private_key_jwt (it offers client_secret_basic, client_secret_post)');

    const other = await admin('connections', 'add-oidc', '--tenant', tenantId, '--id', unique('oidc'), '--issuer', `${issuer}/tenant-a`, '--client-id', 'c', '--client-secret-name', 's');
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('could not be read (HTTP 404)');
  });

  it('removes a connection', async () => {
    const id = await newSamlConnection(await newTenant());
    expect((await admin('connections', 'remove', '--id', id)).code).toBe(0);
    expect(await store.getConnection(id)).toBeUndefined();
    expect((await admin('connections', 'remove', '--id', id)).code).toBe(1);
  });
});

describe('connections update', () => {
  it('changes every SAML setting add-saml sets, each update as the next version', async () => {
    const id = await newSamlConnection(await newTenant());
    const certFile = file('idp.cert.pem', idpCert);
    const run = await admin(
      'connections', 'update', '--id', id, '--clock-skew', '30', '--allow-sha1', '--allow-idp-initiated',
      '--sp-entity-id', 'urn:old-sp', '--acs-url', 'https://old-sp.example.test/acs', '--return-to', 'https://new-app.example.test/',
      '--entity-id', 'https://idp2.example.test/metadata', '--sso-url', 'https://idp2.example.test/sso', '--cert', certFile, '--json',
    );
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const updated = (await store.getConnection(id)) as SamlConnection;
    expect(updated).toMatchObject({
      version: 1,
      clockSkewSeconds: 30,
      allowSha1: true,
      allowIdpInitiated: true,
      spEntityId: 'urn:old-sp',
      acsUrl: 'https://old-sp.example.test/acs',
      returnToAllowlist: ['https://new-app.example.test/'],
      idpEntityId: 'https://idp2.example.test/metadata',
      idpSsoUrl: 'https://idp2.example.test/sso',
    });
    expect(updated.idpCertificates.map((pem) => pem.replace(/\s+/g, ''))).toEqual([idpCert.replace(/\s+/g, '')]);

    expect((await admin('connections', 'update', '--id', id, '--no-allow-sha1', '--no-allow-idp-initiated')).code).toBe(0);
    expect(await store.getConnection(id)).toMatchObject({ version: 2, allowSha1: false, allowIdpInitiated: false, clockSkewSeconds: 30 });
  });

  it('names the attribute that identifies users and the maximum issue age, and goes back to the NameID', async () => {
    const id = await newSamlConnection(await newTenant());
    expect(await admin('connections', 'update', '--id', id, '--subject-attribute', 'urn:oid:1.3.6.1.4.1.5923.1.1.1.6', '--max-issue-age', '600')).toMatchObject({ code: 0, stderr: '' });
    expect(await store.getConnection(id)).toMatchObject({ version: 1, subjectAttribute: 'urn:oid:1.3.6.1.4.1.5923.1.1.1.6', maxIssueAgeSeconds: 600 });
    expect((await admin('connections', 'update', '--id', id, '--no-subject-attribute')).code).toBe(0);
    expect((await store.getConnection(id)) as SamlConnection).not.toHaveProperty('subjectAttribute');
    expect((await admin('connections', 'update', '--id', id, '--subject-attribute', 'x', '--no-subject-attribute')).code).toBe(2);
  });

  it('changes every OIDC setting add-oidc sets, checked against the discovery document', async () => {
    const id = await newOidcConnection(await newTenant());
    const run = await admin(
      'connections', 'update', '--id', id, '--auth', 'client_secret_post', '--scopes', 'openid email', '--client-id', 'rp-2',
      '--client-secret-name', 'rp-2-secret', '--id-token-alg', 'ES256', '--entra-tenant', '72f988bf-0000-0000-0000-000000000000',
    );
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(await store.getConnection(id)).toMatchObject({
      version: 1,
      issuer,
      tokenEndpointAuthMethod: 'client_secret_post',
      scopes: ['openid', 'email'],
      clientId: 'rp-2',
      clientSecretName: 'rp-2-secret',
      idTokenSigningAlgorithms: ['ES256'],
      allowedEntraTenants: ['72f988bf-0000-0000-0000-000000000000'],
    });
    expect((await admin('connections', 'update', '--id', id, '--issuer', `${issuer}/`)).code).toBe(0);
    expect(await store.getConnection(id)).toMatchObject({ version: 2, issuer });
  });

  it('refuses an ID token algorithm that is symmetric or that the provider does not offer, and an auth method it does not offer, changing nothing', async () => {
    const id = await newOidcConnection(await newTenant());
    const hmac = await admin('connections', 'update', '--id', id, '--id-token-alg', 'HS256');
    expect(hmac.code).toBe(2);
    expect(hmac.stderr).toContain('HS256 is not an asymmetric one');
    const unoffered = await admin('connections', 'update', '--id', id, '--id-token-alg', 'PS512');
    expect(unoffered.code).toBe(2);
    expect(unoffered.stderr).toContain('does not sign ID tokens with PS512');
    const method = await admin('connections', 'update', '--id', id, '--auth', 'private_key_jwt');
    expect(method.code).toBe(2);
    expect(method.stderr).toContain('the provider does not support private_key_jwt');
    expect((await store.getConnection(id))?.version).toBeUndefined();
  });

  it('refuses an option of the other protocol with exit code 2, naming it', async () => {
    const tenantId = await newTenant();
    const saml = await newSamlConnection(tenantId);
    const oidc = await newOidcConnection(tenantId);
    const onSaml = await admin('connections', 'update', '--id', saml, '--name', 'x', '--client-id', 'c');
    expect(onSaml).toMatchObject({ code: 2, stderr: `error: --client-id is for OIDC connections; ${saml} is a SAML connection\n` });
    const onOidc = await admin('connections', 'update', '--id', oidc, '--allow-sha1');
    expect(onOidc).toMatchObject({ code: 2, stderr: `error: --allow-sha1 is for SAML connections; ${oidc} is an OIDC connection\n` });
    const both = await admin('connections', 'update', '--id', saml, '--allow-sha1', '--no-allow-sha1');
    expect(both.code).toBe(2);
    const badSkew = await admin('connections', 'update', '--id', saml, '--clock-skew', '99999');
    expect(badSkew.code).toBe(2);
    expect(badSkew.stderr).toContain('the clock skew must be a whole number of seconds');
    const badCert = await admin('connections', 'update', '--id', saml, '--cert', file('junk.pem', 'not a certificate'));
    expect(badCert.code).toBe(2);
    const emptyAcs = await admin('connections', 'update', '--id', saml, '--acs-url', '');
    expect(emptyAcs).toMatchObject({ code: 2, stderr: `error: connection ${saml}: acsUrl must not be empty\n` });
    const emptyClient = await admin('connections', 'update', '--id', oidc, '--client-id', '');
    expect(emptyClient).toMatchObject({ code: 2, stderr: `error: connection ${oidc}: clientId must not be empty\n` });
    expect(await store.getConnection(saml)).toMatchObject({ allowSha1: false, clockSkewSeconds: 120 });
    expect((await store.getConnection(saml))?.version).toBeUndefined();
    expect((await store.getConnection(oidc))?.version).toBeUndefined();
  });

  it('removes a connection with its identity links', async () => {
    const tenantId = await newTenant();
    const id = await newSamlConnection(tenantId);
    const now = new Date().toISOString();
    const user = await store.createUser({ id: randomUUID(), tenantId, email: 'kim@example.test', roles: ['member'], attributes: {}, status: 'active', createdAt: now, updatedAt: now }, { connectionId: id, subject: 'kim' });
    expect(await store.findUserByLink({ connectionId: id, subject: 'kim' })).toMatchObject({ id: user.id });
    expect((await admin('connections', 'remove', '--id', id)).code).toBe(0);
    const again = await admin('connections', 'add-saml', '--tenant', tenantId, '--id', id, '--metadata', file('idp.xml', idpMetadataXml()), '--return-to', 'https://app.example.test/');
    expect(again.code).toBe(0);
    expect(await store.findUserByLink({ connectionId: id, subject: 'kim' })).toBeUndefined();
    expect(await store.getUser(user.id)).toEqual(user);
  });
});

describe('npm start seeding', () => {
  it('creates the demo tenant and connections when missing, and keeps an admin\'s edits at the next start', async () => {
    const ids = { tenant: unique('demo'), saml: unique('demo-saml'), oidc: unique('demo-oidc') };
    const seed = {
      baseUrl: 'http://localhost:3000',
      saml: { entityId: 'http://localhost:3000/dev/saml-idp', ssoUrl: 'http://localhost:3000/dev/saml-idp/sso', certificate: idpCert },
      oidc: { issuer: 'http://localhost:3001', clientId: 'sso-local', clientSecretName: 'demo-oidc-client-secret' },
      ids,
    };
    expect(await seedDemo(store, seed)).toEqual({ created: [ids.tenant, ids.saml, ids.oidc], notes: [] });
    expect(await store.getConnection(ids.oidc)).toMatchObject({ protocol: 'oidc', tenantId: ids.tenant, issuer: 'http://localhost:3001', returnToAllowlist: ['http://localhost:3000/'] });

    expect((await admin('connections', 'update', '--id', ids.saml, '--disable', '--policy', file('policy.json', { jit: false }))).code).toBe(0);
    expect((await admin('connections', 'update', '--id', ids.oidc, '--scopes', 'openid email')).code).toBe(0);
    expect((await admin('tenants', 'update', '--id', ids.tenant, '--name', 'Renamed', '--seat-limit', '3')).code).toBe(0);

    expect(await seedDemo(store, seed)).toEqual({ created: [], notes: [] });
    expect(await store.getConnection(ids.saml)).toMatchObject({ version: 1, enabled: false, jit: false });
    expect(await store.getConnection(ids.oidc)).toMatchObject({ version: 1, scopes: ['openid', 'email'] });
    expect(await store.getTenant(ids.tenant)).toMatchObject({ name: 'Renamed', seatLimit: 3 });

    const elsewhere = await seedDemo(store, { ...seed, saml: { ...seed.saml, ssoUrl: 'http://localhost:4000/dev/saml-idp/sso' } });
    expect(elsewhere.created).toEqual([]);
    expect(elsewhere.notes).toEqual([expect.stringContaining(`connection ${ids.saml} points at http://localhost:3000/dev/saml-idp/sso`)]);
    expect(await store.getConnection(ids.saml)).toMatchObject({ version: 1, idpSsoUrl: 'http://localhost:3000/dev/saml-idp/sso' });
  });
});

describe('users', () => {
  it('adds a user ahead of its first login, taking a seat, and updates its roles', async () => {
    const tenantId = await newTenant(['--seat-limit', '1']);
    const added = await admin('users', 'add', '--tenant', tenantId, '--email', 'Lin@Example.test', '--name', 'Lin', '--role', 'viewer', '--json');
    expect(added.code).toBe(0);
    const user = added.json<User>();
    expect(user).toMatchObject({ email: 'lin@example.test', name: 'Lin', roles: ['viewer'], status: 'active' });
    expect((await store.getTenant(tenantId))?.seatCount).toBe(1);

    const full = await admin('users', 'add', '--tenant', tenantId, '--email', 'max@example.test', '--role', 'viewer');
    expect(full.code).toBe(1);
    expect(full.stderr).toContain('seat_limit_reached');
    const twice = await admin('users', 'add', '--tenant', tenantId, '--email', 'lin@example.test', '--role', 'viewer');
    expect(twice.code).toBe(1);

    const updated = await admin('users', 'update', '--tenant', tenantId, '--email', 'lin@example.test', '--role', 'admin', '--role', 'viewer');
    expect(updated).toMatchObject({ code: 0, stdout: `updated user ${user.id}\n` });
    expect((await store.getUser(user.id))?.roles).toEqual(['admin', 'viewer']);
    expect((await admin('users', 'add', '--tenant', tenantId, '--email', 'x@example.test')).code).toBe(2);
  });

  it('lists users, and deactivates one: the store says deactivated, the seat is freed, an audit event is written', async () => {
    const tenantId = await newTenant(['--seat-limit', '10']);
    const ada = await createUser(tenantId, 'ada@example.test');
    await createUser(tenantId, 'grace@example.test');
    expect((await store.getTenant(tenantId))?.seatCount).toBe(2);

    const list = await admin('users', 'list', '--tenant', tenantId, '--json');
    expect(list.json<User[]>().map((u) => u.email).sort()).toEqual(['ada@example.test', 'grace@example.test']);
    expect((await admin('users', 'list', '--tenant', tenantId)).stdout).toMatch(/ada@example\.test\s+-\s+active\s+member/);

    const run = await admin('users', 'deactivate', '--id', ada.id);
    expect(run).toMatchObject({ code: 0, stdout: `deactivated user ${ada.id} (ada@example.test)\n` });
    expect(await store.getUser(ada.id)).toMatchObject({ status: 'deactivated' });
    expect((await store.getTenant(tenantId))?.seatCount).toBe(1);
    expect(logged).toContainEqual(expect.objectContaining({ message: 'audit', type: 'user.deactivated', tenantId, userId: ada.id }));

    const again = await admin('users', 'deactivate', '--tenant', tenantId, '--email', 'ADA@example.test');
    expect(again).toMatchObject({ code: 0, stdout: `user ${ada.id} was deactivated already\n` });
    expect((await store.getTenant(tenantId))?.seatCount).toBe(1);

    expect((await admin('users', 'reactivate', '--id', ada.id)).code).toBe(0);
    expect(await store.getUser(ada.id)).toMatchObject({ status: 'active' });
    expect((await store.getTenant(tenantId))?.seatCount).toBe(2);
  });

  it('shows and removes a user, and refuses an unknown one', async () => {
    const tenantId = await newTenant();
    const user = await createUser(tenantId, 'linus@example.test');
    const show = await admin('users', 'show', '--tenant', tenantId, '--email', 'linus@example.test', '--json');
    expect(show.json<User>()).toMatchObject({ id: user.id, status: 'active' });
    expect((await admin('users', 'remove', '--id', user.id)).code).toBe(0);
    expect(await store.getUser(user.id)).toBeUndefined();
    expect((await store.getTenant(tenantId))?.seatCount).toBe(0);
    expect(await admin('users', 'show', '--id', user.id)).toMatchObject({ code: 1, stderr: `error: there is no user ${user.id}\n` });
  });
});

describe('evaluate', () => {
  const ADFS = ['--entity-id', 'http://fs.spstest2.com/adfs/services/trust', '--sso-url', 'https://fs.spstest2.com/adfs/ls/', '--cert', interop('adfs.idp-cert.pem')];
  const ADFS_SP = ['--sp-entity-id', 'https://saml.test.nope/session/sso/saml/spentityid/dknhyszjl7', '--acs-url', 'https://saml.test.nope/session/sso/saml/acs/dknhyszjl7'];

  async function adfsConnection(): Promise<{ tenantId: string; id: string }> {
    const tenantId = await newTenant();
    const id = unique('adfs');
    const run = await admin('connections', 'add-saml', '--tenant', tenantId, '--id', id, ...ADFS, ...ADFS_SP, '--return-to', 'https://app.example.test/');
    // The capture is from 2017: its certificate has long expired, which the CLI points out.
    expect(run).toMatchObject({ code: 0, stderr: 'note: an IdP certificate expired on 2017-11-02: ask the IdP admin for the next one\n' });
    return { tenantId, id };
  }

  it('shows what a real ADFS response would produce, at its IssueInstant, and creates no user', async () => {
    const { tenantId, id } = await adfsConnection();
    const run = await admin('evaluate', '--connection', id, '--response', interop('adfs.response.b64'), '--json');
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const report = run.json<LoginReport>();
    expect(report.evaluation).toMatchObject({
      outcome: 'create',
      identity: { subject: 'paul@spstest2.com' },
      profile: { email: 'paul@spstest2.com', name: 'paul fraley', attributes: { givenName: 'paul', familyName: 'fraley' } },
      roles: ['member'],
    });
    expect(report.resultingUser).toMatchObject({ id: '(new)', email: 'paul@spstest2.com', roles: ['member'], attributes: { givenName: 'paul', familyName: 'fraley' } });
    expect(report.evaluation.changes).toContainEqual({ field: 'email', to: 'paul@spstest2.com' });

    const human = await admin('evaluate', '--connection', id, '--response', interop('adfs.response.b64'));
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/outcome\s+create/);
    expect(human.stdout).toMatch(/subject\s+paul@spstest2\.com/);
    expect(human.stdout).toContain('givenName: paul');
    expect(human.stdout).toContain('familyName: fraley');
    expect(human.stdout).toMatch(/roles\s+member/);
    expect(human.stdout).toContain('(nothing was written)');

    expect(await store.findUserByLink({ connectionId: id, subject: 'paul@spstest2.com' })).toBeUndefined();
    expect(await store.listUsers(tenantId)).toEqual([]);
    expect((await store.getTenant(tenantId))?.seatCount).toBe(0);
  });

  it('reads raw XML as well, and gives the mapped role under a policy that maps a group', async () => {
    const { id } = await adfsConnection();
    const policy = file('policy.json', {
      attributeMapping: { attributes: { ...DEFAULT_ATTRIBUTE_MAPPING.attributes, groups: { constant: ['adfs-staff'], multiValued: true } }, required: ['email'] },
      roles: { defaults: ['member'], groupRoles: { 'adfs-staff': ['admin', 'member'] } },
    });
    expect((await admin('connections', 'update', '--id', id, '--policy', policy)).code).toBe(0);
    const xml = file('response.xml', Buffer.from(readFileSync(interop('adfs.response.b64'), 'utf8'), 'base64').toString('utf8'));
    const run = await admin('evaluate', '--connection', id, '--response', xml, '--json');
    expect(run.code).toBe(0);
    expect(run.json<LoginReport>().evaluation).toMatchObject({ outcome: 'create', roles: ['admin', 'member'], profile: { attributes: { groups: ['adfs-staff'] } } });
  });

  it('verifies at --at when given: a response long expired is refused with its code', async () => {
    const { id } = await adfsConnection();
    const run = await admin('evaluate', '--connection', id, '--response', interop('adfs.response.b64'), '--at', '2030-01-01T00:00:00Z');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: saml_expired: /);
    expect(run.stderr.split('\n')).toHaveLength(2);
  });

  it('refuses a response that is not SAML, or one for an OIDC connection, with exit code 2', async () => {
    const { id } = await adfsConnection();
    const junk = await admin('evaluate', '--connection', id, '--response', file('junk.txt', 'hello world'));
    expect(junk.code).toBe(2);
    expect(junk.stderr).toContain('is neither a base64 SAMLResponse nor SAML XML');

    const oidc = await newOidcConnection(await newTenant());
    const wrong = await admin('evaluate', '--connection', oidc, '--response', interop('adfs.response.b64'));
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('is an OIDC connection: evaluate claims (--claims)');
  });

  it('evaluates OIDC claims with the connection\'s group roles, and creates no user', async () => {
    const tenantId = await newTenant();
    const policy = file('policy.json', { roles: { defaults: ['member'], groupRoles: { engineering: ['developer'] } } });
    const id = await newOidcConnection(tenantId, ['--policy', policy]);
    const claims = file('claims.json', { sub: 'op-user-1', email: 'Grace@Example.test', email_verified: true, given_name: 'Grace', family_name: 'Hopper', groups: ['engineering', 'navy'] });
    const run = await admin('evaluate', '--connection', id, '--claims', claims, '--json');
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.json<LoginReport>()).toMatchObject({
      protocol: 'oidc',
      evaluation: { outcome: 'create', identity: { subject: 'op-user-1', emailVerified: true }, profile: { email: 'grace@example.test', name: 'Grace Hopper' }, roles: ['developer'] },
      resultingUser: { email: 'grace@example.test', roles: ['developer'] },
    });
    expect(await store.listUsers(tenantId)).toEqual([]);

    const noSub = await admin('evaluate', '--connection', id, '--claims', file('claims.json', { email: 'x@example.test' }));
    expect(noSub.code).toBe(2);
    expect(noSub.stderr).toContain('has no "sub" claim');
  });

  it('reports what the store would refuse: an email another user holds, a tenant with no seat left', async () => {
    const tenantId = await newTenant(['--seat-limit', '1']);
    const id = await newOidcConnection(tenantId);
    await createUser(tenantId, 'ada@example.test');
    const taken = await admin('evaluate', '--connection', id, '--claims', file('claims.json', { sub: 'other', email: 'ada@example.test', email_verified: true }), '--json');
    expect(taken.code).toBe(1);
    expect(taken.json<LoginReport>().evaluation).toMatchObject({ outcome: 'refused', refusal: { code: 'email_in_use' } });
    const full = await admin('evaluate', '--connection', id, '--claims', file('claims.json', { sub: 'new', email: 'bob@example.test' }));
    expect(full.code).toBe(1);
    expect(full.stderr).toBe('refused: seat_limit_reached: all 1 seats of the tenant are taken\n');
  });

  it('reports a login the policy refuses with exit code 1 and its code', async () => {
    const tenantId = await newTenant();
    const id = await newOidcConnection(tenantId, ['--policy', file('policy.json', { allowedEmailDomains: ['acme.example'] })]);
    const run = await admin('evaluate', '--connection', id, '--claims', file('claims.json', { sub: 'u', email: 'mallory@evil.example', email_verified: true }));
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/outcome\s+refused/);
    expect(run.stderr).toBe('refused: domain_not_allowed: evil.example is not one of this organization\'s email domains\n');
    expect((await store.getConnection(id)) as OidcConnection).toMatchObject({ allowedEmailDomains: ['acme.example'] });
  });
});

describe('a deployed stack (--stack)', () => {
  /** CloudFormation's DescribeStacks, answered on loopback; the SDK finds it, and DynamoDB Local, through its endpoint variables. */
  let cloudFormation: Server;
  const requests: string[] = [];
  const saved = { ...process.env };

  beforeAll(async () => {
    cloudFormation = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        requests.push(body);
        const stack = new URLSearchParams(body).get('StackName');
        response.setHeader('content-type', 'text/xml');
        if (stack !== 'Sso-test') {
          response.statusCode = 400;
          return response.end(`<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id ${stack} does not exist</Message></Error><RequestId>1</RequestId></ErrorResponse>`);
        }
        const outputs = { TableName: process.env.TABLE_NAME!, ApiUrl: 'https://api.stack.test', SigningKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/test', SecretsPrefix: 'sso/Sso-test/' };
        const members = Object.entries(outputs).map(([key, value]) => `<member><OutputKey>${key}</OutputKey><OutputValue>${value}</OutputValue></member>`).join('');
        response.end(
          `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member><StackName>Sso-test</StackName><StackStatus>CREATE_COMPLETE</StackStatus><CreationTime>2026-01-01T00:00:00Z</CreationTime><Outputs>${members}</Outputs></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></DescribeStacksResponse>`,
        );
      });
    });
    await new Promise<void>((resolve) => cloudFormation.listen(0, '127.0.0.1', resolve));
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_CLOUDFORMATION: `http://127.0.0.1:${(cloudFormation.address() as AddressInfo).port}`,
      AWS_ENDPOINT_URL_DYNAMODB: process.env.DYNAMODB_ENDPOINT,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
  });
  afterAll(async () => {
    for (const key of ['AWS_ENDPOINT_URL_CLOUDFORMATION', 'AWS_ENDPOINT_URL_DYNAMODB', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
    await new Promise<void>((resolve) => cloudFormation.close(() => resolve()));
  });

  it('finds the table and API URL in the stack\'s outputs, whatever DYNAMODB_ENDPOINT the shell has', async () => {
    const id = await newSamlConnection(await newTenant());
    const run = await admin('--stack', 'Sso-test', 'connections', 'metadata', '--id', id, '--json');
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.json()).toMatchObject({ acsUrl: `https://api.stack.test/saml/${id}/acs`, spEntityId: `https://api.stack.test/saml/${id}/metadata` });
    expect(new URLSearchParams(requests.at(-1)).get('Action')).toBe('DescribeStacks');
  });

  it('names a stack that does not exist in one line, exit code 1', async () => {
    const run = await admin('tenants', 'list', '--stack', 'Sso-nope');
    expect(run).toMatchObject({ code: 1, stdout: '', stderr: 'error: stack Sso-nope could not be described: Stack with id Sso-nope does not exist\n' });
  });
});
