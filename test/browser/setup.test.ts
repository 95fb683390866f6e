import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium, screenshotDirectory } from '../support/browser';
import { runAdmin } from '../../bin/admin';
import { setupTokenHash } from '../../functions/core/admin/setup-links';
import { createDocumentClient, createStore } from '../../functions/core/store/store';
import { startLocalServer, type LocalServer } from '../support/local-server';

/**
 * A customer's IT admin on a setup link, in a real browser: `npm start`'s server driven by
 * Debian's headless Chromium. The SaaS company makes the link with the admin CLI; the admin
 * connects the development SAML IdP from its metadata, tests, activates, and a user signs in.
 * Screenshots go to docs/screenshots/setup-*.png only with UPDATE_SCREENSHOTS=1.
 */

const SHOTS = screenshotDirectory();

let server: LocalServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let env: Record<string, string>;

beforeAll(async () => {
  server = await startLocalServer();
  const { endpoint } = JSON.parse(readFileSync(join(server.dataDir, 'dynamodb-endpoint.json'), 'utf8')) as { endpoint: string };
  env = {
    TABLE_NAME: 'sso-local',
    DYNAMODB_ENDPOINT: endpoint,
    PUBLIC_BASE_URL: server.baseUrl,
    SESSION_AUDIENCE: server.baseUrl,
    LOCAL_SIGNING_KEY_FILE: join(server.dataDir, 'signing-key.json'),
    LOCAL_SECRETS_FILE: join(server.dataDir, 'secrets.json'),
  };
  browser = await launchChromium();
}, 150_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
}, 30_000);

beforeEach(async () => {
  context = await browser.newContext({ viewport: { width: 1000, height: 900 }, colorScheme: 'light' });
  page = await context.newPage();
});

afterEach(async () => {
  await context.close();
});

const shot = (name: string) => page.screenshot({ path: `${SHOTS}setup-${name}.png`, fullPage: true });

/** The admin CLI, in-process, against the local server's DynamoDB Local. */
async function admin(...argv: string[]): Promise<string> {
  let stdout = '';
  let stderr = '';
  const code = await runAdmin(argv, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) }, env: { ...process.env, ...env } });
  if (code !== 0) throw new Error(`admin ${argv.join(' ')} exited ${code}: ${stderr}`);
  return stdout;
}

async function newLink(tenantId: string): Promise<{ id: string; url: string; connectionId: string }> {
  await admin('tenants', 'add', '--id', tenantId, '--name', `${tenantId} Inc.`);
  return JSON.parse(await admin('setup-links', 'create', '--tenant', tenantId, '--protocol', 'saml', '--expires', '1d', '--json')) as { id: string; url: string; connectionId: string };
}

async function errorCode(): Promise<string | null> {
  await page.locator('[data-field="code"]').waitFor();
  return page.locator('[data-field="code"]').textContent();
}

describe('A setup link in a browser', () => {
  it('lets an IT admin connect the dev SAML IdP from its metadata, test it, activate it; then a user signs in', async () => {
    const link = await newLink('acme');
    await page.goto(link.url);
    await page.getByRole('heading', { name: 'Connect your identity provider' }).waitFor();
    await shot('1-pick-idp');
    await page.locator('a[data-idp="other-saml"]').click();
    await page.locator('#acs-url').waitFor();
    expect(await page.locator('#acs-url').textContent()).toBe(`${server.baseUrl}/saml/${link.connectionId}/acs`);
    expect(await page.locator('#entity-id').textContent()).toBe(`${server.baseUrl}/saml/${link.connectionId}/metadata`);
    await page.locator('button[data-copy="acs-url"]').click();
    expect(await page.locator('button[data-copy="acs-url"]').textContent()).toBe('Copied');
    // The page's CSP allows it no fetch: download the SP metadata as the admin's browser would, by its link.
    const download = page.waitForEvent('download');
    await page.locator('#sp-metadata').click();
    const spMetadata = readFileSync((await (await download).path())!, 'utf8');
    expect(spMetadata).toContain('AssertionConsumerService');

    // Upload the dev IdP's metadata file, as the admin would after downloading it.
    const metadata = await (await fetch(`${server.baseUrl}/dev/saml-idp/metadata`)).text();
    await page.locator('#metadataFile').setInputFiles({ name: 'idp-metadata.xml', mimeType: 'application/xml', buffer: Buffer.from(metadata) });
    await page.waitForFunction(() => (document.getElementById('metadataXml') as HTMLTextAreaElement).value.includes('EntityDescriptor'));
    await shot('2-values-and-metadata');
    await page.locator('#save').click();
    await page.locator('[data-field="idp-entity-id"]').waitFor();
    expect(await page.locator('[data-field="status"]').textContent()).toContain('not active');

    await page.locator('#test').click();
    await page.getByRole('heading', { name: 'Development SAML IdP' }).waitFor();
    await page.getByRole('button', { name: /^Ada Lovelace/ }).click();
    await page.locator('#test-result').waitFor();
    expect(await page.locator('#test-result').getAttribute('data-outcome')).toBe('create');
    expect(await page.locator('#test-result').textContent()).toContain('ada@demo.example');
    await shot('3-tested');
    // The test created nobody: the tenant still has no user.
    expect(JSON.parse(await admin('users', 'list', '--tenant', 'acme', '--json'))).toEqual([]);

    await page.locator('#activate').click();
    await page.locator('[data-field="status"]', { hasText: 'Active' }).waitFor();
    await shot('4-active');

    await page.goto(`${server.baseUrl}/saml/${link.connectionId}/login`);
    await page.getByRole('button', { name: /^Ada Lovelace/ }).click();
    await page.waitForURL(`${server.baseUrl}/`);
    await page.goto(`${server.baseUrl}/session`);
    const session = JSON.parse((await page.locator('body').textContent())!) as { user: { tenantId: string; email: string }; session: { connectionId: string } };
    expect(session).toMatchObject({ user: { tenantId: 'acme', email: 'ada@demo.example' }, session: { connectionId: link.connectionId } });
  });

  it('takes the metadata by URL and says what is wrong with a URL it refuses', async () => {
    const link = await newLink('globex');
    await page.goto(`${link.url}/saml?idp=okta`);
    await page.locator('#metadataUrl').fill('http://idp.example.com/metadata');
    await page.locator('#save').click();
    await page.locator('[data-error="metadataUrl"]').waitFor();
    expect(await page.locator('[data-error="metadataUrl"]').textContent()).toContain('https');
    await shot('5-field-error');
    await page.locator('#metadataUrl').fill(`${server.baseUrl}/dev/saml-idp/metadata`);
    await page.locator('#save').click();
    await page.locator('[data-field="idp-entity-id"]').waitFor();
    expect(await page.locator('[data-field="idp-entity-id"]').textContent()).toBe(`${server.baseUrl}/dev/saml-idp`);
  });

  it('refuses a revoked link', async () => {
    const link = await newLink('initech');
    await admin('setup-links', 'revoke', '--id', link.id);
    await page.goto(link.url);
    expect(await errorCode()).toBe('setup_link_revoked');
    await shot('6-revoked');
  });

  it('refuses an expired link', async () => {
    await admin('tenants', 'add', '--id', 'umbrella', '--name', 'Umbrella');
    const store = createStore({ tableName: env.TABLE_NAME!, client: createDocumentClient({ endpoint: env.DYNAMODB_ENDPOINT! }) });
    const token = 'e'.repeat(43);
    await store.putSetupLink({ id: 'expired-link', tenantId: 'umbrella', protocol: 'saml', hash: setupTokenHash(token), connectionId: 'umbrella-saml-expired', createdAt: '2026-01-01T00:00:00.000Z', validUntil: '2026-01-02T00:00:00.000Z' });
    await page.goto(`${server.baseUrl}/setup/${token}`);
    expect(await errorCode()).toBe('setup_link_expired');
  });
});
