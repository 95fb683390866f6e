/**
 * `npm start`: the service on http://localhost:3000, running the same Lambda handlers behind a
 * thin adapter that builds API Gateway v2 events, on Amazon's DynamoDB Local (data kept in
 * .local/, so users survive a restart), with a local signing key, a demo tenant and a built-in
 * development SAML IdP.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { createDocumentClient, createStore, ensureTable } from '../functions/core/store';
import { GROUP_ENTRIES, ROUTES, type RouteGroup } from '../functions/routes';
import { AppError, toProblem } from '../functions/core/errors';
import { problemResponse } from '../functions/http';
import { toApiGatewayEvent } from '../local/api-gateway-event';
import { createDemoApp } from '../local/demo-app';
import { DEMO_POLICY, seedDemoPersonas } from '../local/dev-personas';
import { createDevSamlIdp } from '../local/dev-saml-idp';
import { startDevOidcProvider } from '../local/dev-oidc-provider';
import { startDynamoDbLocal } from '../local/dynamodb-local';

const PORT = Number(process.env.PORT ?? 3000);
const BASE_URL = `http://localhost:${PORT}`;
// LOCAL_DATA_DIR: another data directory, so the browser tests' server never shares a running npm start's.
const DATA = process.env.LOCAL_DATA_DIR ? pathToFileURL(`${process.env.LOCAL_DATA_DIR.replace(/\/$/, '')}/`) : new URL('../.local/', import.meta.url);
const TABLE_NAME = 'sso-local';
const DEMO_CONNECTION = 'demo-saml';
const DEMO_OIDC_CONNECTION = 'demo-oidc';
const OIDC_PROVIDER_PORT = Number(process.env.OIDC_PROVIDER_PORT ?? PORT + 1);

mkdirSync(new URL('dynamodb/', DATA), { recursive: true });
const dynamo = await startDynamoDbLocal({ path: new URL('dynamodb/', DATA).pathname });
// The admin CLI uses this instance while it runs: two DynamoDB Local processes on one data directory deadlock on writes.
writeFileSync(new URL('dynamodb-endpoint.json', DATA), JSON.stringify({ endpoint: dynamo.endpoint, pid: process.pid }));
const client = createDocumentClient({ endpoint: dynamo.endpoint });
await ensureTable(client, TABLE_NAME);

const devOidc = await startDevOidcProvider({ port: OIDC_PROVIDER_PORT, redirectUris: [`${BASE_URL}/oidc/${DEMO_OIDC_CONNECTION}/callback`] });
const secretsFile = new URL('secrets.json', DATA);
writeFileSync(secretsFile, JSON.stringify({ 'demo-oidc-client-secret': devOidc.clientSecret }), { mode: 0o600 });

Object.assign(process.env, {
  LOCAL_SECRETS_FILE: secretsFile.pathname,
  TABLE_NAME,
  DYNAMODB_ENDPOINT: dynamo.endpoint,
  PUBLIC_BASE_URL: BASE_URL,
  SESSION_AUDIENCE: BASE_URL,
  LOCAL_SIGNING_KEY_FILE: new URL('signing-key.json', DATA).pathname,
  AWS_REGION: process.env.AWS_REGION ?? 'local',
});

const devIdp = createDevSamlIdp({
  baseUrl: BASE_URL,
  keyFile: new URL('../test/fixtures/keys/idp.key.pem', import.meta.url),
  certFile: new URL('../test/fixtures/keys/idp.cert.pem', import.meta.url),
  spEntityId: (acsUrl) => acsUrl.replace(/\/acs$/, '/metadata'),
});

const store = createStore({ tableName: TABLE_NAME, client });
await store.putTenant({ id: 'demo', name: 'Demo Inc.' });
await store.putConnection({
  id: DEMO_CONNECTION,
  tenantId: 'demo',
  protocol: 'saml',
  enabled: true,
  displayName: 'Development SAML IdP',
  idpEntityId: devIdp.entityId,
  idpSsoUrl: devIdp.ssoUrl,
  idpCertificates: [devIdp.certificate],
  clockSkewSeconds: 120,
  allowIdpInitiated: false,
  allowSha1: false,
  returnToAllowlist: [`${BASE_URL}/`],
  ...DEMO_POLICY,
});

await store.putConnection({
  id: DEMO_OIDC_CONNECTION,
  tenantId: 'demo',
  protocol: 'oidc',
  enabled: true,
  displayName: 'Development OpenID Provider',
  issuer: devOidc.issuer,
  clientId: devOidc.clientId,
  tokenEndpointAuthMethod: 'client_secret_basic',
  clientSecretName: 'demo-oidc-client-secret',
  scopes: ['openid', 'email', 'profile', 'groups'],
  returnToAllowlist: [`${BASE_URL}/`],
  ...DEMO_POLICY,
});

await seedDemoPersonas(store, { tenantId: 'demo', defaultConnectionId: DEMO_CONNECTION, now: new Date() });
const demoApp = createDemoApp({ baseUrl: BASE_URL, samlConnectionId: DEMO_CONNECTION, oidcConnectionId: DEMO_OIDC_CONNECTION });

type LambdaHandler = (event: unknown, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;
const handlers = Object.fromEntries(
  await Promise.all(
    (Object.keys(GROUP_ENTRIES) as RouteGroup[]).map(async (group) => {
      const module = (await import(`../${GROUP_ENTRIES[group]}`)) as { handler: LambdaHandler };
      return [group, module.handler] as const;
    }),
  ),
) as Record<RouteGroup, LambdaHandler>;

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(response: ServerResponse, result: APIGatewayProxyStructuredResultV2): void {
  response.statusCode = result.statusCode ?? 200;
  for (const [name, value] of Object.entries(result.headers ?? {})) response.setHeader(name, String(value));
  if (result.cookies?.length) response.setHeader('set-cookie', result.cookies);
  response.end(result.isBase64Encoded ? Buffer.from(result.body ?? '', 'base64') : (result.body ?? ''));
}

const server = createServer(async (request, response) => {
  try {
    const url = new URL(request.url ?? '/', BASE_URL);
    const body = request.method === 'POST' ? await readBody(request) : undefined;
    if (url.pathname === '/') return send(response, { statusCode: 200, headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }, body: demoApp.home(request.headers.cookie) });
    if (url.pathname === new URL(devIdp.ssoUrl).pathname) {
      const page = await devIdp.handle(request.method ?? 'GET', url, new URLSearchParams(body ?? ''));
      return send(response, { statusCode: page.status, headers: { 'content-type': 'text/html; charset=utf-8' }, body: page.html });
    }
    const event = toApiGatewayEvent({ method: request.method ?? 'GET', url: request.url ?? '/', headers: request.headers as Record<string, string>, ...(body === undefined ? {} : { body }) });
    const route = event && ROUTES.find((r) => `${r.method} ${r.path}` === event.routeKey);
    if (!event || !route) return send(response, problemResponse(toProblem(new AppError('not_found', `nothing is served at ${url.pathname}`)), request.headers.accept, { links: { app: `${BASE_URL}/` } }));
    send(response, await handlers[route.group](event, { awsRequestId: event.requestContext.requestId } as Context));
  } catch (error) {
    console.error(error);
    send(response, { statusCode: 500, body: 'internal error' });
  }
});

server.listen(PORT, () => {
  console.log(`
SSO callback service running on ${BASE_URL} (DynamoDB Local at ${dynamo.endpoint}, data in ${DATA.pathname})

  Log in end to end:  open ${BASE_URL}/ and click "Sign in with SAML" (connection "${DEMO_CONNECTION}"),
                      "Sign in with OIDC" (connection "${DEMO_OIDC_CONNECTION}", provider at ${devOidc.issuer})
                      or "Sign in with my work email" (any address @demo.example: home-realm discovery);
                      both IdPs offer personas: an admin, a member, an outsider, no email, deactivated
  Discovery:          ${BASE_URL}/login?email=ada@demo.example
  SP metadata:        ${BASE_URL}/saml/${DEMO_CONNECTION}/metadata
  Your session:       curl -H 'authorization: Bearer <the sso_session cookie>' ${BASE_URL}/session
                      (the demo page shows the token's claims; the browser's dev tools show the cookie)
  JWKS:               ${BASE_URL}/.well-known/jwks.json

Press Ctrl+C to stop.`);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close();
    void devOidc.stop();
    void dynamo.stop().then(() => process.exit(0));
  });
}
