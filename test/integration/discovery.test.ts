import { randomUUID } from 'node:crypto';
import { normalizeDomain } from '../../functions/core/discovery';
import { isAppError } from '../../functions/core/errors';
import { createSessionHandler } from '../../functions/session';
import { createSamlConnection, invoke, oidcConnection, problemCode, testRuntime } from '../support/harness';

/** Home-realm discovery through the real session handler on DynamoDB Local. */

type Runtime = Awaited<ReturnType<typeof testRuntime>>;

const uniqueDomain = () => `d${randomUUID().slice(0, 12)}.example.test`;

async function tenantWithDomain(runtime: Runtime, options: { enabled?: boolean } = {}) {
  const connection = await createSamlConnection(runtime, { enabled: options.enabled ?? true });
  const domain = uniqueDomain();
  await runtime.store.claimDomain({ domain, tenantId: connection.tenantId, claimedAt: new Date().toISOString() });
  return { connection, domain };
}

function discover(runtime: Runtime, query: string, accept = 'application/json') {
  return invoke(createSessionHandler(runtime), { method: 'GET', url: `/login${query}`, headers: { accept } });
}

describe('GET /login: home-realm discovery', () => {
  it("sends an email of a claimed domain to its tenant's connection, passing return_to on", async () => {
    const runtime = await testRuntime();
    const { connection, domain } = await tenantWithDomain(runtime);
    const result = await discover(runtime, `?email=${encodeURIComponent(`Ada@${domain.toUpperCase()}`)}&return_to=${encodeURIComponent('https://app.example.test/x')}`);
    expect(result.statusCode).toBe(302);
    expect(result.headers?.location).toBe(`https://sso.test/saml/${connection.id}/login?return_to=${encodeURIComponent('https://app.example.test/x')}`);
  });

  it('refuses a domain nobody claimed with unknown_domain', async () => {
    const runtime = await testRuntime();
    const result = await discover(runtime, `?email=ada@${uniqueDomain()}`);
    expect([result.statusCode, problemCode(result)]).toEqual([404, 'unknown_domain']);
  });

  it('answers a claimed domain whose tenant has no enabled connection exactly as an unknown one', async () => {
    const runtime = await testRuntime();
    const { domain } = await tenantWithDomain(runtime, { enabled: false });
    const claimed = await discover(runtime, `?email=ada@${domain}`);
    const unknown = await discover(runtime, `?email=ada@${uniqueDomain()}`);
    expect([claimed.statusCode, problemCode(claimed)]).toEqual([404, 'unknown_domain']);
    expect(claimed.body).toBe(unknown.body);
  });

  it('refuses a tenant with several enabled connections and no default, and uses the default once named', async () => {
    const runtime = await testRuntime();
    const { connection, domain } = await tenantWithDomain(runtime);
    const second = await createSamlConnection(runtime, { tenantId: connection.tenantId });
    const ambiguous = await discover(runtime, `?email=ada@${domain}`);
    expect(problemCode(ambiguous)).toBe('unknown_domain');
    await runtime.store.setDefaultConnection(connection.tenantId, second.id);
    const chosen = await discover(runtime, `?email=ada@${domain}`);
    expect(chosen.headers?.location).toBe(`https://sso.test/saml/${second.id}/login`);
  });

  it('falls back to the one enabled connection when the default is disabled', async () => {
    const runtime = await testRuntime();
    const { connection, domain } = await tenantWithDomain(runtime);
    const disabled = await createSamlConnection(runtime, { tenantId: connection.tenantId, enabled: false });
    await runtime.store.setDefaultConnection(connection.tenantId, disabled.id);
    expect((await discover(runtime, `?email=ada@${domain}`)).headers?.location).toBe(`https://sso.test/saml/${connection.id}/login`);
  });

  it('sends to an OIDC connection through its own login route', async () => {
    const runtime = await testRuntime();
    const tenantId = `tenant-${randomUUID()}`;
    await runtime.store.putTenant({ id: tenantId, name: 'OIDC tenant' });
    const connection = oidcConnection({ id: `oidc-${randomUUID()}`, tenantId, issuer: 'https://op.example.test', clientId: 'c', clientSecretName: 's' });
    await runtime.store.putConnection(connection);
    const domain = uniqueDomain();
    await runtime.store.claimDomain({ domain, tenantId, claimedAt: new Date().toISOString() });
    expect((await discover(runtime, `?email=ada@${domain}`)).headers?.location).toBe(`https://sso.test/oidc/${connection.id}/login`);
  });

  it('matches an internationalized domain in either spelling, as IDNA ASCII', async () => {
    const runtime = await testRuntime();
    const connection = await createSamlConnection(runtime);
    const label = `b\u00fccher${randomUUID().slice(0, 6)}`;
    const domain = normalizeDomain(`${label}.example.test`);
    expect(domain).toMatch(/^xn--/);
    await runtime.store.claimDomain({ domain, tenantId: connection.tenantId, claimedAt: new Date().toISOString() });
    for (const email of [`ada@${label.toUpperCase()}.example.test`, `ada@${domain}`]) {
      expect((await discover(runtime, `?email=${encodeURIComponent(email)}`)).headers?.location).toBe(`https://sso.test/saml/${connection.id}/login`);
    }
  });

  it('refuses an email that is not one with invalid_request', async () => {
    const runtime = await testRuntime();
    for (const email of ['ada', 'ada@', '@example.com', 'ada@localhost', 'ada@exa mple.com']) {
      const result = await discover(runtime, `?email=${encodeURIComponent(email)}`);
      expect([email, problemCode(result)]).toEqual([email, 'invalid_request']);
    }
  });

  it('answers a browser without email with the one-field form, and a non-browser with invalid_request', async () => {
    const runtime = await testRuntime();
    const page = await discover(runtime, `?return_to=${encodeURIComponent('"><script>alert(1)</script>')}`, 'text/html,application/xhtml+xml');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<input type="email"');
    expect(page.body).not.toContain('<script>alert(1)');
    expect(page.body).toContain('&quot;&gt;&lt;script&gt;');
    const api = await discover(runtime, '');
    expect([api.statusCode, problemCode(api)]).toEqual([400, 'invalid_request']);
  });
});

describe('Domain claims in the store', () => {
  it('refuses a second tenant claiming a domain, whatever order the claims race in', async () => {
    const runtime = await testRuntime();
    const domain = uniqueDomain();
    const tenants = Array.from({ length: 8 }, () => `tenant-${randomUUID()}`);
    for (const id of tenants) await runtime.store.putTenant({ id, name: id });
    const outcomes = await Promise.allSettled(tenants.map((tenantId) => runtime.store.claimDomain({ domain, tenantId, claimedAt: new Date().toISOString() })));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect(outcomes.filter((o) => o.status === 'rejected').every((o) => isAppError((o as PromiseRejectedResult).reason, 'domain_in_use'))).toBe(true);
    const owner = await runtime.store.getDomain(domain);
    expect(tenants).toContain(owner?.tenantId);
  });

  it("lets the owner claim its domain again, and only the owner release it", async () => {
    const runtime = await testRuntime();
    const { connection, domain } = await tenantWithDomain(runtime);
    await expect(runtime.store.claimDomain({ domain, tenantId: connection.tenantId, claimedAt: new Date().toISOString() })).resolves.toBeUndefined();
    await expect(runtime.store.releaseDomain(domain, 'someone-else')).rejects.toMatchObject({ code: 'not_found' });
    expect((await runtime.store.getDomain(domain))?.tenantId).toBe(connection.tenantId);
    await runtime.store.releaseDomain(domain, connection.tenantId);
    expect(await runtime.store.getDomain(domain)).toBeUndefined();
  });
});
