import { completeOidcLogin, startOidcLogin } from './core/oidc/login';
import { runtimeFromEnvironment, type Runtime } from './core/runtime';
import { logger, cookieValue, httpHandler, pathConnectionId, redirect, signedInRedirect } from './http';
import { instrumentRuntime } from './observability';

const STATE_COOKIE = 'sso_oidc_state';

/** The OIDC routes: the login redirect and the callback. */
export function createOidcHandler(runtime: Runtime) {
  const secure = runtime.config.publicBaseUrl.startsWith('https://') ? '; Secure' : '';
  // Lax reaches the callback (a top-level GET redirect from the provider); the path keeps it there.
  const stateCookie = (id: string, state: string, maxAge: number) =>
    `${STATE_COOKIE}=${state}; HttpOnly${secure}; SameSite=Lax; Path=/oidc/${encodeURIComponent(id)}/callback; Max-Age=${maxAge}`;

  return httpHandler({
    'GET /oidc/{connectionId}/login': async (event) => {
      const id = pathConnectionId(event);
      const { redirectUrl, state } = await startOidcLogin(runtime, id, event.queryStringParameters?.return_to);
      return redirect(302, redirectUrl, [stateCookie(id, state, 10 * 60)]);
    },

    'GET /oidc/{connectionId}/callback': async (event) => {
      const id = pathConnectionId(event);
      // openid-client reads code, state and iss from the URL the provider redirected to.
      const callbackUrl = new URL(`${runtime.config.publicBaseUrl}/oidc/${encodeURIComponent(id)}/callback?${event.rawQueryString ?? ''}`);
      const session = await completeOidcLogin(runtime, id, callbackUrl, cookieValue(event, STATE_COOKIE));
      const result = signedInRedirect(session, runtime.clock(), runtime.config.publicBaseUrl);
      return { ...result, cookies: [...(result.cookies ?? []), stateCookie(id, '', 0)] };
    },
  }, { appUrl: runtime.config.sessionAudience });
}

export const handler = createOidcHandler(instrumentRuntime(await runtimeFromEnvironment(process.env), logger));
