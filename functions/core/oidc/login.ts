import { randomNonce, randomPKCECodeVerifier, randomState } from 'openid-client';
import { AppError } from '../errors';
import type { OidcConnection } from '../model';
import type { Runtime } from '../runtime';
import { allowedReturnTo } from '../sessions';
import { auditRefusal, findConnection, signIn } from '../sign-in';
import type { LoginPurpose, PendingLogin } from '../store/login-state';
import { authorizationUrl, oidcIdentity, redeemCallback, relyingParty, type VerifiedOidcLogin } from './relying-party';

/** How long a login (or a setup link's test login) may take at the provider before its state is forgotten. */
export const PENDING_LOGIN_TTL_SECONDS = 10 * 60;

function redirectUri(runtime: Runtime, connection: OidcConnection): string {
  return `${runtime.config.publicBaseUrl}/oidc/${encodeURIComponent(connection.id)}/callback`;
}

/**
 * Starts a login: checks `return_to`, stores `state`, `nonce` and the PKCE verifier once-only
 * with a TTL, and returns the provider's authorization URL and the state, which the caller binds
 * to the browser (a cookie) so that the callback can tell it is the same browser.
 *
 * @throws AppError `unknown_connection`, `forbidden_return_to`, `service_unavailable`.
 */
export async function startOidcLogin(runtime: Runtime, connectionId: string, returnTo: string | undefined): Promise<{ redirectUrl: string; state: string }> {
  const connection = await findConnection(runtime, connectionId, 'oidc');
  const target = allowedReturnTo(returnTo, connection.returnToAllowlist);
  return beginAuthorization(runtime, connection, await relyingParty(connection, runtime.secrets), { returnTo: target });
}

/**
 * The start every OIDC login shares, a setup link's test login included: fresh `state`, `nonce`
 * and PKCE verifier, stored once-only with a TTL (and the test's purpose, for a test), and the
 * provider's authorization URL.
 *
 * @throws AppError `service_unavailable`.
 */
export async function beginAuthorization(
  runtime: Runtime,
  connection: OidcConnection,
  config: Parameters<typeof authorizationUrl>[0],
  options: { returnTo: string; purpose?: LoginPurpose },
): Promise<{ redirectUrl: string; state: string }> {
  const pending = { state: randomState(), nonce: randomNonce(), codeVerifier: randomPKCECodeVerifier() };
  await runtime.store.recordPendingLogin({
    ...pending,
    connectionId: connection.id,
    returnTo: options.returnTo,
    expiresAt: Math.floor(runtime.clock().getTime() / 1000) + PENDING_LOGIN_TTL_SECONDS,
    ...options.purpose,
  });
  return { redirectUrl: await authorizationUrl(config, connection, { ...pending, redirectUri: redirectUri(runtime, connection) }), state: pending.state };
}

/**
 * The states `startOidcLogin` issues are openid-client's `randomState()` (base64url); another text
 * names no pending login, and a long one must never reach the table, whose key limit would turn a
 * client's garbage into a 5xx.
 */
const ISSUED_STATE = /^[A-Za-z0-9_-]{1,128}$/;

/** The callback's `state` if it is one this service could have issued (and so may be looked up), else `undefined`. */
export function issuedState(callbackUrl: URL): string | undefined {
  const states = callbackUrl.searchParams.getAll('state');
  return states.length === 1 && ISSUED_STATE.test(states[0]!) ? states[0] : undefined;
}

/** The authorization response parameters this code or openid-client reads; a repeated one is ambiguous. */
const SINGLE_VALUED = ['code', 'state', 'iss', 'error', 'error_description'] as const;

/**
 * The parameters of an authorization response that decide its fate.
 *
 * @throws AppError `invalid_request` when one of them is repeated.
 */
function callbackParameters(url: URL): { code?: string; state?: string; error?: string; errorDescription?: string } {
  const params = url.searchParams;
  const repeated = SINGLE_VALUED.filter((name) => params.getAll(name).length > 1);
  if (repeated.length) throw new AppError('invalid_request', `the callback repeats ${repeated.join(', ')}`);
  const value = (name: (typeof SINGLE_VALUED)[number]) => params.get(name) ?? undefined;
  return { code: value('code') || undefined, state: value('state') || undefined, error: value('error'), errorDescription: value('error_description') };
}

/**
 * Completes a login at the callback: the callback verified by {@link verifyCallback}, then the
 * user found or created and a session minted. Every outcome is audited.
 *
 * @throws AppError `invalid_request`, `oidc_idp_error`, `oidc_state_mismatch`, `oidc_invalid_id_token`,
 *   `oidc_nonce_mismatch`, `unknown_connection`, and the codes of `signIn`.
 */
export async function completeOidcLogin(
  runtime: Runtime,
  connectionId: string,
  callbackUrl: URL,
  browserState: string | undefined,
): Promise<{ token: string; expiresAt: number; returnTo: string }> {
  const connection = await findConnection(runtime, connectionId, 'oidc');
  const now = runtime.clock();
  return auditRefusal(runtime, connection, now, async () => {
    const { login, pending } = await verifyCallback(runtime, connection, callbackUrl, browserState, now);
    const session = await signIn(runtime, connection, oidcIdentity(login.claims), now);
    return { ...session, returnTo: pending.returnTo };
  });
}

/**
 * Everything a callback must pass before its identity is believed, for a login and a setup
 * link's test login alike: a callback repeating a parameter is `invalid_request`; a provider
 * `error=` is `oidc_idp_error` and one with neither `error` nor `code` is `invalid_request`, both
 * spending the state; the state must be the one bound to this browser at the start, and is
 * consumed with a conditional delete that also checks its purpose (none for a login,
 * `setup-test` for a test); the code is redeemed and the ID token verified in full.
 *
 * @throws AppError `invalid_request`, `oidc_idp_error`, `oidc_state_mismatch`, `oidc_invalid_id_token`,
 *   `oidc_nonce_mismatch`, `service_unavailable`.
 */
export async function verifyCallback(
  runtime: Runtime,
  connection: OidcConnection,
  callbackUrl: URL,
  browserState: string | undefined,
  now: Date,
  purpose?: LoginPurpose['purpose'],
): Promise<{ login: VerifiedOidcLogin; pending: PendingLogin }> {
  const { code, state, error, errorDescription } = callbackParameters(callbackUrl);
  if (error !== undefined || !code) {
    // The state is spent either way, so a response that cannot complete cannot be replayed into a success later.
    if (state && ISSUED_STATE.test(state)) await runtime.store.consumePendingLogin(state, connection.id, now, purpose).catch(() => undefined);
    if (error !== undefined) {
      // RFC 6749 access_denied is what providers answer when the person presses Cancel (or declines consent).
      const reason = error === 'access_denied' ? { reason: 'cancelled' as const } : {};
      throw new AppError('oidc_idp_error', `the identity provider answered ${error}${errorDescription ? `: ${errorDescription}` : ''}`, reason);
    }
    throw new AppError('invalid_request', 'the callback carries neither an authorization code nor an error');
  }
  if (!state) throw new AppError('oidc_state_mismatch', 'the callback carries no state');
  // Login CSRF: a callback started in another browser (an attacker's link) must not sign this one in.
  if (browserState !== state) throw new AppError('oidc_state_mismatch', 'this sign-in was started in another browser or tab; start again');
  if (!ISSUED_STATE.test(state)) throw new AppError('oidc_state_mismatch', 'the callback state is not one this service issued');
  const pending = await runtime.store.consumePendingLogin(state, connection.id, now, purpose);
  const config = await relyingParty(connection, runtime.secrets);
  const { attributes, required } = connection.attributeMapping;
  const login = await redeemCallback(
    config,
    connection,
    { url: callbackUrl, state, nonce: pending.nonce, codeVerifier: pending.codeVerifier, now },
    (claims) => claims.email === undefined || required.some((attribute) => !attributes[attribute]?.from?.some((source) => claims[source] !== undefined)),
  );
  return { login, pending };
}
