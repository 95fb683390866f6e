import { runtimeFromEnvironment, type Runtime } from './core/runtime';
import { completeSamlLogin, samlMetadata, startSamlLogin } from './core/saml/login';
import { completeSetupTest } from './core/saml/setup-test';
import { acsCookie, logger, cookieValue, formFields, httpHandler, pathConnectionId, redirect, signedInRedirect, SAML_REQUEST_COOKIE, SETUP_RETURN_COOKIE } from './http';
import { setupTestAnswer } from './setup-answer';
import { instrumentRuntime } from './observability';

export { SAML_REQUEST_COOKIE } from './http';

/** The SAML routes: SP metadata, SP-initiated login, and the ACS. */
export function createSamlHandler(runtime: Runtime) {
  const requestCookie = (acsUrl: string, requestId: string, maxAge: number) => acsCookie(SAML_REQUEST_COOKIE, requestId, acsUrl, maxAge, runtime.config.publicBaseUrl);

  return httpHandler({
    'GET /saml/{connectionId}/metadata': async (event) => ({
      statusCode: 200,
      headers: { 'content-type': 'application/samlmetadata+xml; charset=utf-8' },
      body: await samlMetadata(runtime, pathConnectionId(event)),
    }),

    'GET /saml/{connectionId}/login': async (event) => {
      const login = await startSamlLogin(runtime, pathConnectionId(event), event.queryStringParameters?.return_to);
      return redirect(302, login.redirectUrl, [requestCookie(login.acsUrl, login.requestId, login.expiresInSeconds)]);
    },

    'POST /saml/{connectionId}/acs': async (event) => {
      const form = formFields(event, runtime.config.maxBodyBytes);
      const browserRequestId = cookieValue(event, SAML_REQUEST_COOKIE);
      // Only a browser that started a setup link's test carries its cookie, so a login costs no
      // read to tell it from a test (a test's request, posted without it, cannot complete a login).
      const setupToken = cookieValue(event, SETUP_RETURN_COOKIE);
      const test = setupToken === undefined ? undefined : await completeSetupTest(runtime, pathConnectionId(event), form.get('SAMLResponse'), browserRequestId);
      if (test) {
        const acsUrl = `${runtime.config.publicBaseUrl}${event.rawPath}`;
        const clear = [requestCookie(acsUrl, '', 0), acsCookie(SETUP_RETURN_COOKIE, '', acsUrl, 0, runtime.config.publicBaseUrl)];
        return setupTestAnswer(test.link, setupToken, runtime.config.publicBaseUrl, clear);
      }
      const session = await completeSamlLogin(
        runtime,
        pathConnectionId(event),
        { samlResponse: form.get('SAMLResponse'), relayState: form.get('RelayState') },
        browserRequestId,
      );
      const result = signedInRedirect(session, runtime.clock(), runtime.config.publicBaseUrl);
      return { ...result, cookies: [...(result.cookies ?? []), requestCookie(session.acsUrl, '', 0)] };
    },
  }, { appUrl: runtime.config.sessionAudience });
}

export const handler = createSamlHandler(instrumentRuntime(await runtimeFromEnvironment(process.env), logger));
