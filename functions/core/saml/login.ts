import { AppError, isAppError, type ErrorCode } from '../errors';
import type { SamlConnection } from '../model';
import type { Runtime } from '../runtime';
import type { AssertionUse } from '../store/store';
import { allowedReturnTo } from '../sessions';
import { auditRefusal, findConnection, signIn } from '../sign-in';
import { createAuthnRequest, decryptionKeySecrets, signsAuthnRequests, spEndpoints, spKeysFor, spMetadata } from './service-provider';
import { samlIdentity } from './subject';
import { verifySamlResponse, type SamlChecks } from './verify-response';

/** The refusals of a login whose assertion is not spent: those of spending it, and an outage. */
const SPENDING_REFUSALS: ReadonlySet<ErrorCode> = new Set(['saml_replay', 'saml_in_response_to_mismatch', 'service_unavailable']);

/** How long an SP-initiated login may take at the IdP before its AuthnRequest id is forgotten. */
const AUTHN_REQUEST_TTL_SECONDS = 10 * 60;

/** The PEM key AuthnRequests are signed with: the newest signing key, when the connection or its IdP wants signed requests. */
export async function requestSigningKey(runtime: Runtime, connection: SamlConnection): Promise<string | undefined> {
  if (!signsAuthnRequests(connection)) return undefined;
  const key = spKeysFor(connection, 'signing')[0];
  if (!key) throw new Error(`Configuration error: connection ${connection.id} signs its AuthnRequests but has no SP signing key (connections sp-keys --id ${connection.id} --generate --use signing)`);
  return runtime.secrets.read(key.secretName);
}

/**
 * Starts an SP-initiated login: checks `return_to`, stores the AuthnRequest id once-only with a
 * TTL, and returns the IdP URL (HTTP-Redirect binding) with `return_to` as RelayState, signed
 * with the newest SP signing key when the connection or its IdP wants signed requests; the
 * request id, which the caller binds to the browser (a cookie) so that the ACS can tell it is the
 * same browser; and the ACS URL the IdP will post to, where that binding must reach.
 *
 * @throws AppError `unknown_connection`, `forbidden_return_to`, `service_unavailable` (also a signing key's secret missing).
 */
export async function startSamlLogin(
  runtime: Runtime,
  connectionId: string,
  returnTo: string | undefined,
): Promise<{ redirectUrl: string; requestId: string; acsUrl: string; expiresInSeconds: number }> {
  const connection = await findConnection(runtime, connectionId, 'saml');
  const target = allowedReturnTo(returnTo, connection.returnToAllowlist);
  const endpoints = spEndpoints(connection, runtime.config.publicBaseUrl);
  const signingKey = await requestSigningKey(runtime, connection);
  const { requestId, redirectUrl } = await createAuthnRequest(connection, endpoints, target, signingKey);
  await runtime.store.recordAuthnRequest(connection.id, requestId, new Date(runtime.clock().getTime() + AUTHN_REQUEST_TTL_SECONDS * 1000));
  return { redirectUrl, requestId, acsUrl: endpoints.acsUrl, expiresInSeconds: AUTHN_REQUEST_TTL_SECONDS };
}

/** The SP metadata XML of a connection. @throws AppError `unknown_connection`. */
export async function samlMetadata(runtime: Runtime, connectionId: string): Promise<string> {
  const connection = await findConnection(runtime, connectionId, 'saml');
  return spMetadata(connection, spEndpoints(connection, runtime.config.publicBaseUrl));
}

/**
 * What a connection's responses are checked against at `now`, with the private keys of its
 * encryption keys; a connection without encryption reads no secret.
 * @throws AppError `service_unavailable` when a decryption key's secret is missing or unreadable.
 */
export async function samlChecks(runtime: Runtime, connection: SamlConnection, now: Date): Promise<SamlChecks> {
  return {
    ...spEndpoints(connection, runtime.config.publicBaseUrl),
    idpEntityId: connection.idpEntityId,
    idpCertificates: connection.idpCertificates,
    clockSkewSeconds: connection.clockSkewSeconds,
    maxIssueAgeSeconds: connection.maxIssueAgeSeconds,
    allowSha1: connection.allowSha1,
    decryptionKeys: await Promise.all(decryptionKeySecrets(connection).map((name) => runtime.secrets.read(name))),
    now,
  };
}

/**
 * Completes a login at the ACS: verifies the response completely, refuses a solicited response
 * posted from a browser other than the one that started its login, replays and responses to no
 * pending request, finds or creates the user, and mints a session. Every outcome is audited.
 *
 * @param browserRequestId the AuthnRequest id bound to the posting browser at `/login`, if any.
 * @returns the session token, its expiry, where to send the browser, and the ACS URL (whose
 *   binding the caller clears).
 * @throws AppError of the codes of `verifySamlResponse` and `signIn`, and `saml_replay`,
 *   `saml_unsolicited`, `saml_in_response_to_mismatch`, `forbidden_return_to`, `unknown_connection`.
 */
export async function completeSamlLogin(
  runtime: Runtime,
  connectionId: string,
  form: { samlResponse: string | undefined; relayState: string | undefined },
  browserRequestId: string | undefined,
): Promise<{ token: string; expiresAt: number; returnTo: string; acsUrl: string }> {
  const connection = await findConnection(runtime, connectionId, 'saml');
  const now = runtime.clock();
  return auditRefusal(runtime, connection, now, async () => {
    if (!form.samlResponse) throw new AppError('invalid_request', 'the form field SAMLResponse is missing');
    const returnTo = allowedReturnTo(form.relayState, connection.returnToAllowlist);
    const assertion = await verifySamlResponse(form.samlResponse, await samlChecks(runtime, connection, now));
    if (assertion.inResponseTo === undefined && !connection.allowIdpInitiated) {
      throw new AppError('saml_unsolicited', 'this connection accepts only logins that start at the application');
    }
    // Login CSRF: a response to a login started elsewhere (the attacker's own, posted from the
    // victim's browser) must not sign this browser in. Checked before the request is consumed, so
    // the attempt spends nothing.
    if (assertion.inResponseTo !== undefined && assertion.inResponseTo !== browserRequestId) {
      throw new AppError('saml_in_response_to_mismatch', 'this sign-in was started in another browser or tab; start again');
    }
    const identity = samlIdentity(connection, assertion);
    const spend: AssertionUse = {
      connectionId: connection.id,
      issuer: assertion.issuer,
      assertionId: assertion.assertionId,
      replayableUntil: assertion.replayableUntil,
      inResponseTo: assertion.inResponseTo,
      now,
    };
    // The login spends the assertion in its own transaction; a login refused before that still
    // spends it, so that a replay of a refused response is a replay too.
    const session = await signIn(runtime, connection, identity, now, spend).catch(async (error: unknown) => {
      if (isAppError(error) && !SPENDING_REFUSALS.has(error.code)) await runtime.store.consumeAssertion(spend);
      throw error;
    });
    return { ...session, returnTo, acsUrl: spEndpoints(connection, runtime.config.publicBaseUrl).acsUrl };
  });
}
