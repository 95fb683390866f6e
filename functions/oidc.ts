import { completeOidcLogin, startOidcLogin } from './core/oidc/login';
import { completeOidcSetupTest } from './core/oidc/setup-test';
import { runtimeFromEnvironment, type Runtime } from './core/runtime';
import { callbackCookie, cookieValue, httpHandler, logger, OIDC_STATE_COOKIE, pathConnectionId, redirect, signedInRedirect, SETUP_RETURN_COOKIE } from './http';
import { setupTestAnswer } from './setup-answer';
import { instrumentRuntime } from './observability';

/** The OIDC routes: the login redirect and the callback (which also ends a setup link's test login). */
export function createOidcHandler(runtime: Runtime) {
  const base = runtime.config.publicBaseUrl;

  return httpHandler({
    'GET /oidc/{connectionId}/login': async (event) => {
      const id = pathConnectionId(event);
      const { redirectUrl, state } = await startOidcLogin(runtime, id, event.queryStringParameters?.return_to);
      return redirect(302, redirectUrl, [callbackCookie(OIDC_STATE_COOKIE, state, id, 10 * 60, base)]);
    },

    'GET /oidc/{connectionId}/callback': async (event) => {
      const id = pathConnectionId(event);
      // openid-client reads code, state and iss from the URL the provider redirected to.
      const callbackUrl = new URL(`${base}/oidc/${encodeURIComponent(id)}/callback?${event.rawQueryString ?? ''}`);
      const browserState = cookieValue(event, OIDC_STATE_COOKIE);
      const clearState = callbackCookie(OIDC_STATE_COOKIE, '', id, 0, base);
      // Only a browser that started a setup link's test carries its cookie, so a login costs no
      // read to tell it from a test (a test's state, sent without it, cannot complete a login).
      const setupToken = cookieValue(event, SETUP_RETURN_COOKIE);
      const test = setupToken === undefined ? undefined : await completeOidcSetupTest(runtime, id, callbackUrl, browserState);
      if (test) return setupTestAnswer(test.link, setupToken, base, [clearState, callbackCookie(SETUP_RETURN_COOKIE, '', id, 0, base)]);
      const session = await completeOidcLogin(runtime, id, callbackUrl, browserState);
      const result = signedInRedirect(session, runtime.clock(), base);
      return { ...result, cookies: [...(result.cookies ?? []), clearState] };
    },
  }, { appUrl: runtime.config.sessionAudience });
}

export const handler = createOidcHandler(instrumentRuntime(await runtimeFromEnvironment(process.env), logger));
