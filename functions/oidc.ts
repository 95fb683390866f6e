import { completeOidcLogin, startOidcLogin } from './core/oidc/login';
import { runtimeFromEnvironment, type Runtime } from './core/runtime';
import { httpHandler, pathConnectionId, redirect, signedInRedirect } from './http';

/** The OIDC routes: the login redirect and the callback. */
export function createOidcHandler(runtime: Runtime) {
  return httpHandler({
    'GET /oidc/{connectionId}/login': async (event) =>
      redirect(302, await startOidcLogin(runtime, pathConnectionId(event), event.queryStringParameters?.return_to)),

    'GET /oidc/{connectionId}/callback': async (event) => {
      const id = pathConnectionId(event);
      // openid-client reads code, state and iss from the URL the provider redirected to.
      const callbackUrl = new URL(`${runtime.config.publicBaseUrl}/oidc/${encodeURIComponent(id)}/callback?${event.rawQueryString ?? ''}`);
      const session = await completeOidcLogin(runtime, id, callbackUrl);
      return signedInRedirect(session, runtime.clock(), runtime.config.publicBaseUrl);
    },
  });
}

export const handler = createOidcHandler(await runtimeFromEnvironment(process.env));
