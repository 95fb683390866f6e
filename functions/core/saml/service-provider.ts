import type { SamlConnection, SpKey } from '../model';
import { signedRedirectQuery } from './redirect-signature';

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

/** Whether the connection's AuthnRequests are signed: the admin asked for it, or the IdP's metadata wants it. */
export function signsAuthnRequests(connection: SamlConnection): boolean {
  return connection.signAuthnRequests === true || connection.idpWantsAuthnRequestsSigned === true;
}

/** The connection's SP keys of one use, newest first. */
export function spKeysFor(connection: SamlConnection, use: SpKey['use']): SpKey[] {
  return (connection.spKeys ?? []).filter((key) => key.use === use).reverse();
}

/** The secrets holding the SP's decryption keys, newest first (the one set by hand last); none for a connection without encryption. */
export function decryptionKeySecrets(connection: SamlConnection): string[] {
  return [...spKeysFor(connection, 'encryption').map((key) => key.secretName), ...(connection.spDecryptionKeySecret ? [connection.spDecryptionKeySecret] : [])];
}

type Samlify = typeof import('samlify');

let samlifyModule: Promise<Samlify> | undefined;

/**
 * samlify, loaded on first use: only the routes that build AuthnRequests and metadata need it, and
 * it is a heavy import that the ACS (which verifies without it) should not pay for at cold start.
 */
function samlify(): Promise<Samlify> {
  // samlify is CommonJS: its exports are the namespace's default wherever it is loaded from.
  samlifyModule ??= import('samlify').then((module) => (module as { default?: Samlify }).default ?? module);
  return samlifyModule;
}

function serviceProvider({ Constants, ServiceProvider }: Samlify, connection: SamlConnection, endpoints: SpEndpoints, forMetadata: boolean) {
  const encryptCerts = [...(connection.spEncryptionCertificate ? [connection.spEncryptionCertificate] : []), ...spKeysFor(connection, 'encryption').reverse().map((k) => k.certificate)];
  const signingCerts = spKeysFor(connection, 'signing').reverse().map((k) => k.certificate);
  return ServiceProvider({
    entityID: endpoints.spEntityId,
    assertionConsumerService: [{ Binding: Constants.namespace.binding.post, Location: endpoints.acsUrl }],
    // Requests are signed here (signedRedirectQuery), never by samlify: it only builds them unsigned.
    authnRequestsSigned: forMetadata && signsAuthnRequests(connection),
    wantAssertionsSigned: true,
    nameIDFormat: [Constants.namespace.format.emailAddress, Constants.namespace.format.persistent, Constants.namespace.format.unspecified],
    ...(forMetadata && signingCerts.length ? { signingCert: signingCerts } : {}),
    ...(forMetadata && encryptCerts.length ? { encryptCert: encryptCerts, isAssertionEncrypted: true } : {}),
  });
}

/**
 * Builds an SP-initiated AuthnRequest for the HTTP-Redirect binding; with `signingKey` (a PEM
 * private key), the query is signed as SAML Bindings 3.4.4.1 says (see `signedRedirectQuery`).
 * @returns the request id (to be stored for InResponseTo) and the IdP URL to redirect to.
 */
export async function createAuthnRequest(
  connection: SamlConnection,
  endpoints: SpEndpoints,
  relayState: string,
  signingKey?: string,
): Promise<{ requestId: string; redirectUrl: string }> {
  const library = await samlify();
  const { Constants, IdentityProvider } = library;
  const { id, context } = quietSamlify(() => {
    const idp = IdentityProvider({
      entityID: connection.idpEntityId,
      singleSignOnService: [{ Binding: Constants.namespace.binding.redirect, Location: connection.idpSsoUrl }],
      wantAuthnRequestsSigned: false,
    });
    return serviceProvider(library, connection, endpoints, false).createLoginRequest(idp, 'redirect', { relayState });
  });
  if (signingKey === undefined) return { requestId: id, redirectUrl: context };
  const samlRequest = new URL(context).searchParams.get('SAMLRequest');
  if (!samlRequest) throw new Error('samlify built a redirect URL without SAMLRequest');
  const query = signedRedirectQuery({ samlRequest, ...(relayState ? { relayState } : {}) }, signingKey);
  return { requestId: id, redirectUrl: `${connection.idpSsoUrl}${connection.idpSsoUrl.includes('?') ? '&' : '?'}${query}` };
}

/** SP metadata an IdP admin can import: entity id, ACS URL (HTTP-POST), and the SP's signing and encryption certificates. */
export async function spMetadata(connection: SamlConnection, endpoints: SpEndpoints): Promise<string> {
  const library = await samlify();
  return quietSamlify(() => serviceProvider(library, connection, endpoints, true).getMetadata());
}
