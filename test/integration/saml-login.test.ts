import { inflateRawSync } from 'node:zlib';
import { createSamlHandler } from '../../functions/saml';
import { createSessionHandler } from '../../functions/session';
import { issueSamlResponse } from '../../local/saml-idp';
import { createSamlConnection, invoke, postAcs, problemCode, responseFor, sessionTokenOf, testRuntime } from '../support/harness';

describe('SAML login end to end', () => {
  it('starts at /login, completes at the ACS, and the session answers GET /session', async () => {
    const runtime = await testRuntime();
    const connection = await createSamlConnection(runtime);
    const saml = createSamlHandler(runtime);
    const sessions = createSessionHandler(runtime);

    const login = await invoke(saml, { method: 'GET', url: `/saml/${connection.id}/login?return_to=${encodeURIComponent('https://app.example.test/home')}` });
    expect(login.statusCode).toBe(302);
    const location = new URL(String(login.headers?.location));
    expect(location.origin + location.pathname).toBe(connection.idpSsoUrl);
    expect(location.searchParams.get('RelayState')).toBe('https://app.example.test/home');
    const request = inflateRawSync(Buffer.from(location.searchParams.get('SAMLRequest')!, 'base64')).toString('utf8');
    const requestId = /ID="([^"]+)"/.exec(request)![1]!;
    expect(request).toContain(`AssertionConsumerServiceURL="https://sso.test/saml/${connection.id}/acs"`);

    const response = await issueSamlResponse(
      responseFor(connection, runtime, { inResponseTo: requestId, nameId: 'Ada@Example.test', attributes: { firstName: ['Ada'], lastName: ['Lovelace'] } }),
    );
    const acs = await postAcs(saml, connection.id, response, location.searchParams.get('RelayState')!, { requestId });
    expect(acs.statusCode).toBe(303);
    expect(acs.headers?.location).toBe('https://app.example.test/home');
    expect(acs.cookies?.[0]).toMatch(/^sso_session=[^;]+; HttpOnly; Secure; SameSite=Lax; Path=\/; Max-Age=\d+$/);

    const me = await invoke(sessions, { method: 'GET', url: '/session', headers: { cookie: `sso_session=${sessionTokenOf(acs)}` } });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({
      user: { email: 'ada@example.test', name: 'Ada Lovelace', roles: ['member'], tenantId: connection.tenantId },
      session: { connectionId: connection.id, amr: ['saml'] },
    });

    const again = await issueSamlResponse(responseFor(connection, runtime, { inResponseTo: requestId, nameId: 'ada@example.test' }));
    // Even from the browser that still holds the cookie, the request is answered once only.
    const reused = await postAcs(saml, connection.id, again, undefined, { requestId });
    expect(reused.statusCode).toBe(401);
    expect(problemCode(reused)).toBe('saml_in_response_to_mismatch');
  });

  it('serves SP metadata naming the entity id and the ACS URL', async () => {
    const runtime = await testRuntime();
    const connection = await createSamlConnection(runtime);
    const metadata = await invoke(createSamlHandler(runtime), { method: 'GET', url: `/saml/${connection.id}/metadata` });
    expect(metadata.statusCode).toBe(200);
    expect(metadata.body).toContain(`entityID="https://sso.test/saml/${connection.id}/metadata"`);
    expect(metadata.body).toContain(`Location="https://sso.test/saml/${connection.id}/acs"`);
  });
});

describe('audit', () => {
  it('logs and stores an event for a created user, a login, and a refusal with its code', async () => {
    const lines: Record<string, unknown>[] = [];
    const runtime = await testRuntime({ log: (entry) => lines.push({ ...entry }) });
    const connection = await createSamlConnection(runtime, { allowIdpInitiated: true });
    const saml = createSamlHandler(runtime);
    const response = await issueSamlResponse(responseFor(connection, runtime));
    expect((await postAcs(saml, connection.id, response)).statusCode).toBe(303);
    expect((await postAcs(saml, connection.id, response)).statusCode).toBe(401);

    expect(lines.map((l) => [l.type, l.code])).toEqual([
      ['user.created', undefined],
      ['login.succeeded', undefined],
      ['login.refused', 'saml_replay'],
    ]);
    expect(lines.every((l) => l.tenantId === connection.tenantId && l.message === 'audit')).toBe(true);
    expect(JSON.stringify(lines)).not.toContain(response.slice(0, 40));
  });
});
