import { decodeJwt, decodeProtectedHeader, importJWK, SignJWT } from 'jose';
import * as client from 'openid-client';
import { startTestProvider, type TestProvider } from '../support/oidc-provider';

const redirectUri = 'https://app.example.test/oidc/callback';
const ada = { sub: 'ada', email: 'ada@example.test', email_verified: true, name: 'Ada Lovelace', groups: ['engineering'] };

describe('the oidc-provider test harness, driven by openid-client', () => {
  let op: TestProvider;

  beforeAll(async () => {
    op = await startTestProvider({ clients: [{ client_id: 'rp', client_secret: 'rp-secret', redirect_uris: [redirectUri] }] });
    op.signInAs(ada);
  });
  afterAll(() => op.stop());

  async function discover(): Promise<client.Configuration> {
    return client.discovery(new URL(op.issuer), 'rp', undefined, client.ClientSecretBasic('rp-secret'), { execute: [client.allowInsecureRequests] });
  }

  async function logIn(config: client.Configuration) {
    const pkceCodeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const authorizationUrl = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid email profile groups',
      state,
      nonce,
      code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
      code_challenge_method: 'S256',
    });
    const callback = await op.authorize(authorizationUrl.href);
    return client.authorizationCodeGrant(config, callback, { pkceCodeVerifier, expectedState: state, expectedNonce: nonce });
  }

  it('completes a code flow with PKCE and puts the scope-requested claims in the ID token', async () => {
    const config = await discover();
    const tokens = await logIn(config);
    expect(tokens.claims()).toMatchObject({ iss: op.issuer, aud: 'rp', sub: 'ada', email: 'ada@example.test', email_verified: true, name: 'Ada Lovelace', groups: ['engineering'] });
    expect(decodeJwt(tokens.id_token!)).toMatchObject({ email: 'ada@example.test' });
  });

  it('refuses an authorization request without a PKCE challenge', async () => {
    const config = await discover();
    const authorizationUrl = client.buildAuthorizationUrl(config, { redirect_uri: redirectUri, scope: 'openid', state: client.randomState() });
    const callback = await op.authorize(authorizationUrl.href);
    expect(callback.origin + callback.pathname).toBe(redirectUri);
    expect(Object.fromEntries(callback.searchParams)).toMatchObject({ error: 'invalid_request', error_description: 'Authorization Server policy requires PKCE to be used for this request' });
  });

  it('signs the next ID token with a new kid after a rotation and publishes only the new key', async () => {
    const config = await discover();
    const before = decodeProtectedHeader((await logIn(config)).id_token!);
    expect(before).toMatchObject({ alg: 'RS256', kid: op.currentKid() });

    const { kid } = await op.rotateSigningKey();
    expect(kid).not.toBe(before.kid);
    expect(decodeProtectedHeader((await logIn(config)).id_token!).kid).toBe(kid);

    const fetches = op.jwksFetches();
    const jwks = (await (await fetch(config.serverMetadata().jwks_uri!)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((key) => key.kid)).toEqual([kid]);
    expect(op.jwksFetches()).toBe(fetches + 1);
  });

  it('hands out the replacement ID token in the next token response only', async () => {
    const config = await discover();
    const tokenResponses: Record<string, unknown>[] = [];
    config[client.customFetch] = async (url, options) => {
      // @types/node 20's RequestInit lacks the Uint8Array body that CustomFetchOptions allows.
      const response = await fetch(url, options as RequestInit);
      if (url === config.serverMetadata().token_endpoint) tokenResponses.push((await response.clone().json()) as Record<string, unknown>);
      return response;
    };
    const key = op.signingKey();
    const forged = await new SignJWT({ nonce: 'whatever' })
      .setProtectedHeader({ alg: 'RS256', kid: op.currentKid() })
      .setIssuer(op.issuer)
      .setAudience('another-client')
      .setSubject('ada')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(await importJWK(key, 'RS256'));

    op.replaceNextIdToken(forged);
    await expect(logIn(config)).rejects.toMatchObject({ code: 'OAUTH_JWT_CLAIM_COMPARISON_FAILED' });
    expect(tokenResponses[0]?.id_token).toBe(forged);

    await expect(logIn(config)).resolves.toBeDefined();
    expect(tokenResponses[1]?.id_token).not.toBe(forged);
  });

  it('merges extra claims into the next ID token only, signed with the real key', async () => {
    const config = await discover();
    op.setExtraClaims({ tenant: 'acme', amr: ['mfa'] });
    expect((await logIn(config)).claims()).toMatchObject({ sub: 'ada', tenant: 'acme', amr: ['mfa'] });
    expect((await logIn(config)).claims()).not.toHaveProperty('tenant');
  });
});
