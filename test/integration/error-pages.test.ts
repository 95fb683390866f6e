import { randomUUID } from 'node:crypto';
import { createOidcHandler } from '../../functions/oidc';
import { createSamlHandler } from '../../functions/saml';
import { issueSamlResponse } from '../../local/saml-idp';
import { createSamlConnection, invoke, oidcConnection, postAcs, responseFor, testRuntime } from '../support/harness';

/** The HTML a person sees when a browser meets a refusal, through the real handlers. */

const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const STATUS = 'urn:oasis:names:tc:SAML:2.0:status:';

function browserAcs(handler: ReturnType<typeof createSamlHandler>, connectionId: string, samlResponse: string) {
  return invoke(handler, {
    method: 'POST',
    url: `/saml/${connectionId}/acs`,
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: BROWSER },
    body: new URLSearchParams({ SAMLResponse: samlResponse }).toString(),
  });
}

async function oidcSetUp() {
  const runtime = await testRuntime();
  const tenantId = `tenant-${randomUUID()}`;
  await runtime.store.putTenant({ id: tenantId, name: 'Pages' });
  const connection = oidcConnection({ id: `oidc-${randomUUID()}`, tenantId, issuer: 'https://op.example.test', clientId: 'c', clientSecretName: 's' });
  await runtime.store.putConnection(connection);
  return { runtime, connection, handler: createOidcHandler(runtime) };
}

const text = (html: string | undefined) => String(html).replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');

describe('Error pages', () => {
  it('shows a browser what happened, a start-again link to the failed login, the code, request id and time', async () => {
    const runtime = await testRuntime();
    const connection = await createSamlConnection(runtime);
    const before = Date.now();
    const result = await browserAcs(createSamlHandler(runtime), connection.id, await issueSamlResponse(responseFor(connection, runtime)));
    expect(result.statusCode).toBe(401);
    expect(result.headers?.['content-type']).toBe('text/html; charset=utf-8');
    expect(result.body).toContain('<style>');
    expect(result.body).toContain(`href="/saml/${connection.id}/login"`);
    expect(result.body).toContain('href="https://app.test"');
    expect(result.body).toContain('<span data-field="code"><code>saml_unsolicited</code></span>');
    expect(result.body).toMatch(/<span data-field="request-id"><code>[0-9a-f-]{36}<\/code><\/span>/);
    const at = /<span data-field="time"><code>([^<]+)<\/code>/.exec(String(result.body))?.[1];
    expect(new Date(at!).getTime()).toBeGreaterThanOrEqual(before - 1000);
  });

  it('keeps problem+json for a client that does not ask for HTML', async () => {
    const runtime = await testRuntime();
    const connection = await createSamlConnection(runtime);
    const result = await postAcs(createSamlHandler(runtime), connection.id, await issueSamlResponse(responseFor(connection, runtime)));
    expect(result.headers?.['content-type']).toBe('application/problem+json');
    expect(result.json()).toEqual({ type: 'urn:sso:error:saml_unsolicited', title: 'Sign-in must start at this application', status: 401, code: 'saml_unsolicited', detail: expect.any(String) });
  });

  it('tells a person who pressed Cancel at the OpenID Provider that they cancelled', async () => {
    const { connection, handler } = await oidcSetUp();
    const result = await invoke(handler, { method: 'GET', url: `/oidc/${connection.id}/callback?error=access_denied&error_description=End-User+aborted+interaction&state=s`, headers: { accept: BROWSER } });
    expect(result.statusCode).toBe(401);
    expect(text(result.body)).toContain('You cancelled the sign-in');
    expect(result.body).toContain('<span data-field="code"><code>oidc_idp_error</code></span>');
    expect(result.body).toContain(`href="/oidc/${connection.id}/login"`);
  });

  it('does not call another provider error a cancel', async () => {
    const { connection, handler } = await oidcSetUp();
    const result = await invoke(handler, { method: 'GET', url: `/oidc/${connection.id}/callback?error=server_error&state=s`, headers: { accept: BROWSER } });
    expect(text(result.body)).not.toContain('cancelled');
    expect(text(result.body)).toContain('Your identity provider did not sign you in');
  });

  it('tells a person who cancelled at the SAML IdP (Responder/AuthnFailed) that they cancelled, and not for Responder alone', async () => {
    const runtime = await testRuntime();
    const connection = await createSamlConnection(runtime);
    const handler = createSamlHandler(runtime);
    const cancelled = await browserAcs(handler, connection.id, await issueSamlResponse(responseFor(connection, runtime, { status: `${STATUS}Responder`, subStatus: `${STATUS}AuthnFailed`, statusMessage: 'The user cancelled', sign: 'response' })));
    expect(text(cancelled.body)).toContain('You cancelled the sign-in');
    expect(cancelled.body).toContain('<span data-field="code"><code>saml_status_not_success</code></span>');
    const denied = await browserAcs(handler, connection.id, await issueSamlResponse(responseFor(connection, runtime, { status: `${STATUS}Responder`, sign: 'response' })));
    expect(text(denied.body)).not.toContain('cancelled');
  });

  it('escapes what the request reflects into the page', async () => {
    const { connection, handler } = await oidcSetUp();
    const evil = '<img src=x onerror=alert(1)>"\'&';
    const result = await invoke(handler, { method: 'GET', url: `/oidc/${connection.id}/callback?error=server_error&error_description=${encodeURIComponent(evil)}&state=s`, headers: { accept: BROWSER } });
    expect(result.body).not.toContain('<img');
    expect(result.body).toContain('&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;');
    expect(result.headers?.['content-security-policy']).toContain("default-src 'none'");
  });

  it('escapes return_to in the start-again link', async () => {
    const runtime = await testRuntime();
    const connection = await createSamlConnection(runtime);
    const result = await invoke(createSamlHandler(runtime), { method: 'GET', url: `/saml/${connection.id}/login?return_to=${encodeURIComponent('https://evil.example/"><script>x</script>')}`, headers: { accept: BROWSER } });
    expect(result.statusCode).toBe(400);
    expect(result.body).not.toContain('<script>x');
    expect(result.body).toContain(`href="/saml/${connection.id}/login?return_to=https%3A%2F%2Fevil.example%2F%22%3E%3Cscript%3Ex%3C%2Fscript%3E"`);
  });

  it('explains email_in_use: another sign-in method owns the email, and how an admin allows linking', async () => {
    const runtime = await testRuntime();
    const first = await createSamlConnection(runtime, { allowIdpInitiated: true });
    const second = await createSamlConnection(runtime, { tenantId: first.tenantId, allowIdpInitiated: true });
    const email = `ada-${randomUUID()}@example.test`;
    expect((await postAcs(createSamlHandler(runtime), first.id, await issueSamlResponse(responseFor(first, runtime, { nameId: email })))).statusCode).toBe(303);
    const result = await browserAcs(createSamlHandler(runtime), second.id, await issueSamlResponse(responseFor(second, runtime, { nameId: email })));
    expect(result.statusCode).toBe(409);
    const words = text(result.body);
    expect(words).toContain('Another sign-in method already owns this email address');
    expect(words).toContain('linkByEmail');
    expect(words).toContain('allowedEmailDomains');
  });

  it('offers no start-again link into a connection that is gone', async () => {
    const runtime = await testRuntime();
    const result = await invoke(createSamlHandler(runtime), { method: 'GET', url: `/saml/nope-${randomUUID()}/login`, headers: { accept: BROWSER } });
    expect(result.body).toContain('<span data-field="code"><code>unknown_connection</code></span>');
    expect(result.body).not.toContain('/login"');
  });
});
