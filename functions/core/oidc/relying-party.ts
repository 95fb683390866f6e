import { createHash } from 'node:crypto';
import * as client from 'openid-client';
import { createRemoteJWKSet, errors as joseErrors, importJWK, jwtVerify, type JWK } from 'jose';
import { AppError } from '../errors';
import type { OidcConnection } from '../model';
import type { Secrets } from '../secrets';
import { isLoopbackHttp } from '../trusted-url';

/** The ID token's claims and, where the mapping needed more, the userinfo claims, already checked. */
export interface VerifiedOidcLogin {
  readonly subject: string;
  readonly claims: Readonly<Record<string, unknown>>;
}

const ASYMMETRIC = /^(RS|PS|ES)(256|384|512)$|^EdDSA$|^Ed25519$/;

const configurations = new Map<string, Promise<client.Configuration>>();
const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

/** How often an unknown `kid` may trigger a JWKS refetch. @default 30 s (jose's default) */
let jwksCooldownMs = 30_000;

/** For tests: a shorter JWKS refresh cooldown, and a clean per-container cache. */
export function resetOidcCaches(options: { jwksCooldownMs?: number } = {}): void {
  configurations.clear();
  keySets.clear();
  jwksCooldownMs = options.jwksCooldownMs ?? 30_000;
}

/** The algorithms a connection accepts for ID tokens: never `none`, never HMAC (which a public key could key). */
export function idTokenAlgorithms(connection: OidcConnection): string[] {
  const algorithms = [...(connection.idTokenSigningAlgorithms ?? ['RS256'])];
  const refused = algorithms.filter((alg) => !ASYMMETRIC.test(alg));
  if (refused.length || algorithms.length === 0) {
    throw new Error(`Configuration error: connection ${connection.id} allows ID token algorithms ${refused.join(', ') || '(none)'}; only asymmetric ones are accepted`);
  }
  return algorithms;
}

async function clientAuthentication(connection: OidcConnection, secret: string): Promise<client.ClientAuth> {
  switch (connection.tokenEndpointAuthMethod) {
    case 'client_secret_basic':
      return client.ClientSecretBasic(secret);
    case 'client_secret_post':
      return client.ClientSecretPost(secret);
    case 'private_key_jwt': {
      const jwk = JSON.parse(secret) as JWK;
      const key = await importJWK(jwk, jwk.alg ?? 'RS256');
      if (key instanceof Uint8Array) throw new Error(`Configuration error: the private_key_jwt key of ${connection.id} is not a private key`);
      return client.PrivateKeyJwt({ key, ...(jwk.kid ? { kid: jwk.kid } : {}) });
    }
  }
}

/**
 * The connection's relying-party configuration: discovery (cached per warm container and client
 * secret; a failure is not cached) with its client authentication.
 *
 * @throws AppError `service_unavailable` when discovery fails or the client secret cannot be read.
 */
export async function relyingParty(connection: OidcConnection, secrets: Secrets): Promise<client.Configuration> {
  // The secret is read at every login (the store caches it briefly) and its digest keys the cache,
  // so a client secret the admin changes is used at the next login, without a restart.
  const secret = await secrets.read(connection.clientSecretName);
  const secretDigest = createHash('sha256').update(secret).digest('base64url');
  return discovered(connection, secretDigest, () => clientAuthentication(connection, secret));
}

/**
 * The configuration that only builds an authorization URL: discovery as {@link relyingParty}
 * makes it, without client authentication, since nothing is sent to the token endpoint. The
 * setup pages start a test login with it: their function may store a client secret, never read one.
 *
 * @throws AppError `service_unavailable` when discovery fails.
 */
export async function authorizingParty(connection: OidcConnection): Promise<client.Configuration> {
  return discovered(connection, 'authorization-only', async () => client.None());
}

function discovered(connection: OidcConnection, authKey: string, auth: () => Promise<client.ClientAuth>): Promise<client.Configuration> {
  const cacheKey = JSON.stringify([connection.id, connection.issuer, connection.clientId, connection.tokenEndpointAuthMethod, authKey, connection.clockToleranceSeconds]);
  const cached = configurations.get(cacheKey);
  if (cached) return cached;
  const issuer = new URL(connection.issuer);
  const configuration = (async () => {
    const clientAuth = await auth();
    try {
      // No id_token_signed_response_alg: openid-client would then take one algorithm only; the
      // connection's whole list is enforced where the signature is verified, below.
      const metadata: Partial<client.ClientMetadata> = { [client.clockTolerance]: connection.clockToleranceSeconds ?? 60 };
      return await client.discovery(issuer, connection.clientId, metadata, clientAuth, {
        // Plain http only for a provider on this machine (tests, `npm start`); anything else must be https.
        execute: isLoopbackHttp(issuer) ? [client.allowInsecureRequests] : [],
        timeout: 5,
      });
    } catch (error) {
      throw new AppError('service_unavailable', `the identity provider's discovery document could not be read`, { cause: error });
    }
  })();
  configurations.set(cacheKey, configuration);
  configuration.catch(() => configurations.delete(cacheKey));
  return configuration;
}

/** The authorization URL of a login: code flow with PKCE S256, state and nonce. */
export async function authorizationUrl(
  config: client.Configuration,
  connection: OidcConnection,
  request: { redirectUri: string; state: string; nonce: string; codeVerifier: string },
): Promise<string> {
  return client
    .buildAuthorizationUrl(config, {
      redirect_uri: request.redirectUri,
      scope: (connection.scopes ?? ['openid', 'email', 'profile']).join(' '),
      state: request.state,
      nonce: request.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(request.codeVerifier),
      code_challenge_method: 'S256',
    })
    .toString();
}

function keySet(jwksUri: string): ReturnType<typeof createRemoteJWKSet> {
  let set = keySets.get(jwksUri);
  if (!set) {
    set = createRemoteJWKSet(new URL(jwksUri), { cooldownDuration: jwksCooldownMs, timeoutDuration: 5000 });
    keySets.set(jwksUri, set);
  }
  return set;
}

/**
 * For Entra ID multi-tenant apps, whose discovery issuer is the template
 * `https://login.microsoftonline.com/{tenantid}/v2.0`: openid-client substitutes the token's `tid`
 * before comparing `iss`, so the tenant itself must be one the connection allows.
 *
 * @throws AppError `oidc_invalid_id_token` for a tenant that is not allowed.
 */
export function checkEntraTenant(metadataIssuer: string, claims: Readonly<Record<string, unknown>>, allowedTenants: readonly string[] | undefined): void {
  if (!metadataIssuer.includes('{tenantid}')) return;
  const tid = typeof claims.tid === 'string' ? claims.tid : undefined;
  if (!tid || !allowedTenants?.includes(tid) || claims.iss !== metadataIssuer.replace('{tenantid}', tid)) {
    throw new AppError('oidc_invalid_id_token', `the ID token comes from a directory (${tid ?? 'none'}) this connection does not allow`);
  }
}

/** openid-client codes that mean the provider is down or broken, not that the login is bad. */
const PROVIDER_UNAVAILABLE = new Set(['OAUTH_RESPONSE_IS_NOT_CONFORM', 'OAUTH_RESPONSE_IS_NOT_JSON', 'OAUTH_TIMEOUT', 'OAUTH_ABORT']);

function translate(error: unknown): never {
  if (error instanceof AppError) throw error;
  if (error instanceof client.AuthorizationResponseError || error instanceof client.ResponseBodyError) {
    const description = error.error_description ? `: ${error.error_description}` : '';
    throw new AppError('oidc_idp_error', `the identity provider answered ${error.error}${description}`, { cause: error });
  }
  if (error instanceof joseErrors.JWKSTimeout || (error instanceof TypeError && !(error instanceof client.ClientError))) {
    throw new AppError('service_unavailable', 'the identity provider could not be reached', { cause: error });
  }
  if (error instanceof joseErrors.JOSEError) {
    throw new AppError('oidc_invalid_id_token', `the ID token's signature does not verify (${error.code})`, { cause: error });
  }
  if (error instanceof client.WWWAuthenticateChallengeError) {
    // A 401 with a challenge from the token or userinfo endpoint, e.g. invalid_client.
    const challenge = error.cause[0];
    const description = challenge?.parameters.error_description ? `: ${challenge.parameters.error_description}` : '';
    throw new AppError('oidc_idp_error', `the identity provider answered ${challenge?.parameters.error ?? `HTTP ${error.status}`}${description}`, { cause: error });
  }
  if (error instanceof client.ClientError && PROVIDER_UNAVAILABLE.has(error.code ?? '')) {
    throw new AppError('service_unavailable', 'the identity provider did not answer as expected; try again', { cause: error });
  }
  if (error instanceof client.ClientError) {
    // openid-client wraps oauth4webapi's error, whose own cause names the claim that failed.
    const inner = error.cause instanceof Error ? error.cause : undefined;
    const claim = (inner?.cause as { claim?: unknown } | undefined)?.claim;
    if (claim === 'nonce') throw new AppError('oidc_nonce_mismatch', 'the ID token answers another sign-in', { cause: error });
    throw new AppError('oidc_invalid_id_token', inner?.message ?? error.message, { cause: error });
  }
  throw error;
}

/**
 * RFC 9207: the authorization response names the provider that issued it, so a response another
 * provider issued (a mix-up attack) is refused before its code is sent anywhere. openid-client
 * makes the same comparison; it is made here first so that the refusal says what happened.
 *
 * @throws AppError `oidc_invalid_id_token` for another issuer, or none where the provider promises one.
 */
function checkResponseIssuer(iss: string | null, server: client.ServerMetadata): void {
  if (iss === null) {
    if (server.authorization_response_iss_parameter_supported) {
      throw new AppError('oidc_invalid_id_token', `the authorization response carries no iss parameter, which ${server.issuer} promises (RFC 9207)`);
    }
    return;
  }
  if (iss !== server.issuer) {
    throw new AppError('oidc_invalid_id_token', `the authorization response's iss parameter (RFC 9207) names ${iss}, not this connection's provider ${server.issuer}`);
  }
}

/**
 * The checks openid-client and jose leave to the caller, on an ID token whose signature and
 * library-checked claims already hold.
 *
 * @throws AppError `oidc_invalid_id_token`.
 */
function checkIdTokenRemainder(
  header: Readonly<{ typ?: unknown }>,
  claims: Readonly<Record<string, unknown>>,
  expected: { clientId: string; metadataIssuer: string; allowedEntraTenants: readonly string[] | undefined; now: Date; toleranceSeconds: number },
): void {
  // RFC 8725 §3.11: a JWT of another kind (an access token, a logout token) signed by the same key
  // must not pass for an ID token. "JWT" and "application/jwt" name the same media type (RFC 7515 §4.1.9).
  if (header.typ !== undefined && (typeof header.typ !== 'string' || !/^(application\/)?jwt$/i.test(header.typ))) {
    throw new AppError('oidc_invalid_id_token', `the token's typ header is ${JSON.stringify(header.typ)}: it is not an ID token`);
  }
  // OIDC Core 3.1.3.7: openid-client compares azp only when aud lists several audiences; a token
  // authorized for another client is not one for this one, whatever its aud says.
  if (claims.azp !== undefined && claims.azp !== expected.clientId) {
    throw new AppError('oidc_invalid_id_token', `the ID token's azp (authorized party) is ${JSON.stringify(claims.azp)}, not this connection's client id`);
  }
  // openid-client and jose leave a future iat alone; a token from the future is not one to trust.
  if (typeof claims.iat === 'number' && claims.iat > Math.floor(expected.now.getTime() / 1000) + expected.toleranceSeconds) {
    throw new AppError('oidc_invalid_id_token', 'the ID token was issued in the future');
  }
  checkEntraTenant(expected.metadataIssuer, claims, expected.allowedEntraTenants);
}

/**
 * Redeems the authorization code of a callback and verifies the ID token in full. The RFC 9207
 * `iss` parameter must name the discovered issuer (and be present when the provider advertises
 * it). openid-client then checks the response's `state`, exchanges the code with the PKCE
 * verifier, and checks the ID token's `iss`, `aud`, `exp`, the presence of `iat` and `sub`,
 * `nonce`, and `azp` when `aud` lists several audiences. The signature is verified here against
 * the provider's JWKS with jose (openid-client trusts the TLS channel instead), with the
 * connection's asymmetric algorithms only; then `typ` (absent or `JWT`), `azp` (absent or this
 * client), `iat` (not in the future) and the Entra ID tenant. Userinfo is fetched when
 * `needsUserinfo` says the ID token lacks claims, and its `sub` must match.
 *
 * @throws AppError `oidc_idp_error`, `oidc_invalid_id_token`, `oidc_nonce_mismatch`, `service_unavailable`.
 */
export async function redeemCallback(
  config: client.Configuration,
  connection: OidcConnection,
  callback: { url: URL; state: string; nonce: string; codeVerifier: string; now: Date },
  needsUserinfo: (claims: Readonly<Record<string, unknown>>) => boolean,
): Promise<VerifiedOidcLogin> {
  try {
    const server = config.serverMetadata();
    checkResponseIssuer(callback.url.searchParams.get('iss'), server);
    const tokens = await client.authorizationCodeGrant(config, callback.url, {
      pkceCodeVerifier: callback.codeVerifier,
      expectedState: callback.state,
      expectedNonce: callback.nonce,
      idTokenExpected: true,
    });
    if (!server.jwks_uri) throw new AppError('oidc_invalid_id_token', 'the provider publishes no JWKS to verify the ID token with');
    const toleranceSeconds = connection.clockToleranceSeconds ?? 60;
    const { protectedHeader } = await jwtVerify(tokens.id_token!, keySet(server.jwks_uri), {
      algorithms: idTokenAlgorithms(connection),
      currentDate: callback.now,
      clockTolerance: toleranceSeconds,
    });
    const claims = tokens.claims()!;
    checkIdTokenRemainder(protectedHeader, claims, {
      clientId: connection.clientId,
      metadataIssuer: server.issuer,
      allowedEntraTenants: connection.allowedEntraTenants,
      now: callback.now,
      toleranceSeconds,
    });
    if (!needsUserinfo(claims) || !server.userinfo_endpoint) return { subject: claims.sub, claims };
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    return { subject: claims.sub, claims: { ...userinfo, ...claims } };
  } catch (error) {
    return translate(error);
  }
}

export { oidcIdentity } from './identity';
