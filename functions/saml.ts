import { runtimeFromEnvironment, type Runtime } from './core/runtime';
import { completeSamlLogin, samlMetadata, startSamlLogin } from './core/saml/login';
import { logger, formFields, httpHandler, pathConnectionId, redirect, signedInRedirect } from './http';
import { instrumentRuntime } from './observability';

/** The SAML routes: SP metadata, SP-initiated login, and the ACS. */
export function createSamlHandler(runtime: Runtime) {
  return httpHandler({
    'GET /saml/{connectionId}/metadata': async (event) => ({
      statusCode: 200,
      headers: { 'content-type': 'application/samlmetadata+xml; charset=utf-8' },
      body: await samlMetadata(runtime, pathConnectionId(event)),
    }),

    'GET /saml/{connectionId}/login': async (event) =>
      redirect(302, await startSamlLogin(runtime, pathConnectionId(event), event.queryStringParameters?.return_to)),

    'POST /saml/{connectionId}/acs': async (event) => {
      const form = formFields(event, runtime.config.maxBodyBytes);
      const session = await completeSamlLogin(runtime, pathConnectionId(event), {
        samlResponse: form.get('SAMLResponse') ?? undefined,
        relayState: form.get('RelayState') ?? undefined,
      });
      return signedInRedirect(session, runtime.clock(), runtime.config.publicBaseUrl);
    },
  });
}

export const handler = createSamlHandler(instrumentRuntime(await runtimeFromEnvironment(process.env), logger));
