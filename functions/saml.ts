import { AppError } from './core/errors';
import { runtimeFromEnvironment, type Runtime } from './core/runtime';
import { completeSamlLogin, samlMetadata, startSamlLogin } from './core/saml/login';
import { formFields, httpHandler, redirect, sessionCookie, type HttpEvent } from './http';

function connectionId(event: HttpEvent): string {
  const id = event.pathParameters?.connectionId;
  if (!id) throw new AppError('unknown_connection', 'the path names no connection');
  return id;
}

/** The SAML routes: SP metadata, SP-initiated login, and the ACS. */
export function createSamlHandler(runtime: Runtime) {
  return httpHandler({
    'GET /saml/{connectionId}/metadata': async (event) => ({
      statusCode: 200,
      headers: { 'content-type': 'application/samlmetadata+xml; charset=utf-8' },
      body: await samlMetadata(runtime, connectionId(event)),
    }),

    'GET /saml/{connectionId}/login': async (event) =>
      redirect(302, await startSamlLogin(runtime, connectionId(event), event.queryStringParameters?.return_to)),

    'POST /saml/{connectionId}/acs': async (event) => {
      const form = formFields(event, runtime.config.maxBodyBytes);
      const { token, expiresAt, returnTo } = await completeSamlLogin(runtime, connectionId(event), {
        samlResponse: form.get('SAMLResponse') ?? undefined,
        relayState: form.get('RelayState') ?? undefined,
      });
      const maxAge = expiresAt - Math.floor(runtime.clock().getTime() / 1000);
      return redirect(303, returnTo, [sessionCookie(token, maxAge, runtime.config.publicBaseUrl)]);
    },
  });
}

export const handler = createSamlHandler(await runtimeFromEnvironment(process.env));
