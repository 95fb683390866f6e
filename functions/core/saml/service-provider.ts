import { Constants, IdentityProvider, ServiceProvider } from 'samlify';
import type { SamlConnection } from '../model';

/** The SP's own addresses for one connection: derived from the public URL unless the connection overrides them. */
export interface SpEndpoints {
  readonly spEntityId: string;
  readonly acsUrl: string;
}

export function spEndpoints(connection: SamlConnection, publicBaseUrl: string): SpEndpoints {
  const base = `${publicBaseUrl}/saml/${encodeURIComponent(connection.id)}`;
  return {
    spEntityId: connection.spEntityId ?? `${base}/metadata`,
    acsUrl: connection.acsUrl ?? `${base}/acs`,
  };
}

/**
 * samlify writes to the console (`console.warn`, `console.error`) where it should throw or stay
 * silent, and in Lambda those lines reach CloudWatch unstructured. Every samlify call here is
 * synchronous, so the console is redirected for exactly its duration: the warning that every
 * IdP built here has no SingleLogoutService (by design: there is no SLO) is dropped, anything
 * else becomes one structured line.
 */
const EXPECTED_SAMLIFY_WARNINGS = ['missing endpoint of SingleLogoutService'];

function quietSamlify<T>(run: () => T): T {
  const { warn, error, log } = console;
  const redirect = (level: string) => (...args: unknown[]) => {
    const text = args.map((arg) => (arg instanceof Error ? arg.message : String(arg))).join(' ');
    if (EXPECTED_SAMLIFY_WARNINGS.some((expected) => text.includes(expected))) return;
    process.stdout.write(`${JSON.stringify({ timestamp: new Date().toISOString(), level, message: 'samlify', detail: text })}\n`);
  };
  console.warn = redirect('WARN');
  console.error = redirect('ERROR');
  console.log = redirect('INFO');
  try {
    return run();
  } finally {
    Object.assign(console, { warn, error, log });
  }
}

function serviceProvider(connection: SamlConnection, endpoints: SpEndpoints) {
  return ServiceProvider({
    entityID: endpoints.spEntityId,
    assertionConsumerService: [{ Binding: Constants.namespace.binding.post, Location: endpoints.acsUrl }],
    authnRequestsSigned: false,
    wantAssertionsSigned: true,
    nameIDFormat: [Constants.namespace.format.emailAddress, Constants.namespace.format.persistent, Constants.namespace.format.unspecified],
    ...(connection.spEncryptionCertificate ? { encryptCert: connection.spEncryptionCertificate, isAssertionEncrypted: true } : {}),
  });
}

/**
 * Builds an SP-initiated AuthnRequest for the HTTP-Redirect binding.
 * @returns the request id (to be stored for InResponseTo) and the IdP URL to redirect to.
 */
export function createAuthnRequest(
  connection: SamlConnection,
  endpoints: SpEndpoints,
  relayState: string,
): { requestId: string; redirectUrl: string } {
  return quietSamlify(() => {
    const idp = IdentityProvider({
      entityID: connection.idpEntityId,
      singleSignOnService: [{ Binding: Constants.namespace.binding.redirect, Location: connection.idpSsoUrl }],
      wantAuthnRequestsSigned: false,
    });
    const { id, context } = serviceProvider(connection, endpoints).createLoginRequest(idp, 'redirect', { relayState });
    return { requestId: id, redirectUrl: context };
  });
}

/** SP metadata an IdP admin can import: entity id, ACS URL (HTTP-POST), and the encryption certificate if any. */
export function spMetadata(connection: SamlConnection, endpoints: SpEndpoints): string {
  return quietSamlify(() => serviceProvider(connection, endpoints).getMetadata());
}
