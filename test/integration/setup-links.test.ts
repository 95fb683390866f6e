import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAdmin } from '../../bin/admin';
import { localSecretStore } from '../../functions/core/admin/secrets';
import { startTestProvider } from '../support/oidc-provider';
import { createSetupLink, revokeSetupLink, setupTokenHash } from '../../functions/core/admin/setup-links';
import type { SamlConnection } from '../../functions/core/model';
import { createSamlHandler } from '../../functions/saml';
import { createSetupHandler } from '../../functions/setup';
import { issueSamlResponse } from '../../local/saml-idp';
import { createSamlConnection, idpCert, invoke, keys, problemCode, responseFor, testRuntime } from '../support/harness';

const IDP_ENTITY_ID = 'https://idp.example.test/metadata';
const metadataXml = (entityId = IDP_ENTITY_ID) =>
  `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="${entityId}"><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` +
  `<KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>${idpCert.replace(/-----[A-Z ]+-----|\s+/g, '')}</X509Certificate></X509Data></KeyInfo></KeyDescriptor>` +
  `<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.test/sso"/></IDPSSODescriptor></EntityDescriptor>`;

let now = new Date();
const runtime = await testRuntime({ now: () => now });
const secretsFile = join(mkdtempSync(join(tmpdir(), 'sso-setup-')), 'secrets.json');
const setup = createSetupHandler(runtime, { secretStore: localSecretStore(secretsFile) });
const saml = createSamlHandler(runtime);

async function newTenant(): Promise<string> {
  const id = `tenant-${randomUUID().slice(0, 8)}`;
  await runtime.store.putTenant({ id, name: `Acme ${id}` });
  return id;
}

async function newLink(tenantId?: string, lifetimeSeconds = 3600) {
  return createSetupLink(runtime, { tenantId: tenantId ?? (await newTenant()), protocol: 'saml', lifetimeSeconds, now });
}

const pathOf = (url: string) => new URL(url).pathname;

/** A browser on a link's pages: it keeps the CSRF cookie of the page it loaded. */
async function browserOn(url: string) {
  const page = await invoke(setup, { method: 'GET', url: `${pathOf(url)}/saml?idp=okta`, headers: { accept: 'text/html' } });
  expect(page.statusCode).toBe(200);
  const cookie = page.cookies!.find((c) => c.startsWith('sso_setup_csrf='))!.split(';')[0]!;
  const csrf = /name="csrf" value="([^"]+)"/.exec(String(page.body))![1]!;
  const postForm = (path: string, fields: Record<string, string>, options: { cookie?: string } = {}) =>
    invoke(setup, {
      method: 'POST',
      url: `${pathOf(url)}${path}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: options.cookie ?? cookie },
      body: new URLSearchParams(fields).toString(),
    });
  return { page, cookie, csrf, postForm };
}

describe('setup links', () => {
  it('stores only the SHA-256 of a 256-bit token, and opens the link with it', async () => {
    const link = await newLink();
    expect(Buffer.from(link.token, 'base64url')).toHaveLength(32);
    const stored = await runtime.store.findSetupLink(setupTokenHash(link.token));
    expect(stored).toMatchObject({ id: link.id, tenantId: link.tenantId });
    expect(JSON.stringify(stored)).not.toContain(link.token);
    const page = await invoke(setup, { method: 'GET', url: pathOf(link.url), headers: { accept: 'text/html' } });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Okta');
  });

  it('refuses an unknown token', async () => {
    const result = await invoke(setup, { method: 'GET', url: `/setup/${'A'.repeat(43)}` });
    expect(problemCode(result)).toBe('setup_link_unknown');
  });

  it('refuses a link once it has expired', async () => {
    const link = await newLink(undefined, 60);
    const before = await invoke(setup, { method: 'GET', url: pathOf(link.url) });
    expect(before.statusCode).toBe(200);
    const saved = now;
    now = new Date(now.getTime() + 61_000);
    try {
      expect(problemCode(await invoke(setup, { method: 'GET', url: pathOf(link.url) }))).toBe('setup_link_expired');
    } finally {
      now = saved;
    }
  });

  it('refuses a revoked link at once, on pages and on posts', async () => {
    const link = await newLink();
    const browser = await browserOn(link.url);
    await revokeSetupLink(runtime.store, link.id, now);
    expect(problemCode(await invoke(setup, { method: 'GET', url: `${pathOf(link.url)}/saml` }))).toBe('setup_link_revoked');
    const post = await browser.postForm('/saml', { csrf: browser.csrf, metadataXml: metadataXml() });
    expect(problemCode(post)).toBe('setup_link_revoked');
    expect(await runtime.store.getConnection(link.connectionId!)).toBeUndefined();
  });

  it('refuses a post without the form token, or with the token of another link', async () => {
    const link = await newLink();
    const other = await browserOn((await newLink()).url);
    const browser = await browserOn(link.url);
    expect(problemCode(await browser.postForm('/saml', { metadataXml: metadataXml() }))).toBe('csrf_mismatch');
    expect(problemCode(await browser.postForm('/saml', { csrf: other.csrf, metadataXml: metadataXml() }, { cookie: other.cookie }))).toBe('csrf_mismatch');
    expect(problemCode(await browser.postForm('/saml', { csrf: `${browser.csrf}x`, metadataXml: metadataXml() }))).toBe('csrf_mismatch');
    expect(await runtime.store.getConnection(link.connectionId!)).toBeUndefined();
    // The positive control: the page's own token is accepted.
    expect((await browser.postForm('/saml', { csrf: browser.csrf, metadataXml: metadataXml() })).statusCode).toBe(303);
  });

  it('refuses a body over the limit', async () => {
    const browser = await browserOn((await newLink()).url);
    const result = await browser.postForm('/saml', { csrf: browser.csrf, metadataXml: 'x'.repeat(runtime.config.maxBodyBytes + 1) });
    expect(problemCode(result)).toBe('payload_too_large');
  });

  it('answers each field with its own error, escaped', async () => {
    const link = await newLink();
    const browser = await browserOn(link.url);
    const url = await browser.postForm('/saml?idp=okta', { csrf: browser.csrf, metadataUrl: 'http://idp.example.test/<script>' });
    expect(url.statusCode).toBe(400);
    expect(url.body).toContain('data-error="metadataUrl"');
    expect(url.body).not.toContain('<script>');
    const xml = await browser.postForm('/saml?idp=okta', { csrf: browser.csrf, metadataXml: '<EntityDescriptor><x>' });
    expect(xml.statusCode).toBe(400);
    expect(xml.body).toContain('data-error="metadataXml"');
    expect(await runtime.store.getConnection(link.connectionId!)).toBeUndefined();
  });

  it('creates the connection disabled, tests it without creating a user, and activates it only after a passed test', async () => {
    const link = await newLink();
    const browser = await browserOn(link.url);
    expect((await browser.postForm('/saml?idp=okta', { csrf: browser.csrf, metadataXml: metadataXml() })).statusCode).toBe(303);
    const connection = (await runtime.store.getConnection(link.connectionId!)) as SamlConnection;
    expect(connection).toMatchObject({ tenantId: link.tenantId, enabled: false, idpEntityId: IDP_ENTITY_ID });

    expect(problemCode(await browser.postForm('/saml/activate', { csrf: browser.csrf }))).toBe('setup_not_tested');

    const start = await invoke(setup, { method: 'GET', url: `${pathOf(link.url)}/saml/test` });
    expect(start.statusCode).toBe(302);
    const requestId = /sso_saml_request=([^;]+)/.exec(start.cookies!.join('\n'))![1]!;
    const returnCookie = /sso_setup_return=([^;]+)/.exec(start.cookies!.join('\n'))![1]!;
    const email = `admin-${randomUUID().slice(0, 6)}@example.test`;
    const response = await issueSamlResponse(responseFor(connection, runtime, { nameId: email, inResponseTo: requestId }));
    const acs = await invoke(saml, {
      method: 'POST',
      url: `/saml/${connection.id}/acs`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `sso_saml_request=${requestId}; sso_setup_return=${returnCookie}` },
      body: new URLSearchParams({ SAMLResponse: response }).toString(),
    });
    expect(acs.statusCode).toBe(303);
    expect(acs.headers?.location).toContain(pathOf(link.url));
    expect(acs.cookies?.some((c) => c.startsWith('sso_session='))).toBe(false);
    expect(await runtime.store.findUserByEmail(link.tenantId, email)).toBeUndefined();
    const tested = await runtime.store.findSetupLink(setupTokenHash(link.token));
    expect(tested?.test).toMatchObject({ outcome: 'create', email, roles: ['member'] });

    // The same response cannot be posted again: its test request is consumed, and the disabled
    // connection takes no real login.
    const again = await invoke(saml, {
      method: 'POST',
      url: `/saml/${connection.id}/acs`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `sso_saml_request=${requestId}` },
      body: new URLSearchParams({ SAMLResponse: response }).toString(),
    });
    expect(problemCode(again)).toBe('unknown_connection');

    const page = await invoke(setup, { method: 'GET', url: `${pathOf(link.url)}/saml?idp=okta`, headers: { accept: 'text/html', cookie: browser.cookie } });
    expect(page.body).toContain('Test passed');
    expect(page.body).toContain(email);

    expect((await browser.postForm('/saml/activate', { csrf: browser.csrf })).statusCode).toBe(303);
    expect(await runtime.store.getConnection(connection.id)).toMatchObject({ enabled: true });
    const types = runtime.events.published.filter((e) => e.tenantId === link.tenantId).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['setup_link.used', 'connection.activated']));
    expect(runtime.events.published.find((e) => e.tenantId === link.tenantId && e.type === 'connection.activated')?.detail).toMatchObject({ setupLinkId: link.id });
  });

  it('refuses activation after a refused test, and after the metadata changed since a passed one', async () => {
    const link = await newLink();
    const browser = await browserOn(link.url);
    await browser.postForm('/saml', { csrf: browser.csrf, metadataXml: metadataXml() });
    const passed = { at: now.toISOString(), outcome: 'create', subject: 's', roles: ['member'], attributes: {} };
    await runtime.store.updateSetupLink(setupTokenHash(link.token), { test: { ...passed, outcome: 'refused', refusal: { code: 'domain_not_allowed' } } });
    expect(problemCode(await browser.postForm('/saml/activate', { csrf: browser.csrf }))).toBe('setup_not_tested');
    await runtime.store.updateSetupLink(setupTokenHash(link.token), { test: passed });
    await browser.postForm('/saml', { csrf: browser.csrf, metadataXml: metadataXml() });
    expect(problemCode(await browser.postForm('/saml/activate', { csrf: browser.csrf }))).toBe('setup_not_tested');
    expect(await runtime.store.getConnection(link.connectionId!)).toMatchObject({ enabled: false });
    // The positive control: a passed test since the last change activates.
    await runtime.store.updateSetupLink(setupTokenHash(link.token), { test: passed });
    expect((await browser.postForm('/saml/activate', { csrf: browser.csrf })).statusCode).toBe(303);
  });

  it('refuses the answer to a test login whose link was revoked meanwhile, creating nothing', async () => {
    const link = await newLink();
    const browser = await browserOn(link.url);
    await browser.postForm('/saml', { csrf: browser.csrf, metadataXml: metadataXml() });
    const connection = (await runtime.store.getConnection(link.connectionId!)) as SamlConnection;
    const start = await invoke(setup, { method: 'GET', url: `${pathOf(link.url)}/saml/test` });
    const requestId = /sso_saml_request=([^;]+)/.exec(start.cookies!.join('\n'))![1]!;
    await revokeSetupLink(runtime.store, link.id, now);
    const response = await issueSamlResponse(responseFor(connection, runtime, { inResponseTo: requestId }));
    const acs = await invoke(saml, {
      method: 'POST',
      url: `/saml/${connection.id}/acs`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `sso_saml_request=${requestId}` },
      body: new URLSearchParams({ SAMLResponse: response }).toString(),
    });
    expect(problemCode(acs)).toBe('setup_link_revoked');
  });

  it('refuses a test request that names a connection of another tenant than its link', async () => {
    const link = await newLink();
    const other = await createSamlConnection(runtime, { enabled: false });
    const requestId = `_${randomUUID()}`;
    await runtime.store.recordAuthnRequest(other.id, requestId, new Date(now.getTime() + 60_000), { purpose: 'setup-test', setupLinkHash: setupTokenHash(link.token) });
    const response = await issueSamlResponse(responseFor(other, runtime, { inResponseTo: requestId }));
    const acs = await invoke(saml, {
      method: 'POST',
      url: `/saml/${other.id}/acs`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `sso_saml_request=${requestId}` },
      body: new URLSearchParams({ SAMLResponse: response }).toString(),
    });
    expect(problemCode(acs)).toBe('unknown_connection');
    expect((await runtime.store.findSetupLink(setupTokenHash(link.token)))?.test).toBeUndefined();
  });

  it('verifies a test login response completely: one signed by another key is refused', async () => {
    const link = await newLink();
    const browser = await browserOn(link.url);
    await browser.postForm('/saml', { csrf: browser.csrf, metadataXml: metadataXml() });
    const connection = (await runtime.store.getConnection(link.connectionId!)) as SamlConnection;
    const start = await invoke(setup, { method: 'GET', url: `${pathOf(link.url)}/saml/test` });
    const requestId = /sso_saml_request=([^;]+)/.exec(start.cookies!.join('\n'))![1]!;
    const forged = await issueSamlResponse(responseFor(connection, runtime, { inResponseTo: requestId, signingKey: keys.read('attacker.key.pem'), signingCert: keys.read('attacker.cert.pem') }));
    const acs = await invoke(saml, {
      method: 'POST',
      url: `/saml/${connection.id}/acs`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `sso_saml_request=${requestId}` },
      body: new URLSearchParams({ SAMLResponse: forged }).toString(),
    });
    expect(problemCode(acs)).toBe('saml_invalid_signature');
    expect((await runtime.store.findSetupLink(setupTokenHash(link.token)))?.test).toBeUndefined();
  });

  it('keeps a disabled connection closed to real logins while it is being set up', async () => {
    const link = await newLink();
    const browser = await browserOn(link.url);
    await browser.postForm('/saml', { csrf: browser.csrf, metadataXml: metadataXml() });
    const login = await invoke(saml, { method: 'GET', url: `/saml/${link.connectionId}/login` });
    expect(problemCode(login)).toBe('unknown_connection');
  });

  it('never lets a test request complete a real login', async () => {
    const connection = await createSamlConnection(runtime);
    const requestId = `_${randomUUID()}`;
    await runtime.store.recordAuthnRequest(connection.id, requestId, new Date(now.getTime() + 60_000), { purpose: 'setup-test', setupLinkHash: 'x' });
    await expect(
      runtime.store.consumeAssertion({ connectionId: connection.id, issuer: IDP_ENTITY_ID, assertionId: `_${randomUUID()}`, replayableUntil: new Date(now.getTime() + 60_000), inResponseTo: requestId, now }),
    ).rejects.toMatchObject({ code: 'saml_in_response_to_mismatch' });
  });

  it('cannot touch a connection of another tenant', async () => {
    const link = await newLink();
    const other = await createSamlConnection(runtime, { id: link.connectionId!, idpEntityId: 'https://other.example.test/metadata' });
    const browser = await invoke(setup, { method: 'GET', url: `${pathOf(link.url)}/saml` });
    expect(problemCode(browser)).toBe('setup_link_forbidden');
    expect(await runtime.store.getConnection(other.id)).toEqual(other);
  });

  it('serves SCIM only to a SCIM link, and issues its token once', async () => {
    const samlLink = await newLink();
    expect(problemCode(await invoke(setup, { method: 'GET', url: `${pathOf(samlLink.url)}/scim` }))).toBe('setup_link_forbidden');
    const tenantId = await newTenant();
    const link = await createSetupLink(runtime, { tenantId, protocol: 'scim', lifetimeSeconds: 600, now });
    const page = await invoke(setup, { method: 'GET', url: `${pathOf(link.url)}/scim`, headers: { accept: 'text/html' } });
    const cookie = page.cookies!.find((c) => c.startsWith('sso_setup_csrf='))!.split(';')[0]!;
    const csrf = /name="csrf" value="([^"]+)"/.exec(String(page.body))![1]!;
    const issued = await invoke(setup, { method: 'POST', url: `${pathOf(link.url)}/scim/token`, headers: { 'content-type': 'application/x-www-form-urlencoded', cookie }, body: `csrf=${encodeURIComponent(csrf)}` });
    expect(issued.statusCode).toBe(200);
    expect(issued.body).toMatch(/scim_[A-Za-z0-9_-]{43}/);
    expect(await runtime.store.listScimTokens(tenantId)).toHaveLength(1);
  });
});

describe('setup-links in the admin CLI', () => {
  async function admin(...argv: string[]) {
    let stdout = '';
    let stderr = '';
    const code = await runAdmin(argv, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) }, env: process.env });
    return { code, stdout, stderr };
  }

  it('creates a link printed once, lists it without its URL, and revokes it', async () => {
    const tenantId = await newTenant();
    const created = await admin('setup-links', 'create', '--tenant', tenantId, '--expires', '2d', '--json');
    expect(created.code).toBe(0);
    const link = JSON.parse(created.stdout) as { id: string; url: string; status: string };
    expect(link).toMatchObject({ status: 'active' });
    expect(link.url).toMatch(/\/setup\/[A-Za-z0-9_-]{43}$/);
    const listed = await admin('setup-links', 'list', '--tenant', tenantId, '--json');
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ id: link.id, status: 'active' })]);
    expect(listed.stdout).not.toContain(link.url.split('/setup/')[1]);
    expect((await admin('setup-links', 'revoke', '--id', link.id)).code).toBe(0);
    expect(problemCode(await invoke(setup, { method: 'GET', url: pathOf(link.url) }))).toBe('setup_link_revoked');
  });

  it('refuses a lifetime over 30 days or a protocol it does not know, as bad input', async () => {
    const tenantId = await newTenant();
    expect((await admin('setup-links', 'create', '--tenant', tenantId, '--expires', '31d')).code).toBe(2);
    expect((await admin('setup-links', 'create', '--tenant', tenantId, '--protocol', 'ldap')).code).toBe(2);
    expect((await admin('setup-links', 'create', '--tenant', 'no-such-tenant')).code).toBe(1);
  });
});

describe('an OIDC setup link', () => {
  it('saves the provider disabled, keeps the client secret in the secret store only, and never shows it', async () => {
    const op = await startTestProvider({ clients: [{ client_id: 'acme-app', client_secret: 'op-secret', redirect_uris: ['https://sso.test/cb'] }] });
    try {
      const tenantId = await newTenant();
      const link = await createSetupLink(runtime, { tenantId, protocol: 'oidc', lifetimeSeconds: 600, now });
      const page = await invoke(setup, { method: 'GET', url: `${pathOf(link.url)}/oidc?idp=other-oidc`, headers: { accept: 'text/html' } });
      expect(page.body).toContain(`/oidc/${link.connectionId}/callback`);
      const cookie = page.cookies!.find((c) => c.startsWith('sso_setup_csrf='))!.split(';')[0]!;
      const csrf = /name="csrf" value="([^"]+)"/.exec(String(page.body))![1]!;
      const secret = `secret-${randomUUID()}`;
      const postOidc = (fields: Record<string, string>) =>
        invoke(setup, { method: 'POST', url: `${pathOf(link.url)}/oidc`, headers: { 'content-type': 'application/x-www-form-urlencoded', cookie }, body: new URLSearchParams({ csrf, ...fields }).toString() });

      const plainHttp = await postOidc({ issuer: 'http://op.example.test', clientId: 'acme-app', clientSecret: secret });
      expect(plainHttp.statusCode).toBe(400);
      expect(plainHttp.body).toContain('data-error="issuer"');
      expect(plainHttp.body).not.toContain(secret);

      expect((await postOidc({ issuer: op.issuer, clientId: 'acme-app', clientSecret: secret })).statusCode).toBe(303);
      const connection = await runtime.store.getConnection(link.connectionId!);
      expect(connection).toMatchObject({ protocol: 'oidc', tenantId, enabled: false, issuer: op.issuer, clientId: 'acme-app' });
      expect(JSON.stringify(connection)).not.toContain(secret);
      expect(readFileSync(secretsFile, 'utf8')).toContain(secret);
      const again = await invoke(setup, { method: 'GET', url: `${pathOf(link.url)}/oidc`, headers: { accept: 'text/html', cookie } });
      expect(again.body).not.toContain(secret);
      expect(runtime.events.published.some((e) => e.type === 'setup_link.used' && e.detail?.setupLinkId === link.id)).toBe(true);
    } finally {
      await op.stop();
    }
  });
});
