import { AppError } from '../errors';
import { evaluateOidcClaims } from '../evaluate';
import { openSetupTest, recordSetupTest, setupOidcConnection } from '../setup-tests';
import type { SetupLink, SetupTestResult } from '../model';
import type { Runtime } from '../runtime';
import { beginAuthorization, issuedState, PENDING_LOGIN_TTL_SECONDS, verifyCallback } from './login';
import { authorizingParty } from './relying-party';

/**
 * Starts the test login of an OIDC setup link: an authorization-code login at the link's
 * connection (enabled or not) with the same `state`, `nonce` and PKCE as a login's, its state
 * recorded as a test bound to the link, so that its callback is evaluated and never provisions a
 * user or mints a session. The client secret is not read here: only the callback redeems a code.
 *
 * @throws AppError `setup_not_tested` when there is no connection yet, `setup_link_forbidden`, `service_unavailable`.
 */
export async function startOidcSetupTest(runtime: Runtime, link: SetupLink): Promise<{ redirectUrl: string; state: string; connectionId: string; expiresInSeconds: number }> {
  const connection = await setupOidcConnection(runtime.store, link);
  if (!connection) throw new AppError('setup_not_tested', 'give the provider\u2019s issuer, client id and secret first');
  const { redirectUrl, state } = await beginAuthorization(runtime, connection, await authorizingParty(connection), {
    returnTo: '',
    purpose: { purpose: 'setup-test', setupLinkHash: link.hash },
  });
  return { redirectUrl, state, connectionId: connection.id, expiresInSeconds: PENDING_LOGIN_TTL_SECONDS };
}

/**
 * Completes a test login at the OIDC callback, when the callback's state was recorded as a setup
 * link's test: the callback is verified exactly as a login's (`verifyCallback`: the state bound
 * to this browser and consumed once, as a test's only; the code redeemed with PKCE; the ID token
 * verified in full), then the claims are evaluated as `evaluate --claims` would, writing no user
 * and no session. Returns `undefined` when the state is no test's, so the callback goes on with a login.
 *
 * @throws AppError the codes of `verifyCallback`, `unknown_connection`, and the link's
 *   `setup_link_revoked`/`setup_link_expired`.
 */
export async function completeOidcSetupTest(
  runtime: Runtime,
  connectionId: string,
  callbackUrl: URL,
  browserState: string | undefined,
): Promise<{ link: SetupLink; result: SetupTestResult } | undefined> {
  const state = issuedState(callbackUrl);
  if (!state) return undefined;
  const pending = await runtime.store.pendingLoginPurpose(state);
  if (pending?.purpose !== 'setup-test') return undefined;
  const now = runtime.clock();
  const { link, connection } = await openSetupTest(runtime, pending.setupLinkHash, connectionId, 'oidc');
  const { login } = await verifyCallback(runtime, connection, callbackUrl, browserState, now, 'setup-test');
  return { link, result: await recordSetupTest(runtime, link, connection, await evaluateOidcClaims(runtime, connection, login.claims), now) };
}
