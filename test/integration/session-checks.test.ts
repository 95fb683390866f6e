import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { SamlConnection, User } from '../../functions/core/model';
import { mintSession } from '../../functions/core/sessions';
import { signSessionToken, type SessionClaims } from '../../functions/core/session-token';
import { sessionContext } from '../../functions/core/sign-in';
import { createSamlHandler } from '../../functions/saml';
import { createSessionHandler } from '../../functions/session';
import { issueSamlResponse } from '../../local/saml-idp';
import { createSamlConnection, invoke, postAcs, problemCode, responseFor, sessionTokenOf, testRuntime } from '../support/harness';

type Runtime = Awaited<ReturnType<typeof testRuntime>>;

const refusal = (result: APIGatewayProxyStructuredResultV2) => ({ status: result.statusCode, code: problemCode(result) });
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as SessionClaims;

async function logIn(runtime: Runtime, connection: SamlConnection, attributes: Record<string, string[]> = {}) {
  const subject = `s-${randomUUID()}`;
  const result = await postAcs(
    createSamlHandler(runtime),
    connection.id,
    await issueSamlResponse(responseFor(connection, runtime, { nameId: subject, nameIdFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent', attributes })),
  );
  const token = sessionTokenOf(result);
  const user = (await runtime.store.findUserByLink({ connectionId: connection.id, subject }))!;
  return { token, user };
}

async function signedIn(attributes: Record<string, string[]> = {}) {
  const runtime = await testRuntime();
  const connection = await createSamlConnection(runtime, { allowIdpInitiated: true });
  return { runtime, connection, ...(await logIn(runtime, connection, attributes)) };
}

const getSession = (runtime: Runtime, token: string) => invoke(createSessionHandler(runtime), { method: 'GET', url: '/session', headers: { authorization: `Bearer ${token}` } });

function logout(runtime: Runtime, headers: Record<string, string>, returnTo?: string) {
  const query = returnTo === undefined ? '' : `?return_to=${encodeURIComponent(returnTo)}`;
  return invoke(createSessionHandler(runtime), { method: 'POST', url: `/session/logout${query}`, headers });
}

const CLEARED = /^sso_session=; .*Max-Age=0$/;

describe('GET /session', () => {
  it('answers the user and the session of a fresh token', async () => {
    const { runtime, connection, token, user } = await signedIn({ email: ['ada@example.test'], displayName: ['Ada'] });
    const claims = claimsOf(token);
    expect(claims).toMatchObject({ sub: user.id, tid: connection.tenantId, idp: connection.id, amr: ['saml'], email: 'ada@example.test', name: 'Ada', roles: ['member'] });
    expect(claims.exp - claims.iat).toBe(runtime.config.sessionTtlSeconds);
    const result = await getSession(runtime, token);
    expect(result.statusCode).toBe(200);
    expect(result.json()).toEqual({
      user: { id: user.id, tenantId: connection.tenantId, email: 'ada@example.test', name: 'Ada', roles: ['member'], attributes: {} },
      session: { id: claims.sid, connectionId: connection.id, amr: ['saml'], createdAt: expect.any(String), expiresAt: new Date(claims.exp * 1000).toISOString() },
    });
  });

  it('refuses an oversized token before parsing it, even one validly signed for a live session', async () => {
    const { runtime, connection, user } = await signedIn();
    const context = sessionContext(runtime, runtime.clock());
    // The token's size follows the name it carries: find the longest name that still fits in 8192.
    const tokenFor = async (name: string) => (await mintSession(context, { ...user, name } as User, connection)).token;
    const base = claimsOf(await tokenFor('x'));
    const lengthWith = async (n: number) => (await signSessionToken({ ...base, name: 'x'.repeat(n) }, runtime.signer)).length;
    let [low, high] = [1, 8192];
    while (low < high) {
      const mid = Math.ceil((low + high) / 2);
      if ((await lengthWith(mid)) <= 8192) low = mid;
      else high = mid - 1;
    }
    const token = await tokenFor('x'.repeat(low));
    const oversized = await tokenFor('x'.repeat(low + 1));
    expect(oversized.length).toBeGreaterThan(8192);
    expect(token.length).toBeGreaterThan(8188);
    expect((await getSession(runtime, token)).statusCode).toBe(200);
    expect(refusal(await getSession(runtime, oversized))).toEqual({ status: 401, code: 'unauthenticated' });
    expect(refusal(await getSession(runtime, 'a'.repeat(200_000)))).toEqual({ status: 401, code: 'unauthenticated' });
    const cookie = await invoke(createSessionHandler(runtime), { method: 'GET', url: '/session', headers: { cookie: `sso_session=${oversized}` } });
    expect(refusal(cookie)).toEqual({ status: 401, code: 'unauthenticated' });
  });

  it('refuses a validly signed token whose session does not exist with unauthenticated', async () => {
    const { runtime, token } = await signedIn();
    const forged = await signSessionToken({ ...claimsOf(token), sid: randomUUID() }, runtime.signer);
    expect(refusal(await getSession(runtime, forged))).toEqual({ status: 401, code: 'unauthenticated' });
  });

  it("refuses a validly signed token naming another user's session with unauthenticated", async () => {
    const { runtime, connection, token } = await signedIn();
    const other = await logIn(runtime, connection);
    expect((await getSession(runtime, other.token)).statusCode).toBe(200);
    const forged = await signSessionToken({ ...claimsOf(token), sid: claimsOf(other.token).sid }, runtime.signer);
    expect(refusal(await getSession(runtime, forged))).toEqual({ status: 401, code: 'unauthenticated' });
  });

  it('refuses the token of a deactivated user with session_revoked', async () => {
    const { runtime, token, user } = await signedIn();
    expect((await getSession(runtime, token)).statusCode).toBe(200);
    await runtime.store.deactivateUser(user.id, new Date());
    expect(refusal(await getSession(runtime, token))).toEqual({ status: 401, code: 'session_revoked' });
  });

  it('refuses the token of a session whose user no longer exists with session_revoked', async () => {
    const { runtime, connection, token } = await signedIn();
    const ghost = randomUUID();
    const sid = randomUUID();
    const now = runtime.clock();
    await runtime.store.putSession({ id: sid, userId: ghost, tenantId: connection.tenantId, connectionId: connection.id, amr: 'saml', createdAt: now.toISOString(), expiresAt: claimsOf(token).exp });
    const forged = await signSessionToken({ ...claimsOf(token), sub: ghost, sid }, runtime.signer);
    expect(refusal(await getSession(runtime, forged))).toEqual({ status: 401, code: 'session_revoked' });
  });
});

describe('return_to with credentials in the URL', () => {
  const targets = ['https://evil@app.example.test/', 'https://:pw@app.example.test/', 'https://evil:pw@app.example.test/dash'];

  it('is refused at the SAML login start with forbidden_return_to', async () => {
    const runtime = await testRuntime();
    const connection = await createSamlConnection(runtime);
    const start = (target: string) => invoke(createSamlHandler(runtime), { method: 'GET', url: `/saml/${connection.id}/login?return_to=${encodeURIComponent(target)}` });
    expect((await start('https://app.example.test/dash')).statusCode).toBe(302);
    for (const target of targets) expect(refusal(await start(target))).toEqual({ status: 400, code: 'forbidden_return_to' });
  });

  it('is refused as the RelayState of a response with forbidden_return_to', async () => {
    const runtime = await testRuntime();
    const connection = await createSamlConnection(runtime, { allowIdpInitiated: true });
    for (const target of targets) {
      const result = await postAcs(createSamlHandler(runtime), connection.id, await issueSamlResponse(responseFor(connection, runtime)), target);
      expect(refusal(result)).toEqual({ status: 400, code: 'forbidden_return_to' });
    }
  });

  it('is refused at logout with forbidden_return_to', async () => {
    const { runtime, connection } = await signedIn();
    for (const target of targets) {
      const { token } = await logIn(runtime, connection);
      expect(refusal(await logout(runtime, { authorization: `Bearer ${token}` }, target))).toEqual({ status: 400, code: 'forbidden_return_to' });
    }
  });
});

describe('logout tolerance', () => {
  it('without a token answers 204 and clears the cookie, with or without return_to', async () => {
    const runtime = await testRuntime();
    for (const result of [await logout(runtime, {}), await logout(runtime, {}, 'https://app.example.test/bye')]) {
      expect(result.statusCode).toBe(204);
      expect(result.cookies?.[0]).toMatch(CLEARED);
    }
  });

  it('with a garbage or oversized token answers 204 and clears the cookie, and follows no return_to', async () => {
    const runtime = await testRuntime();
    const variants: Record<string, string>[] = [{ cookie: 'sso_session=garbage' }, { authorization: 'Bearer a.b.c' }, { authorization: `Bearer ${'a'.repeat(20_000)}` }];
    for (const headers of variants) {
      const result = await logout(runtime, headers, 'https://app.example.test/bye');
      expect(result.statusCode).toBe(204);
      expect(result.cookies?.[0]).toMatch(CLEARED);
    }
  });

  it('with a token expired within a week still logs the session out; a staler one only clears the cookie', async () => {
    const { runtime, connection, token } = await signedIn();
    const { sid, exp } = claimsOf(token);
    const at = (seconds: number) => ({ ...runtime, clock: () => new Date(seconds * 1000) });

    const stale = await logIn(runtime, connection);
    const staleResult = await logout(at(claimsOf(stale.token).exp + 8 * 24 * 60 * 60), { cookie: `sso_session=${stale.token}` });
    expect(staleResult.statusCode).toBe(204);
    expect(staleResult.cookies?.[0]).toMatch(CLEARED);
    expect((await runtime.store.getSession(claimsOf(stale.token).sid))?.revokedAt).toBeUndefined();

    const result = await logout(at(exp + 6 * 24 * 60 * 60), { cookie: `sso_session=${token}` });
    expect(result.statusCode).toBe(204);
    expect(result.cookies?.[0]).toMatch(CLEARED);
    expect((await runtime.store.getSession(sid))?.revokedAt).toEqual(expect.any(String));
  });

  it('twice with the same token answers 204 both times, and a 303 to an allowed return_to', async () => {
    const { runtime, token } = await signedIn();
    expect((await logout(runtime, { authorization: `Bearer ${token}` })).statusCode).toBe(204);
    const again = await logout(runtime, { authorization: `Bearer ${token}` }, 'https://app.example.test/bye');
    expect([again.statusCode, again.headers?.location]).toEqual([303, 'https://app.example.test/bye']);
    expect(again.cookies?.[0]).toMatch(CLEARED);
    expect(refusal(await getSession(runtime, token))).toEqual({ status: 401, code: 'session_revoked' });
  });
});
