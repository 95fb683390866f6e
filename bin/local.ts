/**
 * `npm start`: the service on http://localhost:3000, running the same Lambda handlers behind a
 * thin adapter that builds API Gateway v2 events, on Amazon's DynamoDB Local (data kept in
 * .local/, so users survive a restart), with a local signing key, a demo tenant and a built-in
 * development SAML IdP.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { DEFAULT_ATTRIBUTE_MAPPING } from '../functions/core/provisioning';
import { createDocumentClient, createStore, ensureTable } from '../functions/core/store/store';
import { GROUP_ENTRIES, ROUTES, type RouteGroup } from '../functions/routes';
import { toApiGatewayEvent } from '../local/api-gateway-event';
import { createDevSamlIdp } from '../local/dev-saml-idp';
import { startDevOidcProvider } from '../local/dev-oidc-provider';
import { startDynamoDbLocal } from '../local/dynamodb-local';

const PORT = Number(process.env.PORT ?? 3000);
const BASE_URL = `http://localhost:${PORT}`;
const DATA = new URL('../.local/', import.meta.url);
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
  attributeMapping: DEFAULT_ATTRIBUTE_MAPPING,
  roles: { defaults: ['member'] },
  returnToAllowlist: [`${BASE_URL}/`],
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
  attributeMapping: DEFAULT_ATTRIBUTE_MAPPING,
  roles: { defaults: ['member'] },
  returnToAllowlist: [`${BASE_URL}/`],
});

type LambdaHandler = (event: unknown, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;
const handlers = Object.fromEntries(
  await Promise.all(
    (Object.keys(GROUP_ENTRIES) as RouteGroup[]).map(async (group) => {
      const module = (await import(`../${GROUP_ENTRIES[group]}`)) as { handler: LambdaHandler };
      return [group, module.handler] as const;
    }),
  ),
) as Record<RouteGroup, LambdaHandler>;

const HOME = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>SSO, locally</title>
<style>body{font:16px system-ui;max-width:40rem;margin:3rem auto}pre{background:#f4f4f4;padding:1rem;overflow:auto}</style></head>
<body><h1>SSO callback service, locally</h1>
<p><a href="/saml/${DEMO_CONNECTION}/login?return_to=${encodeURIComponent(`${BASE_URL}/`)}">Sign in with the development SAML IdP</a>
 · <a href="/oidc/${DEMO_OIDC_CONNECTION}/login?return_to=${encodeURIComponent(`${BASE_URL}/`)}">Sign in with the development OpenID Provider</a>
 · <a href="/saml/${DEMO_CONNECTION}/metadata">SP metadata</a> · <a href="/.well-known/jwks.json">JWKS</a></p>
<h2>GET /session</h2><pre id="session">…</pre><form method="post" action="/session/logout?return_to=${encodeURIComponent(`${BASE_URL}/`)}"><button>Log out</button></form>
<script>fetch('/session').then(async r => { document.getElementById('session').textContent = r.status + '\\n' + JSON.stringify(await r.json(), null, 2); });</script>
</body></html>`;

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
    const body = ['POST', 'PUT', 'PATCH'].includes(request.method ?? '') ? await readBody(request) : undefined;
    if (url.pathname === '/') return send(response, { statusCode: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: HOME });
    if (url.pathname === new URL(devIdp.ssoUrl).pathname) {
      const page = await devIdp.handle(request.method ?? 'GET', url, new URLSearchParams(body ?? ''));
      return send(response, { statusCode: page.status, headers: { 'content-type': 'text/html; charset=utf-8' }, body: page.html });
    }
    const event = toApiGatewayEvent({ method: request.method ?? 'GET', url: request.url ?? '/', headers: request.headers as Record<string, string>, ...(body === undefined ? {} : { body }) });
    const route = event && ROUTES.find((r) => `${r.method} ${r.path}` === event.routeKey);
    if (!event || !route) return send(response, { statusCode: 404, headers: { 'content-type': 'application/problem+json' }, body: JSON.stringify({ type: 'urn:sso:error:not_found', title: 'There is nothing at this address', status: 404, code: 'not_found' }) });
    send(response, await handlers[route.group](event, { awsRequestId: event.requestContext.requestId } as Context));
  } catch (error) {
    console.error(error);
    send(response, { statusCode: 500, body: 'internal error' });
  }
});

server.listen(PORT, () => {
  console.log(`
SSO callback service running on ${BASE_URL} (DynamoDB Local at ${dynamo.endpoint}, data in .local/)

  Log in end to end:  open ${BASE_URL}/ and click "Sign in with the development SAML IdP"
                      (demo tenant "demo", SAML connection "${DEMO_CONNECTION}")
                      or "Sign in with the development OpenID Provider" (connection "${DEMO_OIDC_CONNECTION}",
                      provider at ${devOidc.issuer}: any login name and password)
  SP metadata:        ${BASE_URL}/saml/${DEMO_CONNECTION}/metadata
  Your session:       curl -b 'sso_session=<token>' ${BASE_URL}/session
  JWKS:               ${BASE_URL}/.well-known/jwks.json
  SCIM 2.0:           ${BASE_URL}/scim/v2 (a bearer token: npm run admin -- scim-tokens issue --tenant demo)

Press Ctrl+C to stop.`);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close();
    void devOidc.stop();
    void dynamo.stop().then(() => process.exit(0));
  });
}
