import type { Runtime } from './core/runtime';
import { runtimeFromEnvironment } from './core/runtime';
import { isAppError } from './core/errors';
import { allowedReturnTo, checkSession, revokeSessionToken } from './core/sessions';
import { sessionContext } from './core/sign-in';
import { discoverLogin } from './core/discovery';
import { AppError } from './core/errors';
import { logger, httpHandler, json, prefersHtml, redirect, sessionCookie, sessionToken } from './http';
import { emailPage } from './pages';
import { instrumentRuntime } from './observability';

/** Health, the JWKS, and the session routes a SaaS front end calls. */
export function createSessionHandler(runtime: Runtime) {
  const context = () => sessionContext(runtime, runtime.clock());
  const clearedCookie = sessionCookie('', 0, runtime.config.publicBaseUrl);

  return httpHandler({
    'GET /login': async (event) => {
      const { email, return_to: returnTo } = event.queryStringParameters ?? {};
      if (!email) {
        if (!prefersHtml(event.headers?.accept)) throw new AppError('invalid_request', 'the query parameter email is missing');
        return { statusCode: 200, headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }, body: emailPage(returnTo) };
      }
      return redirect(302, (await discoverLogin(runtime, email, returnTo)).location);
    },

    'GET /health': async () => json(200, { status: 'ok' }),

    'GET /.well-known/jwks.json': async () =>
      json(200, { keys: await runtime.signer.publicJwks() }, { 'cache-control': 'public, max-age=300' }),

    // What an API Gateway JWT authorizer (or any OIDC-aware verifier) fetches to find the JWKS.
    'GET /.well-known/openid-configuration': async () =>
      json(
        200,
        {
          issuer: runtime.config.sessionIssuer,
          jwks_uri: `${runtime.config.publicBaseUrl}/.well-known/jwks.json`,
          id_token_signing_alg_values_supported: ['ES256'],
        },
        { 'cache-control': 'public, max-age=300' },
      ),

    'GET /session': async (event) => {
      const { user, session } = await checkSession(context(), sessionToken(event));
      return json(200, {
        user: { id: user.id, tenantId: user.tenantId, email: user.email, name: user.name, roles: user.roles, attributes: user.attributes },
        session: { id: session.id, connectionId: session.connectionId, amr: [session.amr], createdAt: session.createdAt, expiresAt: new Date(session.expiresAt * 1000).toISOString() },
      });
    },

    'POST /session/logout': async (event) => {
      const token = sessionToken(event);
      // Logging out is idempotent: a token that is not (or no longer) ours just loses its cookie.
      const claims = token
        ? await revokeSessionToken(context(), token).catch((error: unknown) => {
            if (isAppError(error, 'unauthenticated')) return undefined;
            throw error;
          })
        : undefined;
      const returnTo = event.queryStringParameters?.return_to;
      if (returnTo && claims) {
        const connection = await runtime.store.getConnection(claims.idp);
        return redirect(303, allowedReturnTo(returnTo, connection?.returnToAllowlist ?? []), [clearedCookie]);
      }
      return { statusCode: 204, cookies: [clearedCookie], headers: { 'cache-control': 'no-store' }, body: '' };
    },
  }, { appUrl: runtime.config.sessionAudience });
}

export const handler = createSessionHandler(instrumentRuntime(await runtimeFromEnvironment(process.env), logger));
