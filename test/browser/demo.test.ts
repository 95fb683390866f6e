import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium, screenshotDirectory } from '../support/browser';
import { startLocalServer, type LocalServer } from '../support/local-server';

/**
 * The first ten minutes, in a real browser: `npm start`'s server (bin/local.ts, its own DynamoDB
 * Local) driven by Debian's headless Chromium through playwright-core. Each test saves the
 * screenshots the README shows.
 */

const SHOTS = screenshotDirectory();

let server: LocalServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  server = await startLocalServer();
  browser = await launchChromium();
}, 150_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
}, 30_000);

beforeEach(async () => {
  context = await browser.newContext({ viewport: { width: 1000, height: 760 }, colorScheme: 'light' });
  page = await context.newPage();
});

afterEach(async () => {
  await context.close();
});

const shot = (name: string) => page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });

async function openDemo(): Promise<void> {
  await page.goto(`${server.baseUrl}/`);
  await page.locator('#status, #signed-in').first().waitFor();
  await page.waitForFunction(() => !document.getElementById('signed-in')!.hidden || !document.getElementById('signed-out')!.hidden);
}

async function choosePersona(name: string): Promise<void> {
  await page.getByRole('button', { name: new RegExp(`^${name}`) }).click();
}

async function expectSignedIn(who: { name: string; roles: string; via: RegExp }): Promise<void> {
  await page.waitForURL(`${server.baseUrl}/`);
  await page.locator('#signed-in').waitFor({ state: 'visible' });
  const table = page.locator('#who');
  expect(await table.locator('tr', { hasText: 'Name' }).locator('td').textContent()).toBe(who.name);
  expect(await table.locator('tr', { hasText: 'Roles' }).locator('td').textContent()).toBe(who.roles);
  expect(await table.locator('tr', { hasText: 'Tenant' }).locator('td').textContent()).toBe('demo');
  expect(await table.locator('tr', { hasText: 'Signed in with' }).locator('td').textContent()).toMatch(who.via);
  expect(await page.locator('#claims').textContent()).toContain('"tid": "demo"');
  expect(await page.locator('#log-out').isVisible()).toBe(true);
}

async function logOut(): Promise<void> {
  await page.locator('#log-out').click();
  await page.waitForURL(`${server.baseUrl}/`);
  await page.locator('#signed-out').waitFor({ state: 'visible' });
  expect(await page.locator('#log-out').isVisible()).toBe(false);
  const session = await page.evaluate(() => fetch('/session').then((r) => r.status));
  expect(session).toBe(401);
}

async function errorPage(): Promise<{ headline: string | null; code: string | null }> {
  await page.locator('[data-field="code"]').waitFor();
  return { headline: await page.locator('h1').textContent(), code: await page.locator('[data-field="code"]').textContent() };
}

describe('The demo in a browser', () => {
  it('signed out, offers SAML, OIDC and work-email sign-in and no Log out', async () => {
    await openDemo();
    expect(await page.locator('#signed-out').isVisible()).toBe(true);
    for (const id of ['#sign-in-saml', '#sign-in-oidc', '#sign-in-email']) expect(await page.locator(id).isVisible()).toBe(true);
    expect(await page.locator('#log-out').isVisible()).toBe(false);
    await shot('01-signed-out');
  });

  it('signs Ada in through the development SAML IdP as an admin, and logs her out', async () => {
    await openDemo();
    await page.locator('#sign-in-saml').click();
    await page.getByRole('heading', { name: 'Development SAML IdP' }).waitFor();
    await shot('02-saml-idp-personas');
    await choosePersona('Ada Lovelace');
    await expectSignedIn({ name: 'Ada Lovelace', roles: 'admin', via: /^SAML through demo-saml$/ });
    await shot('03-signed-in-saml');
    await logOut();
  });

  it('signs Grace in through the development OpenID Provider, which asks again after logout', async () => {
    await openDemo();
    await page.locator('#sign-in-oidc').click();
    await page.getByRole('heading', { name: 'Development OpenID Provider' }).waitFor();
    await shot('04-oidc-provider-personas');
    await choosePersona('Grace Hopper');
    await expectSignedIn({ name: 'Grace Hopper', roles: 'member', via: /^OIDC through demo-oidc$/ });
    await shot('05-signed-in-oidc');
    await logOut();
    await page.locator('#sign-in-oidc').click();
    // No silent re-login: the provider asks who you are again.
    await page.getByRole('heading', { name: 'Development OpenID Provider' }).waitFor();
    expect(page.url()).toContain('/interaction/');
  });

  it('links Ada through SAML and then OIDC to one user, not a 409', async () => {
    await openDemo();
    await page.locator('#sign-in-saml').click();
    await choosePersona('Ada Lovelace');
    await expectSignedIn({ name: 'Ada Lovelace', roles: 'admin', via: /SAML/ });
    const first = JSON.parse((await page.locator('#session-json').textContent())!) as { user: { id: string } };
    await logOut();
    await page.locator('#sign-in-oidc').click();
    await choosePersona('Ada Lovelace');
    await expectSignedIn({ name: 'Ada Lovelace', roles: 'admin', via: /OIDC/ });
    const second = JSON.parse((await page.locator('#session-json').textContent())!) as { user: { id: string } };
    expect(second.user.id).toBe(first.user.id);
  });

  it('finds the sign-in of a work email (home-realm discovery), and refuses an unknown domain with a page', async () => {
    await openDemo();
    await page.locator('input[name="email"]').fill('grace@demo.example');
    await page.locator('#sign-in-email').click();
    await page.getByRole('heading', { name: 'Development SAML IdP' }).waitFor();
    await choosePersona('Grace Hopper');
    await expectSignedIn({ name: 'Grace Hopper', roles: 'member', via: /^SAML through demo-saml$/ });
    await page.goto(`${server.baseUrl}/login`);
    await page.locator('input[type="email"]').fill('someone@unknown-company.example');
    await page.getByRole('button', { name: 'Continue' }).click();
    expect(await errorPage()).toEqual({ headline: 'We could not find where you sign in', code: 'unknown_domain' });
    await shot('06-error-unknown-domain');
    await page.getByRole('link', { name: 'Start again' }).click();
    await page.locator('input[type="email"]').waitFor();
    await shot('07-discovery-email-form');
  });

  it('refuses a persona outside the allowed domain with a page that says so and offers to start again', async () => {
    await openDemo();
    await page.locator('#sign-in-saml').click();
    await choosePersona('Mallory Outsider');
    expect(await errorPage()).toEqual({ headline: 'This email address may not sign in here', code: 'domain_not_allowed' });
    expect(await page.locator('[data-field="request-id"]').textContent()).toMatch(/^[0-9a-f-]{36}$/);
    await shot('08-error-domain-not-allowed');
    await page.getByRole('link', { name: 'Try signing in again' }).click();
    await page.getByRole('heading', { name: 'Development SAML IdP' }).waitFor();
  });

  it('refuses the deactivated persona', async () => {
    await openDemo();
    await page.locator('#sign-in-oidc').click();
    await choosePersona('Dee Activated');
    expect(await errorPage()).toEqual({ headline: 'Your account has been deactivated', code: 'user_deactivated' });
    await shot('09-error-user-deactivated');
  });

  it('refuses the persona without an email', async () => {
    await openDemo();
    await page.locator('#sign-in-saml').click();
    await choosePersona('Noah Email');
    expect(await errorPage()).toEqual({ headline: 'Your identity provider left out something we need', code: 'missing_required_attribute' });
  });

  it('tells a person who pressed Cancel at either provider that they cancelled', async () => {
    await openDemo();
    await page.locator('#sign-in-oidc').click();
    await page.getByRole('button', { name: 'Cancel' }).click();
    expect(await errorPage()).toEqual({ headline: 'You cancelled the sign-in', code: 'oidc_idp_error' });
    await shot('10-error-cancelled');
    await page.getByRole('link', { name: 'Back to the app' }).click();
    await page.locator('#signed-out').waitFor({ state: 'visible' });
    await page.locator('#sign-in-saml').click();
    await page.getByRole('button', { name: 'Cancel' }).click();
    expect(await errorPage()).toEqual({ headline: 'You cancelled the sign-in', code: 'saml_status_not_success' });
  });

  it('answers an unknown path in the browser with the error page', async () => {
    const response = await page.goto(`${server.baseUrl}/no/such/page`);
    expect(response?.status()).toBe(404);
    expect(await errorPage()).toEqual({ headline: 'There is nothing at this address', code: 'not_found' });
  });
});
