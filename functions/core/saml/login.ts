import { AppError } from '../errors';
import type { SamlConnection } from '../model';
import type { Runtime } from '../runtime';
import { allowedReturnTo } from '../sessions';
import { auditRefusal, findConnection, signIn } from '../sign-in';
import { createAuthnRequest, spEndpoints, spMetadata } from './service-provider';
import { verifySamlResponse, type SamlChecks } from './verify-response';

/** How long an SP-initiated login may take at the IdP before its AuthnRequest id is forgotten. */
const AUTHN_REQUEST_TTL_SECONDS = 10 * 60;

/**
 * Starts an SP-initiated login: checks `return_to`, stores the AuthnRequest id once-only with a
 * TTL, and returns the IdP URL (HTTP-Redirect binding) with `return_to` as RelayState.
 *
 * @throws AppError `unknown_connection`, `forbidden_return_to`, `service_unavailable`.
 */
export async function startSamlLogin(runtime: Runtime, connectionId: string, returnTo: string | undefined): Promise<string> {
  const connection = await findConnection(runtime, connectionId, 'saml');
  const target = allowedReturnTo(returnTo, connection.returnToAllowlist);
  const { requestId, redirectUrl } = createAuthnRequest(connection, spEndpoints(connection, runtime.config.publicBaseUrl), target);
  await runtime.store.recordAuthnRequest(connection.id, requestId, new Date(runtime.clock().getTime() + AUTHN_REQUEST_TTL_SECONDS * 1000));
  return redirectUrl;
}

/** The SP metadata XML of a connection. @throws AppError `unknown_connection`. */
export async function samlMetadata(runtime: Runtime, connectionId: string): Promise<string> {
  const connection = await findConnection(runtime, connectionId, 'saml');
  return spMetadata(connection, spEndpoints(connection, runtime.config.publicBaseUrl));
}

/** What a connection's responses are checked against at `now`. */
export async function samlChecks(runtime: Runtime, connection: SamlConnection, now: Date): Promise<SamlChecks> {
  return {
    ...spEndpoints(connection, runtime.config.publicBaseUrl),
    idpEntityId: connection.idpEntityId,
    idpCertificates: connection.idpCertificates,
    clockSkewSeconds: connection.clockSkewSeconds,
    maxIssueAgeSeconds: connection.maxIssueAgeSeconds,
    allowSha1: connection.allowSha1,
    ...(connection.spDecryptionKeySecret ? { decryptionKey: await runtime.secrets.read(connection.spDecryptionKeySecret) } : {}),
    now,
  };
}

/**
 * Completes a login at the ACS: verifies the response completely, refuses replays and responses
 * to no pending request, finds or creates the user, and mints a session. Every outcome is audited.
 *
 * @returns the session token, its expiry, and where to send the browser.
 * @throws AppError of the codes of `verifySamlResponse` and `provisionUser`, and `saml_replay`,
 *   `saml_unsolicited`, `saml_in_response_to_mismatch`, `forbidden_return_to`, `unknown_connection`.
 */
export async function completeSamlLogin(
  runtime: Runtime,
  connectionId: string,
  form: { samlResponse: string | undefined; relayState: string | undefined },
): Promise<{ token: string; expiresAt: number; returnTo: string }> {
  const connection = await findConnection(runtime, connectionId, 'saml');
  const now = runtime.clock();
  return auditRefusal(runtime, connection, now, async () => {
    if (!form.samlResponse) throw new AppError('invalid_request', 'the form field SAMLResponse is missing');
    const returnTo = allowedReturnTo(form.relayState, connection.returnToAllowlist);
    const assertion = await verifySamlResponse(form.samlResponse, await samlChecks(runtime, connection, now));
    if (assertion.inResponseTo === undefined && !connection.allowIdpInitiated) {
      throw new AppError('saml_unsolicited', 'this connection accepts only logins that start at the application');
    }
    await runtime.store.consumeAssertion({
      connectionId: connection.id,
      issuer: assertion.issuer,
      assertionId: assertion.assertionId,
      replayableUntil: assertion.replayableUntil,
      inResponseTo: assertion.inResponseTo,
      now,
    });
    // A SAML IdP vouches for the emails it asserts; allowedEmailDomains bounds which it may link.
    const session = await signIn(runtime, connection, { subject: assertion.nameId, attributes: assertion.attributes, emailVerified: true }, now);
    return { ...session, returnTo };
  });
}
