import { runtimeFromEnvironment, type Runtime } from './core/runtime';
import { completeSamlLogin, samlMetadata, startSamlLogin } from './core/saml/login';
import { logger, cookieValue, formFields, httpHandler, pathConnectionId, redirect, signedInRedirect } from './http';

/**
 * Binds an SP-initiated login to the browser that started it. Its value is the AuthnRequest id
 * itself: it need not be secret (it also travels to the IdP in the URL), only set by this host
 * alone (it is host-only). A keyed value would add nothing, since an attacker gets a genuine one
 * by starting a login.
 */
export const SAML_REQUEST_COOKIE = 'sso_saml_request';
import { instrumentRuntime } from './observability';

/** The SAML routes: SP metadata, SP-initiated login, and the ACS. */
export function createSamlHandler(runtime: Runtime) {
  // The IdP's POST to the ACS is cross-site, which only SameSite=None (and so Secure) survives;
  // the plain-http local server's development IdP is same-site, where Lax reaches it.
  const sameSite = runtime.config.publicBaseUrl.startsWith('https://') ? 'SameSite=None; Secure' : 'SameSite=Lax';
  const requestCookie = (acsUrl: string, requestId: string, maxAge: number) =>
    `${SAML_REQUEST_COOKIE}=${requestId}; HttpOnly; ${sameSite}; Path=${new URL(acsUrl).pathname}; Max-Age=${maxAge}`;

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
      const session = await completeSamlLogin(
        runtime,
        pathConnectionId(event),
        { samlResponse: form.get('SAMLResponse'), relayState: form.get('RelayState') },
        cookieValue(event, SAML_REQUEST_COOKIE),
      );
      const result = signedInRedirect(session, runtime.clock(), runtime.config.publicBaseUrl);
      return { ...result, cookies: [...(result.cookies ?? []), requestCookie(session.acsUrl, '', 0)] };
    },
  }, { appUrl: runtime.config.sessionAudience });
}

export const handler = createSamlHandler(instrumentRuntime(await runtimeFromEnvironment(process.env), logger));
