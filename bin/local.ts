/**
 * `npm start`: the service on http://localhost:3000, running the same Lambda handlers behind a
 * thin adapter that builds API Gateway v2 events, on Amazon's DynamoDB Local (data kept in
 * .local/, so users survive a restart), with a local signing key, a demo tenant and a built-in
 * development SAML IdP.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { localSecretStore } from '../functions/core/admin/secrets';
import { createDocumentClient, createStore, ensureTable } from '../functions/core/store/store';
import { GROUP_ENTRIES, type RouteGroup } from '../functions/routes';
import { createDemoApp } from '../local/demo-app';
import { seedDemo } from '../local/demo-seed';
import { DEMO_POLICY, seedDemoPersonas } from '../local/dev-personas';
import { createDevSamlIdp } from '../local/dev-saml-idp';
import { startDevOidcProvider } from '../local/dev-oidc-provider';
import { startDynamoDbLocal } from '../local/dynamodb-local';
import { localRequestListener, type LambdaHandler } from '../local/http-server';

const PORT = Number(process.env.PORT ?? 3000);
const BASE_URL = `http://localhost:${PORT}`;
// LOCAL_DATA_DIR: another data directory, so the browser tests' server never shares a running npm start's.
const DATA = process.env.LOCAL_DATA_DIR ? pathToFileURL(`${process.env.LOCAL_DATA_DIR.replace(/\/$/, '')}/`) : new URL('../.local/', import.meta.url);
const TABLE_NAME = 'sso-local';
const DEMO_CONNECTION = 'demo-saml';
const DEMO_OIDC_CONNECTION = 'demo-oidc';
const DEMO_OIDC_SECRET = 'demo-oidc-client-secret';
const OIDC_PROVIDER_PORT = Number(process.env.OIDC_PROVIDER_PORT ?? PORT + 1);

mkdirSync(new URL('dynamodb/', DATA), { recursive: true });
const dynamo = await startDynamoDbLocal({ path: new URL('dynamodb/', DATA).pathname });
// The admin CLI uses this instance while it runs: two DynamoDB Local processes on one data directory deadlock on writes.
writeFileSync(new URL('dynamodb-endpoint.json', DATA), JSON.stringify({ endpoint: dynamo.endpoint, pid: process.pid }));
const client = createDocumentClient({ endpoint: dynamo.endpoint });
await ensureTable(client, TABLE_NAME);

const devOidc = await startDevOidcProvider({ port: OIDC_PROVIDER_PORT, redirectUris: [`${BASE_URL}/oidc/${DEMO_OIDC_CONNECTION}/callback`] });
const secretsFile = new URL('secrets.json', DATA);
// The admin CLI's secrets live in this file too: add the demo client secret when it is missing, never overwrite the file.
const localSecrets = localSecretStore(secretsFile.pathname);
if (!(await localSecrets.has(DEMO_OIDC_SECRET))) await localSecrets.set(DEMO_OIDC_SECRET, devOidc.clientSecret);

Object.assign(process.env, {
  LOCAL_SECRETS_FILE: secretsFile.pathname,
  TABLE_NAME,
  DYNAMODB_ENDPOINT: dynamo.endpoint,
  PUBLIC_BASE_URL: BASE_URL,
  SESSION_AUDIENCE: BASE_URL,
  LOCAL_SIGNING_KEY_FILE: new URL('signing-key.json', DATA).pathname,
  AWS_REGION: process.env.AWS_REGION ?? 'local',
  // The admin CLI changes connections from another process: locally its changes reach the next login at once.
  CONNECTION_CACHE_SECONDS: process.env.CONNECTION_CACHE_SECONDS ?? '0',
});

const devIdp = createDevSamlIdp({
  baseUrl: BASE_URL,
  keyFile: new URL('../test/fixtures/keys/idp.key.pem', import.meta.url),
  certFile: new URL('../test/fixtures/keys/idp.cert.pem', import.meta.url),
  spEntityId: (acsUrl) => acsUrl.replace(/\/acs$/, '/metadata'),
});

const store = createStore({ tableName: TABLE_NAME, client });
const seeded = await seedDemo(store, {
  baseUrl: BASE_URL,
  saml: devIdp,
  oidc: { issuer: devOidc.issuer, clientId: devOidc.clientId, clientSecretName: DEMO_OIDC_SECRET },
  ids: { tenant: 'demo', saml: DEMO_CONNECTION, oidc: DEMO_OIDC_CONNECTION },
  policy: DEMO_POLICY,
});
for (const note of seeded.notes) console.warn(`note: ${note}`);
await seedDemoPersonas(store, { tenantId: 'demo', defaultConnectionId: DEMO_CONNECTION, now: new Date() });
const demoApp = createDemoApp({ baseUrl: BASE_URL, samlConnectionId: DEMO_CONNECTION, oidcConnectionId: DEMO_OIDC_CONNECTION });

const handlers = Object.fromEntries(
  await Promise.all(
    (Object.keys(GROUP_ENTRIES) as RouteGroup[]).map(async (group) => {
      const module = (await import(`../${GROUP_ENTRIES[group]}`)) as { handler: LambdaHandler };
      return [group, module.handler] as const;
    }),
  ),
) as Record<RouteGroup, LambdaHandler>;

const server = createServer(localRequestListener({ baseUrl: BASE_URL, handlers, devSamlIdp: devIdp, home: demoApp.home }));

server.listen(PORT, () => {
  // The admin CLI prints this server's URLs (SP metadata, ACS, redirect URIs) while it runs.
  writeFileSync(new URL('server.json', DATA), JSON.stringify({ baseUrl: BASE_URL, oidcProviderUrl: devOidc.issuer, pid: process.pid }));
  console.log(`
SSO callback service running on ${BASE_URL} (DynamoDB Local at ${dynamo.endpoint}, data in ${DATA.pathname})

  Log in end to end:  open ${BASE_URL}/ and click "Sign in with SAML" (connection "${DEMO_CONNECTION}"),
                      "Sign in with OIDC" (connection "${DEMO_OIDC_CONNECTION}", provider at ${devOidc.issuer})
                      or "Sign in with my work email" (any address @demo.example: home-realm discovery);
                      both IdPs offer personas: an admin, a member, an outsider, no email, deactivated
  Discovery:          ${BASE_URL}/login?email=ada@demo.example
  SP metadata:        ${BASE_URL}/saml/${DEMO_CONNECTION}/metadata
  Dev IdP metadata:   ${devIdp.metadataUrl} (for a setup link: npm run admin -- setup-links create --tenant T)
  Your session:       curl -H 'authorization: Bearer <the sso_session cookie>' ${BASE_URL}/session
                      (the demo page shows the token's claims; the browser's dev tools show the cookie)
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
