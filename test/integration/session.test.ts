import { createSamlHandler } from '../../functions/saml';
import { createSessionHandler } from '../../functions/session';
import { issueSamlResponse } from '../../local/saml-idp';
import type { Context } from 'aws-lambda';
import { adaptRequest } from '../../local/api-gateway-event';
import { createSamlConnection, invoke, postAcs, problemCode, responseFor, sessionTokenOf, testRuntime } from '../support/harness';

async function signedIn(audience?: string) {
  const runtime = await testRuntime(audience ? { audience } : {});
  const connection = await createSamlConnection(runtime, { allowIdpInitiated: true });
  const result = await postAcs(createSamlHandler(runtime), connection.id, await issueSamlResponse(responseFor(connection, runtime)));
  return { runtime, connection, token: sessionTokenOf(result) };
}

function getSession(runtime: Awaited<ReturnType<typeof testRuntime>>, headers: Record<string, string>) {
  return invoke(createSessionHandler(runtime), { method: 'GET', url: '/session', headers });
}

describe('GET /session and logout', () => {
  it('accepts a fresh token from the cookie or the Authorization header', async () => {
    const { runtime, token } = await signedIn();
    expect((await getSession(runtime, { cookie: `sso_session=${token}` })).statusCode).toBe(200);
    expect((await getSession(runtime, { authorization: `Bearer ${token}` })).statusCode).toBe(200);
  });

  it('refuses a request without a token', async () => {
    const { runtime } = await signedIn();
    const result = await getSession(runtime, {});
    expect([result.statusCode, problemCode(result)]).toEqual([401, 'unauthenticated']);
  });

  it('refuses a tampered token', async () => {
    const { runtime, token } = await signedIn();
    const [header, payload, signature] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, roles: ['admin'] })).toString('base64url');
    const result = await getSession(runtime, { authorization: `Bearer ${header}.${forged}.${signature}` });
    expect([result.statusCode, problemCode(result)]).toEqual([401, 'unauthenticated']);
  });

  it('refuses an expired token', async () => {
    const { runtime, token } = await signedIn();
    const later = { ...runtime, clock: () => new Date(Date.now() + (runtime.config.sessionTtlSeconds + 60) * 1000) };
    const result = await getSession(later, { authorization: `Bearer ${token}` });
    expect([result.statusCode, problemCode(result)]).toEqual([401, 'unauthenticated']);
  });

  it('refuses a token minted for another audience', async () => {
    const { token } = await signedIn('https://other-app.example.test');
    const runtime = await testRuntime();
    const result = await getSession(runtime, { authorization: `Bearer ${token}` });
    expect([result.statusCode, problemCode(result)]).toEqual([401, 'unauthenticated']);
  });

  it('refuses a logged-out token at once, and logout answers 204 or 303 to an allowed return_to', async () => {
    const { runtime, token } = await signedIn();
    const sessions = createSessionHandler(runtime);
    const logout = await invoke(sessions, { method: 'POST', url: '/session/logout', headers: { cookie: `sso_session=${token}` } });
    expect(logout.statusCode).toBe(204);
    expect(logout.cookies?.[0]).toMatch(/^sso_session=; .*Max-Age=0$/);
    const result = await getSession(runtime, { authorization: `Bearer ${token}` });
    expect([result.statusCode, problemCode(result)]).toEqual([401, 'session_revoked']);

    const second = await signedIn();
    const back = await invoke(createSessionHandler(second.runtime), {
      method: 'POST',
      url: `/session/logout?return_to=${encodeURIComponent('https://app.example.test/bye')}`,
      headers: { authorization: `Bearer ${second.token}` },
    });
    expect([back.statusCode, back.headers?.location]).toEqual([303, 'https://app.example.test/bye']);
  });

  it('answers a logout with a token that is not ours 204 and clears the cookie', async () => {
    const runtime = await testRuntime();
    const result = await invoke(createSessionHandler(runtime), { method: 'POST', url: '/session/logout', headers: { cookie: 'sso_session=not-a-token' } });
    expect(result.statusCode).toBe(204);
    expect(result.cookies?.[0]).toMatch(/^sso_session=; .*Max-Age=0$/);
  });

  it('publishes the signing key in the JWKS with its kid', async () => {
    const { runtime, token } = await signedIn();
    const jwks = await invoke(createSessionHandler(runtime), { method: 'GET', url: '/.well-known/jwks.json' });
    const kid = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid as string;
    expect(jwks.json()).toEqual({ keys: [expect.objectContaining({ kid, alg: 'ES256', kty: 'EC', crv: 'P-256' })] });
    expect(JSON.stringify(jwks.json())).not.toContain('"d"');
  });

  it('answers /health', async () => {
    const runtime = await testRuntime();
    const health = await invoke(createSessionHandler(runtime), { method: 'GET', url: '/health' });
    expect([health.statusCode, health.json()]).toEqual([200, { status: 'ok' }]);
  });
});

describe('discovery and the $default route', () => {
  it('serves an OpenID configuration whose issuer is the session issuer and whose jwks_uri serves the signing keys', async () => {
    const { runtime, token } = await signedIn();
    const handler = createSessionHandler(runtime);
    const discovery = await invoke(handler, { method: 'GET', url: '/.well-known/openid-configuration' });
    expect(discovery.statusCode).toBe(200);
    const document = discovery.json();
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { iss: string };
    expect(document.issuer).toBe(claims.iss);
    expect(document.jwks_uri).toBe(`${runtime.config.publicBaseUrl}/.well-known/jwks.json`);
    const jwks = await invoke(handler, { method: 'GET', url: new URL(String(document.jwks_uri)).pathname });
    expect(jwks.json()).toEqual({ keys: await runtime.signer.publicJwks() });
  });

  it('answers a request that matches no route with the contract\'s not_found problem, never API Gateway\'s body', async () => {
    const runtime = await testRuntime();
    for (const request of [{ method: 'GET', url: '/admin' }, { method: 'DELETE', url: '/session' }, { method: 'GET', url: '/saml/x/acs' }]) {
      const { event } = adaptRequest(request, { defaultRoute: true });
      expect(event?.routeKey).toBe('$default');
      const result = await createSessionHandler(runtime)(event as never, { awsRequestId: 'test' } as Context);
      expect(result.statusCode).toBe(404);
      expect(result.headers?.['content-type']).toBe('application/problem+json');
      expect(problemCode(result)).toBe('not_found');
    }
  });
});
