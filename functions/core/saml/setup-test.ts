import { AppError } from '../errors';
import { openSetupTest, recordSetupTest, setupConnection } from '../setup-tests';
import { evaluateSamlResponse } from './evaluate';
import type { SetupLink, SetupTestResult } from '../model';
import type { Runtime } from '../runtime';
import { requestSigningKey, samlChecks } from './login';
import { createAuthnRequest, spEndpoints } from './service-provider';
import { verifySamlResponse } from './verify-response';

/** How long a test login may take at the IdP. */
const TEST_REQUEST_TTL_SECONDS = 10 * 60;

/**
 * Starts the test login of a setup link: an SP-initiated AuthnRequest to the link's connection
 * (enabled or not), recorded as a test request bound to the link, so that its response is
 * evaluated and never provisions a user or mints a session.
 *
 * @throws AppError `setup_not_tested` when there is no connection yet, `setup_link_forbidden`, `service_unavailable`.
 */
export async function startSetupTest(runtime: Runtime, link: SetupLink): Promise<{ redirectUrl: string; requestId: string; acsUrl: string; expiresInSeconds: number }> {
  const connection = await setupConnection(runtime.store, link);
  if (!connection) throw new AppError('setup_not_tested', 'give the identity provider\u2019s metadata first');
  const endpoints = spEndpoints(connection, runtime.config.publicBaseUrl);
  const { requestId, redirectUrl } = await createAuthnRequest(connection, endpoints, '', await requestSigningKey(runtime, connection));
  const expiresAt = new Date(runtime.clock().getTime() + TEST_REQUEST_TTL_SECONDS * 1000);
  await runtime.store.recordAuthnRequest(connection.id, requestId, expiresAt, { purpose: 'setup-test', setupLinkHash: link.hash });
  return { redirectUrl, requestId, acsUrl: endpoints.acsUrl, expiresInSeconds: TEST_REQUEST_TTL_SECONDS };
}

/**
 * Completes a test login at the ACS, when the posting browser's AuthnRequest was recorded as a
 * setup link's test: the response is verified as completely as a login's (signature, audience,
 * recipient, times, InResponseTo bound to this browser, replay cache, the request consumed once),
 * then evaluated as `evaluate` would, writing no user and no session. Returns `undefined` when
 * the browser's request is no test, so the ACS goes on with a login.
 *
 * @throws AppError the codes of `verifySamlResponse`, `saml_in_response_to_mismatch`, `saml_replay`,
 *   `unknown_connection`, and the link's `setup_link_revoked`/`setup_link_expired`.
 */
export async function completeSetupTest(
  runtime: Runtime,
  connectionId: string,
  samlResponse: string | undefined,
  browserRequestId: string | undefined,
): Promise<{ link: SetupLink; result: SetupTestResult } | undefined> {
  if (!browserRequestId) return undefined;
  const pending = await runtime.store.authnRequestPurpose(connectionId, browserRequestId);
  if (pending?.purpose !== 'setup-test') return undefined;
  const now = runtime.clock();
  const { link, connection } = await openSetupTest(runtime, pending.setupLinkHash, connectionId, 'saml');
  if (!samlResponse) throw new AppError('invalid_request', 'the form field SAMLResponse is missing');
  const assertion = await verifySamlResponse(samlResponse, await samlChecks(runtime, connection, now));
  if (assertion.inResponseTo !== browserRequestId) {
    throw new AppError('saml_in_response_to_mismatch', 'this response does not answer the test login started in this browser');
  }
  await runtime.store.consumeAssertion({
    connectionId,
    issuer: assertion.issuer,
    assertionId: assertion.assertionId,
    replayableUntil: assertion.replayableUntil,
    inResponseTo: assertion.inResponseTo,
    now,
    purpose: 'setup-test',
  });
  // The same evaluation as `evaluate --response`: it verifies the response again (pure, no
  // writes) and reads the users as stored, so the admin sees exactly what a login would do.
  return { link, result: await recordSetupTest(runtime, link, connection, await evaluateSamlResponse(runtime, connection, samlResponse, now), now) };
}
