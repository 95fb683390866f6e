import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, SignJWT } from 'jose';
import { runAdmin } from '../../bin/admin';
import { localSecretStore } from '../../functions/core/admin/secrets';
import { startTestProvider, type TestAccount, type TestProvider } from '../support/oidc-provider';
import { createSetupLink, newCsrfToken, revokeSetupLink, setupTokenHash } from '../../functions/core/admin/setup-links';
import type { OidcConnection, SamlConnection } from '../../functions/core/model';
import { completeOidcLogin } from '../../functions/core/oidc/login';
import { completeOidcSetupTest } from '../../functions/core/oidc/setup-test';
import { createLocalFileSecrets } from '../../functions/core/secrets';
import { createOidcHandler } from '../../functions/oidc';
import { ROUTES, routeKey, routeThrottle } from '../../functions/routes';
import { createSamlHandler } from '../../functions/saml';
import { createSetupHandler } from '../../functions/setup';
import { issueSamlResponse } from '../../local/saml-idp';
import { createSamlConnection, idpCert, invoke, keys, oidcConnection, problemCode, responseFor, testRuntime } from '../support/harness';

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
    const returnCookie = /sso_setup_return=([^;]+)/.exec(start.cookies!.join('\n'))![1]!;
    await revokeSetupLink(runtime.store, link.id, now);
    const response = await issueSamlResponse(responseFor(connection, runtime, { inResponseTo: requestId }));
    const acs = await invoke(saml, {
      method: 'POST',
      url: `/saml/${connection.id}/acs`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `sso_saml_request=${requestId}; sso_setup_return=${returnCookie}` },
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
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `sso_saml_request=${requestId}; sso_setup_return=${link.token}` },
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
    const returnCookie = /sso_setup_return=([^;]+)/.exec(start.cookies!.join('\n'))![1]!;
    const forged = await issueSamlResponse(responseFor(connection, runtime, { inResponseTo: requestId, signingKey: keys.read('attacker.key.pem'), signingCert: keys.read('attacker.cert.pem') }));
    const acs = await invoke(saml, {
      method: 'POST',
      url: `/saml/${connection.id}/acs`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `sso_saml_request=${requestId}; sso_setup_return=${returnCookie}` },
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

  it("lists the file's tenants' setup links in apply's plan, never their URLs, and warns before --prune removes a link's connection", async () => {
    const tenantId = await newTenant();
    const kept = await newLink(tenantId);
    const revoked = await createSetupLink(runtime, { tenantId, protocol: 'oidc', lifetimeSeconds: 600, now });
    await revokeSetupLink(runtime.store, revoked.id, now);
    const browser = await browserOn(kept.url);
    await browser.postForm('/saml', { csrf: browser.csrf, metadataXml: metadataXml() });
    const file = join(mkdtempSync(join(tmpdir(), 'sso-setup-apply-')), 'sso.json');
    writeFileSync(file, JSON.stringify({ tenants: [{ id: tenantId, name: `Acme ${tenantId}` }], connections: [] }));

    const json = await admin('apply', '--file', file, '--dry-run', '--json');
    expect(json.code).toBe(0);
    const plan = JSON.parse(json.stdout) as { setupLinks: Record<string, unknown>[] };
    expect(plan.setupLinks).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: kept.id, tenantId, protocol: 'saml', status: 'active', validUntil: kept.validUntil, connectionId: kept.connectionId }),
        expect.objectContaining({ id: revoked.id, tenantId, protocol: 'oidc', status: 'revoked' }),
      ]),
    );
    expect(plan.setupLinks).toHaveLength(2);
    const text = await admin('apply', '--file', file, '--dry-run');
    expect(text.stdout).toMatch(new RegExp(`${tenantId}\\s+${kept.id}\\s+saml\\s+active`));
    for (const shown of [json.stdout, text.stdout]) {
      for (const secret of [kept.token, revoked.token, setupTokenHash(kept.token), setupTokenHash(revoked.token)]) expect(shown).not.toContain(secret);
    }

    const prune = await admin('apply', '--file', file, '--dry-run', '--prune');
    expect(prune.stderr).toContain(`connection ${kept.connectionId}: made through setup link ${kept.id}`);
    expect(await runtime.store.getConnection(kept.connectionId!)).toBeDefined();
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

describe("an OIDC setup link's test login, through a real OpenID Provider", () => {
  const CLIENT_ID = 'acme-oidc-app';
  const CLIENT_SECRET = `op-secret-${randomUUID()}`;
  // The callback reads the client secret the setup page stored, from the same secrets file.
  const oidcRuntime = { ...runtime, secrets: createLocalFileSecrets(secretsFile) };
  const oidc = createOidcHandler(oidcRuntime);
  /** The provider needs each redirect URI up front, so the links (and their connection ids) are made first. */
  const links: Awaited<ReturnType<typeof createSetupLink>>[] = [];
  let op: TestProvider;

  beforeAll(async () => {
    for (let i = 0; i < 10; i++) links.push(await createSetupLink(runtime, { tenantId: await newTenant(), protocol: 'oidc', lifetimeSeconds: 3600, now }));
    op = await startTestProvider({
      clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: links.map((link) => `${runtime.config.publicBaseUrl}/oidc/${link.connectionId}/callback`) }],
    });
  });
  afterAll(() => op.stop());
  // ID tokens carry the real time: the service's clock must not lag behind it.
  beforeEach(() => {
    now = new Date();
  });

  const person = (overrides: Partial<TestAccount> = {}): TestAccount => {
    const sub = `admin-${randomUUID().slice(0, 8)}`;
    return { sub, email: `${sub}@example.test`, email_verified: true, name: 'Ada Admin', ...overrides };
  };

  /** The next link, with the provider saved through its page by the IT admin's browser (its CSRF cookie and form token). */
  async function savedLink() {
    const link = links.shift()!;
    const page = await invoke(setup, { method: 'GET', url: `${pathOf(link.url)}/oidc?idp=okta-oidc`, headers: { accept: 'text/html' } });
    const cookie = page.cookies!.find((c) => c.startsWith('sso_setup_csrf='))!.split(';')[0]!;
    const csrf = /name="csrf" value="([^"]+)"/.exec(String(page.body))![1]!;
    const post = (path: string, fields: Record<string, string> = {}) =>
      invoke(setup, { method: 'POST', url: `${pathOf(link.url)}${path}`, headers: { 'content-type': 'application/x-www-form-urlencoded', cookie }, body: new URLSearchParams({ csrf, ...fields }).toString() });
    expect((await post('/oidc?idp=okta-oidc', { issuer: op.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET })).statusCode).toBe(303);
    return { link, cookie, post, connectionId: link.connectionId! };
  }

  /** "Test the connection", then the provider's login as `who`: the URL it redirects back to, and the cookies the browser brings. */
  async function testLogin(link: { url: string }, who: TestAccount) {
    op.signInAs(who);
    const start = await invoke(setup, { method: 'GET', url: `${pathOf(link.url)}/oidc/test` });
    expect(start.statusCode).toBe(302);
    const authorization = new URL(String(start.headers?.location));
    const cookie = start.cookies!.map((c) => c.split(';')[0]).join('; ');
    return { start, authorization, cookie, callback: await op.authorize(authorization.href) };
  }

  const callback = (url: URL, cookie: string) => invoke(oidc, { method: 'GET', url: url.pathname + url.search, headers: { cookie } });
  const storedLink = (link: { token: string }) => runtime.store.findSetupLink(setupTokenHash(link.token));
  const tenantEvents = (tenantId: string) => runtime.events.published.filter((e) => e.tenantId === tenantId);

  it('signs in at the provider, shows the evaluation without creating a user or a session, and activates only then', async () => {
    const { link, cookie, post, connectionId } = await savedLink();
    expect(problemCode(await post('/oidc/activate'))).toBe('setup_not_tested');

    const who = person({ groups: ['engineering'] });
    const { start, authorization, cookie: browser, callback: redirect } = await testLogin(link, who);
    expect(Object.fromEntries(authorization.searchParams)).toMatchObject({ response_type: 'code', client_id: CLIENT_ID, code_challenge_method: 'S256', redirect_uri: `${runtime.config.publicBaseUrl}/oidc/${connectionId}/callback` });
    expect(authorization.searchParams.get('state')).toBeTruthy();
    expect(authorization.searchParams.get('nonce')).toBeTruthy();
    for (const name of ['sso_oidc_state', 'sso_setup_return']) {
      expect(start.cookies!.find((c) => c.startsWith(`${name}=`))).toMatch(new RegExp(`HttpOnly.*Path=/oidc/${connectionId}/callback`));
    }

    const answer = await callback(redirect, browser);
    expect(answer.statusCode).toBe(303);
    expect(answer.headers?.location).toBe(`${link.url}/oidc?idp=okta-oidc`);
    expect(answer.cookies?.some((c) => c.startsWith('sso_session='))).toBe(false);
    expect(await runtime.store.findUserByEmail(link.tenantId, who.email!)).toBeUndefined();
    expect(await runtime.store.findUserByLink({ connectionId, subject: who.sub })).toBeUndefined();
    expect(tenantEvents(link.tenantId).some((e) => e.type === 'user.created' || e.type === 'login.succeeded')).toBe(false);
    expect((await storedLink(link))?.test).toMatchObject({ outcome: 'create', subject: who.sub, email: who.email, name: 'Ada Admin', roles: ['member'] });

    // The state is spent: the same answer again reaches no test, and the disabled connection takes no login.
    expect(problemCode(await callback(redirect, browser))).toBe('unknown_connection');

    const page = await invoke(setup, { method: 'GET', url: `${pathOf(link.url)}/oidc?idp=okta-oidc`, headers: { accept: 'text/html', cookie } });
    expect(page.body).toContain('Test passed');
    expect(page.body).toContain(who.email);
    expect(page.body).toContain('id="activate"');

    expect((await post('/oidc/activate?idp=okta-oidc')).statusCode).toBe(303);
    expect(await runtime.store.getConnection(connectionId)).toMatchObject({ enabled: true });
    const used = tenantEvents(link.tenantId).filter((e) => e.type === 'setup_link.used').map((e) => e.detail?.action);
    expect(used).toEqual(expect.arrayContaining(['oidc.created', 'connection.test_started', 'connection.tested', 'connection.activated']));
    expect(tenantEvents(link.tenantId).find((e) => e.type === 'connection.activated')).toMatchObject({ connectionId, detail: { setupLinkId: link.id } });

    // Once active, a real login through the same provider signs the person in.
    op.signInAs(who);
    const login = await invoke(oidc, { method: 'GET', url: `/oidc/${connectionId}/login` });
    const signedIn = await callback(await op.authorize(String(login.headers?.location)), String(login.cookies?.[0]).split(';')[0]!);
    expect(signedIn.statusCode).toBe(303);
    expect(signedIn.cookies?.some((c) => c.startsWith('sso_session='))).toBe(true);
    expect(await runtime.store.findUserByLink({ connectionId, subject: who.sub })).toMatchObject({ email: who.email });
  });

  it('shows a refused test with its reason in words, and refuses activation after it', async () => {
    const { link, cookie, post, connectionId } = await savedLink();
    const connection = (await runtime.store.getConnection(connectionId)) as OidcConnection;
    await runtime.store.putConnection({ ...connection, allowedEmailDomains: ['acme.example'] });
    const { callback: redirect, cookie: browser } = await testLogin(link, person());
    expect((await callback(redirect, browser)).statusCode).toBe(303);
    expect((await storedLink(link))?.test).toMatchObject({ outcome: 'refused', refusal: { code: 'domain_not_allowed', detail: 'example.test is not one of this organization\'s email domains' } });
    const page = await invoke(setup, { method: 'GET', url: `${pathOf(link.url)}/oidc`, headers: { accept: 'text/html', cookie } });
    expect(page.body).toContain('Test failed');
    expect(page.body).toContain('data-field="refusal-code">domain_not_allowed');
    expect(page.body).not.toContain('id="activate"');
    expect(problemCode(await post('/oidc/activate'))).toBe('setup_not_tested');
    expect(await runtime.store.getConnection(connectionId)).toMatchObject({ enabled: false });
  });

  it("never lets a test's state complete a real login, nor a login's state a test", async () => {
    const { link, connectionId } = await savedLink();
    // Enabled, so that only the state's purpose stands between a test and a login.
    await runtime.store.putConnection({ ...(await runtime.store.getConnection(connectionId))!, enabled: true });

    const test = await testLogin(link, person());
    const testState = test.authorization.searchParams.get('state')!;
    await expect(completeOidcLogin(oidcRuntime, connectionId, test.callback, testState)).rejects.toMatchObject({ code: 'oidc_state_mismatch' });
    // The refused attempt left the test's state alone: the test itself still completes.
    expect((await callback(test.callback, test.cookie)).statusCode).toBe(303);
    expect((await storedLink(link))?.test?.outcome).toBe('create');

    const who = person();
    op.signInAs(who);
    const login = await invoke(oidc, { method: 'GET', url: `/oidc/${connectionId}/login` });
    const loginState = new URL(String(login.headers?.location)).searchParams.get('state')!;
    const loginCallback = await op.authorize(String(login.headers?.location));
    await expect(completeOidcSetupTest(oidcRuntime, connectionId, loginCallback, loginState)).resolves.toBeUndefined();
    await expect(runtime.store.consumePendingLogin(loginState, connectionId, now, 'setup-test')).rejects.toMatchObject({ code: 'oidc_state_mismatch' });
    const signedIn = await callback(loginCallback, `sso_oidc_state=${loginState}`);
    expect(signedIn.cookies?.some((c) => c.startsWith('sso_session='))).toBe(true);
  });

  it("cannot test or activate another tenant's connection, nor end a test at one", async () => {
    const link = links.shift()!;
    const theirs = oidcConnection({ id: link.connectionId!, tenantId: await newTenant(), issuer: op.issuer, clientId: CLIENT_ID, clientSecretName: 'theirs' }, { enabled: false });
    await runtime.store.putConnection(theirs);
    const stored = (await storedLink(link))!;
    await runtime.store.updateSetupLink(stored.hash, { test: { at: now.toISOString(), outcome: 'create', subject: 's', roles: [], attributes: {} } });
    expect(problemCode(await invoke(setup, { method: 'GET', url: `${pathOf(link.url)}/oidc/test` }))).toBe('setup_link_forbidden');
    const csrf = newCsrfToken(stored);
    const activate = await invoke(setup, { method: 'POST', url: `${pathOf(link.url)}/oidc/activate`, headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `sso_setup_csrf=${csrf}` }, body: `csrf=${encodeURIComponent(csrf)}` });
    expect(problemCode(activate)).toBe('setup_link_forbidden');
    expect(await runtime.store.getConnection(theirs.id)).toEqual(theirs);

    // A test state of this link recorded against a connection of another tenant ends nowhere.
    const mine = await savedLink();
    const other = oidcConnection({ id: `oidc-${randomUUID()}`, tenantId: await newTenant(), issuer: op.issuer, clientId: CLIENT_ID, clientSecretName: 'other' }, { enabled: false });
    await runtime.store.putConnection(other);
    const state = randomUUID().replace(/-/g, '');
    await runtime.store.recordPendingLogin({ state, connectionId: other.id, nonce: 'n', codeVerifier: 'v', returnTo: '', expiresAt: Math.floor(now.getTime() / 1000) + 600, purpose: 'setup-test', setupLinkHash: setupTokenHash(mine.link.token) });
    const answer = await invoke(oidc, { method: 'GET', url: `/oidc/${other.id}/callback?code=c&state=${state}`, headers: { cookie: `sso_oidc_state=${state}` } });
    expect(problemCode(answer)).toBe('unknown_connection');
    expect((await storedLink(mine.link))?.test).toBeUndefined();

    // And a SAML link has no OIDC test.
    expect(problemCode(await invoke(setup, { method: 'GET', url: `${pathOf((await newLink()).url)}/oidc/test` }))).toBe('setup_link_forbidden');
  });

  it('verifies a test completely: an ID token signed by another key is refused, and nothing is recorded', async () => {
    const { link } = await savedLink();
    const who = person();
    const { authorization, callback: redirect, cookie } = await testLogin(link, who);
    const { privateKey } = await generateKeyPair('RS256');
    const iat = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({ iss: op.issuer, aud: CLIENT_ID, sub: who.sub, email: who.email, nonce: authorization.searchParams.get('nonce')!, iat, exp: iat + 300 })
      .setProtectedHeader({ alg: 'RS256', kid: op.currentKid() })
      .sign(privateKey);
    op.replaceNextIdToken(forged);
    try {
      expect(problemCode(await callback(redirect, cookie))).toBe('oidc_invalid_id_token');
    } finally {
      op.replaceNextIdToken(undefined);
    }
    expect((await storedLink(link))?.test).toBeUndefined();
  });

  it('refuses a test started in another browser, and one whose link was revoked meanwhile', async () => {
    const { link } = await savedLink();
    const first = await testLogin(link, person());
    const setupCookie = first.cookie.split('; ').find((c) => c.startsWith('sso_setup_return='))!;
    // Another browser that started a test of its own: its state is not this one.
    expect(problemCode(await callback(first.callback, `sso_oidc_state=someone-elses-state; ${setupCookie}`))).toBe('oidc_state_mismatch');
    // A browser that started no test goes the login way, where a test's state is never taken (and the connection is not active yet).
    expect(problemCode(await callback(first.callback, 'sso_oidc_state=someone-elses-state'))).toBe('unknown_connection');

    const second = await testLogin(link, person());
    await revokeSetupLink(runtime.store, link.id, now);
    expect(problemCode(await callback(second.callback, second.cookie))).toBe('setup_link_revoked');
    expect((await storedLink(link))?.test).toBeUndefined();
  });

  it('throttles the SAML and OIDC test logins as the login routes are', () => {
    const login = ROUTES.find((route) => routeKey(route) === 'GET /oidc/{connectionId}/login')!;
    for (const key of ['GET /setup/{token}/saml/test', 'GET /setup/{token}/oidc/test']) {
      const route = ROUTES.find((r) => routeKey(r) === key);
      expect({ key, group: route?.group, throttle: route && routeThrottle(route) }).toEqual({ key, group: 'setup', throttle: routeThrottle(login) });
    }
    expect(routeThrottle(login)).toBe('signIn');
  });
});
