import { randomUUID } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import type { OidcConnection } from '../../functions/core/model';
import { resetOidcCaches } from '../../functions/core/oidc/relying-party';
import type { Runtime } from '../../functions/core/runtime';
import { createOidcHandler } from '../../functions/oidc';
import { createSessionHandler } from '../../functions/session';
import { startTestProvider, type TestAccount, type TestProvider } from '../support/oidc-provider';
import { invoke, oidcConnection, problemCode, sessionTokenOf, testRuntime } from '../support/harness';

const CLIENT_ID = 'sso-rp';
const CLIENT_SECRET = 'sso-rp-secret';
/** The provider needs each redirect URI up front, so each test takes one of these connection ids. */
const CONNECTION_IDS = Array.from({ length: 64 }, (_, i) => `oidc-${i}-${randomUUID().slice(0, 8)}`);
let nextConnection = 0;

let op: TestProvider;
let clientPrivateJwk: JWK;
let jwksServer: Server | undefined;

/** Publishes the relying party's public keys on loopback, as a real client's jwks_uri. */
async function serveJwks(jwks: { keys: JWK[] }): Promise<string> {
  jwksServer = createServer((_, response) => {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => jwksServer!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`;
}

beforeAll(async () => {
  // A short JWKS refresh cooldown, so a test can rotate the provider's key and log in at once.
  resetOidcCaches({ jwksCooldownMs: 0 });
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  clientPrivateJwk = { ...(await exportJWK(privateKey)), kid: 'rp-key-1', alg: 'RS256' };
  const redirect_uris = CONNECTION_IDS.map((id) => `https://sso.test/oidc/${id}/callback`);
  op = await startTestProvider({
    clients: [
      { client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris },
      { client_id: 'sso-rp-post', client_secret: CLIENT_SECRET, redirect_uris, token_endpoint_auth_method: 'client_secret_post' },
      {
        client_id: 'sso-rp-jwt',
        redirect_uris,
        token_endpoint_auth_method: 'private_key_jwt',
        // Served from a URL: inside Jest's module realm oidc-provider does not take an inline JWKS for a plain object.
        jwks_uri: await serveJwks({ keys: [{ ...(await exportJWK(publicKey)), kid: 'rp-key-1', alg: 'RS256', use: 'sig' }] }),
      },
    ],
  });
});
afterAll(async () => {
  await op.stop();
  jwksServer?.close();
});

const account = (overrides: Partial<TestAccount> = {}): TestAccount => {
  const sub = `user-${randomUUID()}`;
  return { sub, email: `${sub}@example.test`, email_verified: true, name: 'Grace Hopper', groups: ['engineering'], ...overrides };
};

async function setUp(overrides: Partial<OidcConnection> = {}) {
  const runtime = await testRuntime({
    secrets: { 'oidc-client-secret': CLIENT_SECRET, 'oidc-wrong-secret': 'not-the-secret', 'oidc-client-key': JSON.stringify(clientPrivateJwk) },
  });
  const connection = oidcConnection(
    { id: CONNECTION_IDS[nextConnection++]!, tenantId: `tenant-${randomUUID()}`, issuer: op.issuer, clientId: CLIENT_ID, clientSecretName: 'oidc-client-secret' },
    overrides,
  );
  await runtime.store.putTenant({ id: connection.tenantId, name: 'OIDC tenant' });
  await runtime.store.putConnection(connection);
  return { runtime, connection, handler: createOidcHandler(runtime) };
}

type Handler = ReturnType<typeof createOidcHandler>;

/** The login redirect, then the provider's login and consent: the callback URL the browser would bring back, with its state cookie. */
async function authorize(handler: Handler, connection: OidcConnection, who: TestAccount) {
  op.signInAs(who);
  const start = await invoke(handler, { method: 'GET', url: `/oidc/${connection.id}/login?return_to=${encodeURIComponent('https://app.example.test/dash')}` });
  expect(start.statusCode).toBe(302);
  const authorization = new URL(String(start.headers?.location));
  const cookie = String(start.cookies?.[0]).split(';')[0]!;
  return { authorization, cookie, callback: await op.authorize(authorization.href) };
}

/** The browser bringing the provider's redirect back, with the state cookie its login set (or another). */
function callback(handler: Handler, url: URL, cookie = `sso_oidc_state=${url.searchParams.get('state')}`) {
  return invoke(handler, { method: 'GET', url: url.pathname + url.search, headers: { cookie } });
}

async function logIn(handler: Handler, connection: OidcConnection, who: TestAccount) {
  const { callback: redirect, cookie } = await authorize(handler, connection, who);
  return callback(handler, redirect, cookie);
}

/** A login whose token response carries an ID token forged with the given header, claims and key. */
async function logInWithIdToken(forge: (base: { nonce: string; sub: string }) => Promise<string>) {
  const { connection, handler } = await setUp();
  const who = account();
  op.signInAs(who);
  const start = await invoke(handler, { method: 'GET', url: `/oidc/${connection.id}/login` });
  const authorization = new URL(String(start.headers?.location));
  const redirect = await op.authorize(authorization.href);
  op.replaceNextIdToken(await forge({ nonce: authorization.searchParams.get('nonce')!, sub: who.sub }));
  try {
    return await callback(handler, redirect);
  } finally {
    op.replaceNextIdToken(undefined);
  }
}

const now = () => Math.floor(Date.now() / 1000);
const claims = (base: { nonce: string; sub: string }, overrides: Record<string, unknown> = {}) => ({
  iss: op.issuer,
  aud: CLIENT_ID,
  sub: base.sub,
  nonce: base.nonce,
  iat: now(),
  exp: now() + 300,
  ...overrides,
});
const providerKey = async () => importJWK(op.signingKey(), 'RS256');
const signed = (payload: Record<string, unknown>, key: Awaited<ReturnType<typeof importJWK>>, header: { alg: string; kid?: string; typ?: string }) =>
  new SignJWT(payload).setProtectedHeader(header).sign(key);

function refusal(result: Awaited<ReturnType<typeof invoke>>) {
  return { status: result.statusCode, code: problemCode(result) };
}

describe('OIDC login against a real OpenID Provider', () => {
  it('logs in end to end: redirect, provider login, callback, JIT user, session cookie, GET /session', async () => {
    const { runtime, connection, handler } = await setUp();
    const who = account({ given_name: 'Grace', family_name: 'Hopper' });
    const { authorization, callback: redirect } = await authorize(handler, connection, who);
    expect(Object.fromEntries(authorization.searchParams)).toMatchObject({ response_type: 'code', code_challenge_method: 'S256', client_id: CLIENT_ID });
    expect(authorization.searchParams.get('state')).toBeTruthy();
    expect(authorization.searchParams.get('nonce')).toBeTruthy();
    expect(redirect.searchParams.get('iss')).toBe(op.issuer);

    const result = await callback(handler, redirect);
    expect([result.statusCode, result.headers?.location]).toEqual([303, 'https://app.example.test/dash']);
    const me = await invoke(createSessionHandler(runtime), { method: 'GET', url: '/session', headers: { cookie: `sso_session=${sessionTokenOf(result)}` } });
    expect(me.json()).toMatchObject({
      user: { email: who.email, name: 'Grace Hopper', roles: ['member'], attributes: { groups: ['engineering'] } },
      session: { amr: ['oidc'], connectionId: connection.id },
    });

    const again = await logIn(handler, connection, who);
    expect(again.statusCode).toBe(303);
    const first = (me.json().user as { id: string }).id;
    expect(await runtime.store.findUserByLink({ connectionId: connection.id, subject: who.sub })).toMatchObject({ id: first });
  });

  it.each([
    ['client_secret_post', { clientId: 'sso-rp-post', tokenEndpointAuthMethod: 'client_secret_post' }],
    ['private_key_jwt', { clientId: 'sso-rp-jwt', tokenEndpointAuthMethod: 'private_key_jwt', clientSecretName: 'oidc-client-key' }],
  ] as const)('authenticates to the token endpoint with %s', async (_, overrides) => {
    const { connection, handler } = await setUp(overrides);
    expect((await logIn(handler, connection, account())).statusCode).toBe(303);
  });

  it('maps a token endpoint that refuses the client (invalid_client) to oidc_idp_error', async () => {
    const { connection, handler } = await setUp({ clientSecretName: 'oidc-wrong-secret' });
    const result = await logIn(handler, connection, account());
    expect(refusal(result)).toEqual({ status: 401, code: 'oidc_idp_error' });
    expect(result.json().detail).toContain('invalid_client');
  });

  it('refuses a callback whose state was never issued', async () => {
    const { connection, handler } = await setUp();
    const { callback: redirect } = await authorize(handler, connection, account());
    redirect.searchParams.set('state', 'never-issued');
    expect(refusal(await callback(handler, redirect))).toEqual({ status: 400, code: 'oidc_state_mismatch' });
  });

  it('refuses a callback brought by another browser than the one that started the login (login CSRF)', async () => {
    const { connection, handler } = await setUp();
    const { callback: redirect, cookie } = await authorize(handler, connection, account());
    expect(cookie).toMatch(/^sso_oidc_state=.+/);
    expect(refusal(await callback(handler, redirect, ''))).toEqual({ status: 400, code: 'oidc_state_mismatch' });
    expect(refusal(await callback(handler, redirect, 'sso_oidc_state=the-attackers-own-state'))).toEqual({ status: 400, code: 'oidc_state_mismatch' });
    expect((await callback(handler, redirect, cookie)).statusCode).toBe(303);
  });

  it('refuses a replayed callback: the state works once', async () => {
    const { connection, handler } = await setUp();
    const { callback: redirect } = await authorize(handler, connection, account());
    expect((await callback(handler, redirect)).statusCode).toBe(303);
    expect(refusal(await callback(handler, redirect))).toEqual({ status: 400, code: 'oidc_state_mismatch' });
  });

  it('refuses an authorization code redeemed a second time', async () => {
    const { runtime, connection, handler } = await setUp();
    const { callback: redirect } = await authorize(handler, connection, account());
    const state = redirect.searchParams.get('state')!;
    const pending = await runtime.store.consumePendingLogin(state, connection.id, new Date());
    await runtime.store.recordPendingLogin(pending);
    expect((await callback(handler, redirect)).statusCode).toBe(303);
    // The state is restored as if it had never been used, so only the provider stands between the code and a second session.
    await runtime.store.recordPendingLogin(pending);
    expect(refusal(await callback(handler, redirect))).toEqual({ status: 401, code: 'oidc_idp_error' });
  });

  it('refuses a code redeemed without the PKCE verifier of its authorization request', async () => {
    const { runtime, connection, handler } = await setUp();
    const { callback: redirect } = await authorize(handler, connection, account());
    const pending = await runtime.store.consumePendingLogin(redirect.searchParams.get('state')!, connection.id, new Date());
    await runtime.store.recordPendingLogin({ ...pending, codeVerifier: `${pending.codeVerifier.slice(0, -4)}AAAA` });
    expect(refusal(await callback(handler, redirect))).toEqual({ status: 401, code: 'oidc_idp_error' });
  });

  it('refuses an ID token whose nonce is not the one of this login', async () => {
    const { runtime, connection, handler } = await setUp();
    const { callback: redirect } = await authorize(handler, connection, account());
    const pending = await runtime.store.consumePendingLogin(redirect.searchParams.get('state')!, connection.id, new Date());
    await runtime.store.recordPendingLogin({ ...pending, nonce: 'another-login' });
    expect(refusal(await callback(handler, redirect))).toEqual({ status: 401, code: 'oidc_nonce_mismatch' });
  });

  it('refuses an authorization response whose RFC 9207 iss is another issuer', async () => {
    const { connection, handler } = await setUp();
    const { callback: redirect } = await authorize(handler, connection, account());
    redirect.searchParams.set('iss', 'https://evil.example.test');
    expect(refusal(await callback(handler, redirect))).toEqual({ status: 401, code: 'oidc_invalid_id_token' });
  });

  it('maps a provider error= to oidc_idp_error and spends the state', async () => {
    const { connection, handler } = await setUp();
    const { callback: redirect } = await authorize(handler, connection, account());
    const denied = new URL(redirect);
    denied.search = `?error=access_denied&error_description=${encodeURIComponent('the user said no')}&state=${redirect.searchParams.get('state')}`;
    const result = await callback(handler, denied);
    expect(refusal(result)).toEqual({ status: 401, code: 'oidc_idp_error' });
    expect(result.json().detail).toContain('access_denied');
    expect(refusal(await callback(handler, redirect))).toEqual({ status: 400, code: 'oidc_state_mismatch' });
  });

  it('accepts a forged-path control: an ID token signed by the provider key with the right claims', async () => {
    const result = await logInWithIdToken(async (base) => signed(claims(base), await providerKey(), { alg: 'RS256', kid: op.currentKid() }));
    expect(result.statusCode).toBe(303);
  });

  it.each([
    ['another issuer', { iss: 'https://evil.example.test' }],
    ['another audience', { aud: 'someone-else' }],
    ['an expired exp', { iat: now() - 7200, exp: now() - 3600 }],
    ['an iat in the future', { iat: now() + 3600, exp: now() + 7200 }],
  ])('refuses an ID token with %s', async (_, overrides) => {
    const result = await logInWithIdToken(async (base) => signed(claims(base, overrides), await providerKey(), { alg: 'RS256', kid: op.currentKid() }));
    expect(refusal(result)).toEqual({ status: 401, code: 'oidc_invalid_id_token' });
  });

  it('refuses an unsigned ID token (alg none)', async () => {
    const result = await logInWithIdToken(async (base) => {
      const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
      return `${encode({ alg: 'none', kid: op.currentKid() })}.${encode(claims(base))}.`;
    });
    expect(refusal(result)).toEqual({ status: 401, code: 'oidc_invalid_id_token' });
  });

  it('refuses an ID token signed by another key under the provider kid', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const result = await logInWithIdToken(async (base) => signed(claims(base), privateKey, { alg: 'RS256', kid: op.currentKid() }));
    expect(refusal(result)).toEqual({ status: 401, code: 'oidc_invalid_id_token' });
  });

  it("refuses an HS256 ID token keyed with the provider's public key", async () => {
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = op.signingKey();
    const publicPem = createPublicKey({ key: publicJwk as JWK & { kty: 'RSA' }, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const result = await logInWithIdToken(async (base) => signed(claims(base), new TextEncoder().encode(String(publicPem)), { alg: 'HS256', kid: op.currentKid() }));
    expect(refusal(result)).toEqual({ status: 401, code: 'oidc_invalid_id_token' });
  });

  it("keeps logins working across the provider's key rotation, refreshing the JWKS once", async () => {
    const { connection, handler } = await setUp();
    expect((await logIn(handler, connection, account())).statusCode).toBe(303);
    await op.rotateSigningKey();
    const fetches = op.jwksFetches();
    expect((await logIn(handler, connection, account())).statusCode).toBe(303);
    expect(op.jwksFetches()).toBe(fetches + 1);
    expect((await logIn(handler, connection, account())).statusCode).toBe(303);
    expect(op.jwksFetches()).toBe(fetches + 1);
  });
});

describe('OIDC callback hardening', () => {
  it('refuses a callback with neither a code nor an error as invalid_request, and spends its state', async () => {
    const { connection, handler } = await setUp();
    const { callback: redirect } = await authorize(handler, connection, account());
    const codeless = new URL(redirect);
    codeless.searchParams.delete('code');
    expect(refusal(await callback(handler, codeless))).toEqual({ status: 400, code: 'invalid_request' });
    expect(refusal(await callback(handler, redirect))).toEqual({ status: 400, code: 'oidc_state_mismatch' });
  });

  it.each(['code', 'state', 'iss'])('refuses a callback that repeats its %s parameter as invalid_request', async (name) => {
    const { connection, handler } = await setUp();
    const { callback: redirect } = await authorize(handler, connection, account());
    const repeated = new URL(redirect);
    repeated.searchParams.append(name, redirect.searchParams.get(name)!);
    expect(refusal(await callback(handler, repeated))).toEqual({ status: 400, code: 'invalid_request' });
  });

  it('says that an RFC 9207 iss parameter names another provider', async () => {
    const { connection, handler } = await setUp();
    const { callback: redirect } = await authorize(handler, connection, account());
    redirect.searchParams.set('iss', 'https://evil.example.test');
    const result = await callback(handler, redirect);
    expect(refusal(result)).toEqual({ status: 401, code: 'oidc_invalid_id_token' });
    expect(result.json().detail).toContain('RFC 9207');
    expect(result.json().detail).toContain('https://evil.example.test');
  });

  it('refuses, saying so, an authorization response without the iss parameter the provider promises (RFC 9207)', async () => {
    const { connection, handler } = await setUp();
    const { callback: redirect } = await authorize(handler, connection, account());
    redirect.searchParams.delete('iss');
    const result = await callback(handler, redirect);
    expect(refusal(result)).toEqual({ status: 401, code: 'oidc_invalid_id_token' });
    expect(result.json().detail).toContain('RFC 9207');
  });

  it('refuses an ID token the provider signed for another authorized party (azp)', async () => {
    const { connection, handler } = await setUp();
    op.setExtraClaims({ azp: 'someone-else' });
    try {
      expect(refusal(await logIn(handler, connection, account()))).toEqual({ status: 401, code: 'oidc_invalid_id_token' });
    } finally {
      op.setExtraClaims({});
    }
  });

  it('accepts an ID token the provider signed with azp equal to this client', async () => {
    const { connection, handler } = await setUp();
    op.setExtraClaims({ azp: CLIENT_ID });
    try {
      expect((await logIn(handler, connection, account())).statusCode).toBe(303);
    } finally {
      op.setExtraClaims({});
    }
  });

  it.each([
    ['a single audience', { azp: 'someone-else' }],
    ['an aud array of this client only', { aud: [CLIENT_ID], azp: 'someone-else' }],
    ['a non-string azp', { azp: [CLIENT_ID] }],
  ])('refuses an ID token whose azp is not this client, with %s', async (_, overrides) => {
    const result = await logInWithIdToken(async (base) => signed(claims(base, overrides), await providerKey(), { alg: 'RS256', kid: op.currentKid() }));
    expect(refusal(result)).toEqual({ status: 401, code: 'oidc_invalid_id_token' });
  });

  it.each(['at+jwt', 'application/at+jwt', 'logout+jwt', 'JOSE'])('refuses a token of typ %s signed by the provider key (RFC 8725 §3.11)', async (typ) => {
    const result = await logInWithIdToken(async (base) => signed(claims(base), await providerKey(), { alg: 'RS256', kid: op.currentKid(), typ }));
    expect(refusal(result)).toEqual({ status: 401, code: 'oidc_invalid_id_token' });
  });

  it.each([
    ['no typ', {}],
    ['typ JWT', { typ: 'JWT' }],
    ['typ jwt', { typ: 'jwt' }],
    ['typ application/jwt', { typ: 'application/jwt' }],
  ])('accepts an ID token with %s', async (_, typ) => {
    const result = await logInWithIdToken(async (base) => signed(claims(base), await providerKey(), { alg: 'RS256', kid: op.currentKid(), ...typ }));
    expect(result.statusCode).toBe(303);
  });
});

describe('OIDC identity and trust', () => {
  /** A user of the tenant that another connection created, holding `email`. */
  async function existingUser(runtime: Runtime, tenantId: string, email: string) {
    const { connection, handler } = await setUp({ tenantId });
    await logIn(handler, connection, account({ email }));
    return (await runtime.store.findUserByEmail(tenantId, email))!;
  }

  it('does not link an unverified email to the existing user of that email', async () => {
    const tenantId = `tenant-${randomUUID()}`;
    const { runtime, connection, handler } = await setUp({ tenantId, linkByEmail: true, allowedEmailDomains: ['example.test'] });
    const victim = await existingUser(runtime, tenantId, `victim-${randomUUID()}@example.test`);

    const attacker = account({ email: victim.email, email_verified: false });
    const result = await logIn(handler, connection, attacker);

    expect(refusal(result)).toEqual({ status: 403, code: 'email_not_verified' });
    expect(await runtime.store.findUserByLink({ connectionId: connection.id, subject: attacker.sub })).toBeUndefined();
  });

  it('never stores, links or puts in the session an email the provider does not vouch for', async () => {
    const tenantId = `tenant-${randomUUID()}`;
    const { runtime, connection, handler } = await setUp({ tenantId, linkByEmail: true });
    const victim = await existingUser(runtime, tenantId, `victim-${randomUUID()}@example.test`);

    const squatter = account({ email: victim.email, email_verified: false });
    const result = await logIn(handler, connection, squatter);

    expect(result.statusCode).toBe(303);
    const created = await runtime.store.findUserByLink({ connectionId: connection.id, subject: squatter.sub });
    expect(created).toBeDefined();
    expect(created!.id).not.toBe(victim.id);
    expect(created!.email).toBeUndefined();
    const claims = JSON.parse(Buffer.from(sessionTokenOf(result).split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(claims.email).toBeUndefined();
    expect(await runtime.store.findUserByEmail(tenantId, victim.email!)).toMatchObject({ id: victim.id });
  });

  it('refuses, and links nothing, a verified email outside the allowed domains', async () => {
    const tenantId = `tenant-${randomUUID()}`;
    const { runtime, connection, handler } = await setUp({ tenantId, linkByEmail: true, allowedEmailDomains: ['other.test'] });
    const victim = await existingUser(runtime, tenantId, `victim-${randomUUID()}@example.test`);
    const outsider = account({ email: victim.email, email_verified: true });
    const result = await logIn(handler, connection, outsider);
    expect(refusal(result)).toEqual({ status: 403, code: 'domain_not_allowed' });
    expect(await runtime.store.findUserByLink({ connectionId: connection.id, subject: outsider.sub })).toBeUndefined();
  });

  it('links a verified email in an allowed domain to the existing user when the connection allows it', async () => {
    const tenantId = `tenant-${randomUUID()}`;
    const { runtime, connection, handler } = await setUp({ tenantId, linkByEmail: true, allowedEmailDomains: ['example.test'] });
    const holder = await existingUser(runtime, tenantId, `holder-${randomUUID()}@example.test`);
    const same = account({ email: holder.email, email_verified: true });
    expect((await logIn(handler, connection, same)).statusCode).toBe(303);
    expect(await runtime.store.findUserByLink({ connectionId: connection.id, subject: same.sub })).toMatchObject({ id: holder.id });
  });
});
