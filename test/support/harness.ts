import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { loadConfig } from '../../functions/core/config';
import type { OidcConnection, SamlConnection } from '../../functions/core/model';
import { DEFAULT_ATTRIBUTE_MAPPING } from '../../functions/core/provisioning';
import type { Runtime } from '../../functions/core/runtime';
import { createInMemoryPublisher } from '../../functions/core/events';
import { createInMemorySecrets } from '../../functions/core/secrets';
import { createLocalSigner, generateLocalSigningKey, type SessionSigner } from '../../functions/core/signing';
import { createDocumentClient, createStore, type Store } from '../../functions/core/store/store';
import { adaptRequest, type PlainRequest } from '../../local/api-gateway-event';
import type { IssueResponseOptions } from '../../local/saml-idp';

export const keys = {
  read: (name: string) => readFileSync(new URL(`../fixtures/keys/${name}`, import.meta.url), 'utf8'),
};

export const idpKey = keys.read('idp.key.pem');
export const idpCert = keys.read('idp.cert.pem');

let sharedSigner: Promise<SessionSigner> | undefined;
let sharedStore: Store | undefined;

/** The store on the DynamoDB Local that the global setup started. */
export function testStore(): Store {
  sharedStore ??= createStore({
    tableName: process.env.TABLE_NAME!,
    // One client for the whole suite, whose races send hundreds of requests at once: no per-attempt bound.
    client: createDocumentClient({ endpoint: process.env.DYNAMODB_ENDPOINT!, timeouts: false }),
  });
  return sharedStore;
}

/** A runtime on DynamoDB Local (the global one, or `store`) with a local signing key and a clock the test controls. */
export async function testRuntime(
  options: { now?: () => Date; secrets?: Record<string, string>; audience?: string; publicBaseUrl?: string; log?: Runtime['log']; store?: Store } = {},
): Promise<Runtime & { events: ReturnType<typeof createInMemoryPublisher> }> {
  sharedSigner ??= generateLocalSigningKey().then(createLocalSigner);
  const config = loadConfig({
    ...process.env,
    ...(options.audience ? { SESSION_AUDIENCE: options.audience } : {}),
    ...(options.publicBaseUrl ? { PUBLIC_BASE_URL: options.publicBaseUrl } : {}),
  });
  return {
    config,
    store: options.store ?? testStore(),
    signer: await sharedSigner,
    secrets: createInMemorySecrets({ 'sp-encryption-key': keys.read('sp-encryption.key.pem'), ...options.secrets }),
    clock: options.now ?? (() => new Date()),
    log: options.log ?? (() => undefined),
    events: createInMemoryPublisher(),
  };
}

/** A new tenant and SAML connection with unique ids, trusting the test IdP's key. */
export async function createSamlConnection(
  runtime: Runtime,
  overrides: Partial<SamlConnection> = {},
  tenant: { seatLimit?: number } = {},
): Promise<SamlConnection> {
  const tenantId = overrides.tenantId ?? `tenant-${randomUUID()}`;
  const connection: SamlConnection = {
    id: `saml-${randomUUID()}`,
    tenantId,
    protocol: 'saml',
    enabled: true,
    idpEntityId: 'https://idp.example.test/metadata',
    idpSsoUrl: 'https://idp.example.test/sso',
    idpCertificates: [idpCert],
    clockSkewSeconds: 120,
    allowIdpInitiated: false,
    allowSha1: false,
    attributeMapping: DEFAULT_ATTRIBUTE_MAPPING,
    roles: { defaults: ['member'] },
    returnToAllowlist: ['https://app.example.test/'],
    ...overrides,
  };
  await runtime.store.putTenant({ id: tenantId, name: `Tenant ${tenantId}`, ...(tenant.seatLimit === undefined ? {} : { seatLimit: tenant.seatLimit }) });
  await runtime.store.putConnection(connection);
  return connection;
}

/** An OIDC connection to a test provider, with the defaults the tests share. */
export function oidcConnection(
  base: Pick<OidcConnection, 'id' | 'tenantId' | 'issuer' | 'clientId' | 'clientSecretName'>,
  overrides: Partial<OidcConnection> = {},
): OidcConnection {
  return {
    ...base,
    protocol: 'oidc',
    enabled: true,
    tokenEndpointAuthMethod: 'client_secret_basic',
    scopes: ['openid', 'email', 'profile', 'groups'],
    attributeMapping: DEFAULT_ATTRIBUTE_MAPPING,
    roles: { defaults: ['member'] },
    returnToAllowlist: ['https://app.example.test/'],
    ...overrides,
  };
}

/** The options for the test IdP that make a response this connection accepts. */
export function responseFor(connection: SamlConnection, runtime: Runtime, overrides: Partial<IssueResponseOptions> = {}): IssueResponseOptions {
  const base = `${runtime.config.publicBaseUrl}/saml/${connection.id}`;
  return {
    issuer: connection.idpEntityId,
    audience: connection.spEntityId ?? `${base}/metadata`,
    recipient: connection.acsUrl ?? `${base}/acs`,
    nameId: `user-${randomUUID()}@example.test`,
    issueInstant: runtime.clock(),
    signingKey: idpKey,
    signingCert: idpCert,
    ...overrides,
  };
}

type Handler = (event: never, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

const lambdaContext = { awsRequestId: 'test', functionName: 'test' } as Context;

/**
 * Sends a request through a Lambda handler as API Gateway would; a request API Gateway refuses
 * itself (a malformed path escape) gets the local adapter's answer, and one that matches no route
 * is a mistake of the test.
 */
export async function invoke(handler: Handler, request: PlainRequest): Promise<APIGatewayProxyStructuredResultV2 & { json: () => Record<string, unknown> }> {
  const { event, refusal } = adaptRequest(request);
  if (refusal?.statusCode === 404) throw new Error(`no route for ${request.method} ${request.url}`);
  const result = event ? await handler(event as never, lambdaContext) : refusal;
  return { ...result, json: () => JSON.parse(String(result.body)) as Record<string, unknown> };
}

/**
 * Posts a SAMLResponse (and RelayState) to the ACS of a connection, from a browser that carries
 * the login binding cookie of `browser.requestId` when given (as `/login` would have set it).
 */
export function postAcs(handler: Handler, connectionId: string, samlResponse: string, relayState?: string, browser: { requestId?: string } = {}) {
  const form = new URLSearchParams({ SAMLResponse: samlResponse, ...(relayState === undefined ? {} : { RelayState: relayState }) });
  return invoke(handler, {
    method: 'POST',
    url: `/saml/${connectionId}/acs`,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(browser.requestId === undefined ? {} : { cookie: samlRequestCookie(browser.requestId) }),
    },
    body: form.toString(),
  });
}

/** The Cookie header of a browser whose SP-initiated login sent AuthnRequest `requestId`. */
export function samlRequestCookie(requestId: string): string {
  return `sso_saml_request=${requestId}`;
}

/** The session token a login response set in its cookie. */
export function sessionTokenOf(result: APIGatewayProxyStructuredResultV2): string {
  const cookie = result.cookies?.find((c) => c.startsWith('sso_session='));
  if (!cookie) throw new Error(`no session cookie in a ${result.statusCode} response: ${result.body}`);
  return cookie.slice('sso_session='.length).split(';')[0]!;
}

/** The `code` of a problem+json response. */
export function problemCode(result: APIGatewayProxyStructuredResultV2): string {
  return (JSON.parse(String(result.body)) as { code: string }).code;
}
