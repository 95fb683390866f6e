/**
 * `npx tsx scripts/measure-cold-start.ts [rounds]`: each Lambda bundle's size and its time from
 * process start to its first handled request, against a bare `node -e 0`.
 *
 * The bundles are built with esbuild and the options of `lib/sso-function.ts` (`SSO_ESBUILD`) and
 * its afterBundling commands. Each round starts a fresh `node` that imports a bundle and invokes
 * its handler once, on DynamoDB Local: the SAML function with a real IdP-initiated ACS login
 * (signed response, JIT provisioning, session), the OIDC function with a login redirect against a
 * real OpenID Provider on loopback (discovery included), the session function with `GET /session`.
 * Prints medians over the rounds; the machine is shared, so compare figures of one run. With
 * `BASELINE=/path/to/checkout`, that checkout's entries are bundled too, with everything inlined
 * (the construct's options before modules moved beside the bundle), and measured in the same rounds.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { SSO_ESBUILD } from '../lib/sso-function';
import { bundleLikeTheConstruct } from '../bench/bundle';
import { createDocumentClient, createStore, ensureTable } from '../functions/core/store/store';
import { createLocalSigner, loadOrCreateLocalSigningKey } from '../functions/core/signing';
import { mintSession } from '../functions/core/sessions';
import { adaptRequest, type PlainRequest } from '../local/api-gateway-event';
import { startDynamoDbLocal } from '../local/dynamodb-local';
import { issueSamlResponse } from '../local/saml-idp';
import { DEFAULT_ATTRIBUTE_MAPPING } from '../functions/core/provisioning';
import { keys } from '../test/support/harness';
import { startTestProvider } from '../test/support/oidc-provider';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const rounds = Number(process.argv[2] ?? 5);



const out = mkdtempSync(join(tmpdir(), 'sso-bundles-'));
const groups = { saml: 'functions/saml.ts', oidc: 'functions/oidc.ts', session: 'functions/session.ts', 'metadata-refresh': 'functions/metadata-refresh.ts' };
const sizes: Record<string, { bundle: number; files: Record<string, number> }> = {};
for (const [name, entry] of Object.entries(groups)) {
  const dir = join(out, name);
  await bundleLikeTheConstruct(root, entry, dir);
  const files = Object.fromEntries(readdirSync(dir).filter((f) => !f.endsWith('.map') && f !== 'node_modules').map((f) => [f, statSync(join(dir, f)).size]));
  files['node_modules/libxml2-wasm/lib/libxml2raw.mjs'] = statSync(join(dir, 'node_modules/libxml2-wasm/lib/libxml2raw.mjs')).size;
  files['node_modules/samlify/index.js'] = statSync(join(dir, 'node_modules/samlify/index.js')).size;
  sizes[name] = { bundle: files['index.mjs']!, files };
}

const baseline = process.env.BASELINE;
if (baseline) {
  for (const [name, entry] of Object.entries(groups)) {
    const dir = join(out, `${name} (BASELINE)`);
    await build({ ...SSO_ESBUILD, mainFields: [...SSO_ESBUILD.mainFields], external: [], entryPoints: [join(baseline, entry)], outfile: join(dir, 'index.mjs'), logLevel: 'error' });
    sizes[`${name} (BASELINE)`] = { bundle: statSync(join(dir, 'index.mjs')).size, files: {} };
  }
}

const dynamo = await startDynamoDbLocal();
const tableName = 'sso-cold-start';
const client = createDocumentClient({ endpoint: dynamo.endpoint });
await ensureTable(client, tableName);
const store = createStore({ tableName, client });
const publicBaseUrl = 'https://sso.cold';
const signingKeyFile = join(out, 'signing-key.json');
const signer = createLocalSigner(await loadOrCreateLocalSigningKey(signingKeyFile));
const env = {
  PATH: process.env.PATH,
  TABLE_NAME: tableName,
  DYNAMODB_ENDPOINT: dynamo.endpoint,
  PUBLIC_BASE_URL: publicBaseUrl,
  SESSION_AUDIENCE: 'https://app.cold',
  LOCAL_SIGNING_KEY_FILE: signingKeyFile,
  LOCAL_SECRETS_FILE: join(out, 'secrets.json'),
  AWS_REGION: 'local',
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
  POWERTOOLS_LOG_LEVEL: 'ERROR',
};

writeFileSync(env.LOCAL_SECRETS_FILE, JSON.stringify({ 'cold-secret': 'cold-secret' }));
const tenantId = 'tenant-cold';
await store.putTenant({ id: tenantId, name: 'Cold start' });
const samlConnection = {
  id: 'saml-cold', tenantId, protocol: 'saml', enabled: true, idpEntityId: 'https://idp.cold/metadata', idpSsoUrl: 'https://idp.cold/sso',
  idpCertificates: [keys.read('idp.cert.pem')], clockSkewSeconds: 120, allowIdpInitiated: true, allowSha1: false,
  attributeMapping: DEFAULT_ATTRIBUTE_MAPPING, roles: { defaults: ['member'] }, returnToAllowlist: ['https://app.cold/'],
} as const;
await store.putConnection(samlConnection);
const provider = await startTestProvider({ clients: [{ client_id: 'cold', client_secret: 'cold-secret', redirect_uris: [`${publicBaseUrl}/oidc/oidc-cold/callback`] }] });
await store.putConnection({
  id: 'oidc-cold', tenantId, protocol: 'oidc', enabled: true, issuer: provider.issuer, clientId: 'cold', clientSecretName: 'cold-secret',
  tokenEndpointAuthMethod: 'client_secret_basic', scopes: ['openid', 'email'], attributeMapping: DEFAULT_ATTRIBUTE_MAPPING,
  roles: { defaults: ['member'] }, returnToAllowlist: ['https://app.cold/'],
});

let requestCount = 0;
async function firstRequest(name: string, roundOfRequest: number): Promise<PlainRequest> {
  const round = `${roundOfRequest}-${(requestCount += 1)}`;
  if (name === 'saml') {
    const response = await issueSamlResponse({
      issuer: samlConnection.idpEntityId, audience: `${publicBaseUrl}/saml/saml-cold/metadata`, recipient: `${publicBaseUrl}/saml/saml-cold/acs`,
      nameId: `cold-${round}-${Date.now()}@example.test`, issueInstant: new Date(), signingKey: keys.read('idp.key.pem'), signingCert: keys.read('idp.cert.pem'),
      sign: 'both', attributes: { email: [`cold-${round}-${Date.now()}@example.test`], name: ['Cold Start'] },
    });
    return { method: 'POST', url: '/saml/saml-cold/acs', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ SAMLResponse: response }).toString() };
  }
  if (name === 'saml metadata') return { method: 'GET', url: '/saml/saml-cold/metadata' };
  if (name === 'oidc') return { method: 'GET', url: '/oidc/oidc-cold/login?return_to=https://app.cold/' };
  if (name === 'session') {
    const user = { id: `user-cold-${round}`, tenantId, email: `u${round}@example.test`, roles: ['member'], attributes: {}, status: 'active', createdAt: new Date().toISOString(), updatedAt: new Date().toISOString() };
    await store.createUser(user as never, undefined);
    const { token } = await mintSession({ store, signer, issuer: publicBaseUrl, audience: env.SESSION_AUDIENCE, ttlSeconds: 600, now: new Date() }, user as never, samlConnection as never);
    return { method: 'GET', url: '/session', headers: { authorization: `Bearer ${token}` } };
  }
  return { method: 'GET', url: '/health' };
}

/** Milliseconds from spawning `node` to the child printing its first handled response. */
function timeChild(args: string[], extraEnv: Record<string, string> = {}): Promise<{ ms: number; output: string }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, args, { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    let firstLine: number | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (firstLine === undefined && output.includes('\n')) firstLine = performance.now() - start;
    });
    child.on('exit', (code) => (code === 0 ? resolve({ ms: firstLine ?? performance.now() - start, output }) : reject(new Error(`child exited ${code}: ${output}`))));
  });
}

// The child: import the bundle, invoke its handler once, print the status and exit.
const runner = join(out, 'invoke.mjs');
writeFileSync(
  runner,
  `const { handler } = await import(process.env.BUNDLE);
const imported = performance.now();
const event = JSON.parse(process.env.EVENT);
const result = event.routeKey ? await handler(event, { awsRequestId: 'cold', functionName: 'cold' }) : (await handler(), { statusCode: 0 });
process.stdout.write('>' + JSON.stringify({ status: result.statusCode, code: result.statusCode >= 400 ? result.body : undefined, importedAtMs: Math.round(imported) }) + '\\n');
process.exit(0);
`,
);

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const times: Record<string, number[]> = { 'node -e 0': [] };
const statuses: Record<string, string> = {};
for (let round = 0; round < rounds; round++) {
  times['node -e 0']!.push((await timeChild(['-e', 'process.stdout.write("\\n")'])).ms);
  const names = ['saml', 'saml metadata', 'oidc', 'session'];
  for (const name of baseline ? names.flatMap((n) => [n, `${n} (BASELINE)`]) : names) {
    const { event } = adaptRequest(await firstRequest(name.replace(' (BASELINE)', ''), round));
    // PROFILE_DIR=/tmp/x writes a CPU profile of each child, to see where a cold start goes.
    const profile = process.env.PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${join(process.env.PROFILE_DIR, name)}`] : [];
    const { ms, output } = await timeChild([...profile, runner], { BUNDLE: join(out, name.replace(' metadata', ''), 'index.mjs'), EVENT: JSON.stringify(event) });
    (times[name] ??= []).push(ms);
    statuses[name] = output.slice(output.indexOf('>') + 1).trim();
  }
}

console.log(`bundles in ${out}, ${rounds} rounds, medians; ${new Date().toISOString()}`);
console.log(`${'function'.padEnd(30)} ${'index.mjs'.padStart(10)}  ${'other files'.padEnd(72)} ${'first request'.padStart(14)}  answer`);
const rows = [...Object.keys(groups), 'saml metadata'];
for (const name of baseline ? rows.flatMap((n) => [n, `${n} (BASELINE)`]) : rows) {
  const { bundle, files } = sizes[name] ?? { bundle: 0, files: {} };
  const others = Object.entries(files).filter(([f]) => f !== 'index.mjs').map(([f, s]) => `${f} ${(s / 1024).toFixed(0)} KB`).join(', ');
  const t = times[name] ? `${median(times[name]!).toFixed(0)} ms` : '-';
  console.log(`${name.padEnd(30)} ${(bundle ? `${(bundle / 1024).toFixed(0)} KB` : '').padStart(10)}  ${(others || '-').padEnd(72)} ${t.padStart(14)}  ${statuses[name] ?? ''}`);
}
console.log(`${'node -e 0'.padEnd(30)} ${''.padStart(10)}  ${''.padEnd(72)} ${`${median(times['node -e 0']!).toFixed(0)} ms`.padStart(14)}`);
await provider.stop();
client.destroy();
await dynamo.stop();
