import type { Runtime } from './core/runtime';
import { runtimeFromEnvironment } from './core/runtime';
import { allowedReturnTo, checkSession, revokeSessionToken, SESSION_COOKIE } from './core/sessions';
import { sessionContext } from './core/sign-in';
import { httpHandler, json, redirect, sessionToken } from './http';

/** Health, the JWKS, and the session routes a SaaS front end calls. */
export function createSessionHandler(runtime: Runtime) {
  const context = () => sessionContext(runtime, runtime.clock());
  const clearedCookie = `${SESSION_COOKIE}=; HttpOnly${runtime.config.publicBaseUrl.startsWith('https://') ? '; Secure' : ''}; SameSite=Lax; Path=/; Max-Age=0`;

  return httpHandler({
    'GET /health': async () => json(200, { status: 'ok' }),

    'GET /.well-known/jwks.json': async () =>
      json(200, { keys: await runtime.signer.publicJwks() }, { 'cache-control': 'public, max-age=300' }),

    'GET /session': async (event) => {
      const { user, session } = await checkSession(context(), sessionToken(event));
      return json(200, {
        user: { id: user.id, tenantId: user.tenantId, email: user.email, name: user.name, roles: user.roles, attributes: user.attributes },
        session: { id: session.id, connectionId: session.connectionId, amr: [session.amr], createdAt: session.createdAt, expiresAt: new Date(session.expiresAt * 1000).toISOString() },
      });
    },

    'POST /session/logout': async (event) => {
      const token = sessionToken(event);
      const claims = token ? await revokeSessionToken(context(), token) : undefined;
      const returnTo = event.queryStringParameters?.return_to;
      if (returnTo && claims) {
        const connection = await runtime.store.getConnection(claims.idp);
        return redirect(303, allowedReturnTo(returnTo, connection?.returnToAllowlist ?? []), [clearedCookie]);
      }
      return { statusCode: 204, cookies: [clearedCookie], headers: { 'cache-control': 'no-store' }, body: '' };
    },
  });
}

export const handler = createSessionHandler(await runtimeFromEnvironment(process.env));
