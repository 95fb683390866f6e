/**
 * `npx tsx scripts/measure-session.ts [requests]`: the p50 and p99 of `GET /session` in-process,
 * through the session Lambda handler, on DynamoDB Local (token verification, then the session and
 * user reads), and its parts: the token check, and the reads as one BatchGetItem against two
 * parallel GetItems; and what those stand on, the same BatchGetItem as bare HTTP and the bare
 * ES256 check with node:crypto. With `BASELINE=/path/to/checkout` that checkout's handler is measured in the same
 * run, interleaved request by request, on the same runtime and token.
 */
import { createPublicKey, verify, type JsonWebKey } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { loadConfig } from '../functions/core/config';
import { createInMemoryPublisher } from '../functions/core/events';
import { DEFAULT_ATTRIBUTE_MAPPING } from '../functions/core/provisioning';
import type { Runtime } from '../functions/core/runtime';
import { createInMemorySecrets } from '../functions/core/secrets';
import { mintSession } from '../functions/core/sessions';
import { sessionVerificationKeys, verifySessionToken } from '../functions/core/session-token';
import { createLocalSigner, generateLocalSigningKey } from '../functions/core/signing';
import { createDocumentClient, createStore, ensureTable } from '../functions/core/store/store';
import { adaptRequest } from '../local/api-gateway-event';
import { startDynamoDbLocal } from '../local/dynamodb-local';

const requests = Number(process.argv[2] ?? 2000);
const dynamo = await startDynamoDbLocal();
const client = createDocumentClient({ endpoint: dynamo.endpoint });
await ensureTable(client, 'sso-session-bench');
const env = { TABLE_NAME: 'sso-session-bench', PUBLIC_BASE_URL: 'https://sso.bench', SESSION_AUDIENCE: 'https://app.bench', LOCAL_SIGNING_KEY_FILE: '/unused' };
const runtime: Runtime = {
  config: loadConfig(env),
  store: createStore({ tableName: env.TABLE_NAME, client }),
  signer: createLocalSigner(await generateLocalSigningKey()),
  secrets: createInMemorySecrets({}),
  clock: () => new Date(),
  log: () => undefined,
  events: createInMemoryPublisher(),
};
const now = new Date().toISOString();
const user = { id: 'user-bench', tenantId: 'tenant-bench', email: 'bench@example.test', roles: ['member'], attributes: {}, status: 'active' as const, createdAt: now, updatedAt: now };
await runtime.store.putTenant({ id: user.tenantId, name: 'Bench' });
await runtime.store.createUser(user, undefined);
const connection = {
  id: 'saml-bench', tenantId: user.tenantId, protocol: 'saml' as const, enabled: true, idpEntityId: 'https://idp.bench', idpSsoUrl: 'https://idp.bench/sso',
  idpCertificates: [], clockSkewSeconds: 60, allowIdpInitiated: false, allowSha1: false, attributeMapping: DEFAULT_ATTRIBUTE_MAPPING,
  roles: { defaults: ['member'] }, returnToAllowlist: ['https://app.bench/'],
};
const { token } = await mintSession(
  { store: runtime.store, signer: runtime.signer, issuer: runtime.config.sessionIssuer, audience: runtime.config.sessionAudience, ttlSeconds: 3600, now: new Date() },
  user,
  connection,
);

// The entry modules build their own runtime from the environment when imported; this one is passed in.
Object.assign(process.env, env, { DYNAMODB_ENDPOINT: dynamo.endpoint, AWS_REGION: 'local', AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' });
const { createSessionHandler } = await import('../functions/session');
type Handler = (event: never, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;
const handlers: [string, Handler][] = [['GET /session, this checkout', createSessionHandler(runtime) as Handler]];
if (process.env.BASELINE) {
  const baseline = (await import(join(process.env.BASELINE, 'functions/session.ts'))) as { createSessionHandler: (r: Runtime) => Handler };
  handlers.push(['GET /session, BASELINE', baseline.createSessionHandler(runtime)]);
}
const checks = { issuer: runtime.config.sessionIssuer, audience: runtime.config.sessionAudience };
const parts: [string, () => Promise<unknown>][] = [
  ['token verification, key set built once', async () => verifySessionToken(token, await sessionVerificationKeys(runtime.signer), checks)],
  ['token verification, key set built per call', async () => verifySessionToken(token, { jwks: await runtime.signer.publicJwks() }, checks)],
  ['session and user: one BatchGetItem', () => runtime.store.getSessionAndUser('none', user.id)],
  ['session and user: two GetItems at once', () => Promise.all([runtime.store.getSession('none'), runtime.store.getUser(user.id)])],
  // What the SDK and jose stand on: DynamoDB Local's own answer, and the bare ES256 check.
  ['the same BatchGetItem as bare HTTP, no SDK', rawBatchGet],
  ['ES256 signature alone, node:crypto, cached key', async () => bareSignatureCheck()],
];
const agent = new Agent({ keepAlive: true });
const batchBody = JSON.stringify({
  RequestItems: { [env.TABLE_NAME]: { Keys: [['SESSION#none', 'SESSION'], [`USER#${user.id}`, 'USER']].map(([pk, sk]) => ({ pk: { S: pk }, sk: { S: sk } })), ConsistentRead: true } },
});
/** DynamoDB Local's time for the reads: one keep-alive POST (DynamoDB Local reads the signature's credential but does not check it). */
function rawBatchGet(): Promise<void> {
  const { hostname, port } = new URL(dynamo.endpoint);
  return new Promise((resolve, reject) => {
    const headers = {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': 'DynamoDB_20120810.BatchGetItem',
      'x-amz-date': '20260101T000000Z',
      authorization: 'AWS4-HMAC-SHA256 Credential=local/20260101/local/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
    };
    const request = httpRequest({ hostname, port, method: 'POST', path: '/', agent, headers }, (response) => {
      response.resume().on('end', () => (response.statusCode === 200 ? resolve() : reject(new Error(`DynamoDB Local answered ${response.statusCode}`))));
    });
    request.on('error', reject).end(batchBody);
  });
}
const [signingInput, signatureText] = [token.slice(0, token.lastIndexOf('.')), token.slice(token.lastIndexOf('.') + 1)];
const publicKey = createPublicKey({ key: (await runtime.signer.publicJwks())[0] as JsonWebKey, format: 'jwk' });
function bareSignatureCheck(): void {
  if (!verify('sha256', Buffer.from(signingInput), { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(signatureText, 'base64url'))) throw new Error('bad signature');
}
const event = adaptRequest({ method: 'GET', url: '/session', headers: { authorization: `Bearer ${token}` } }).event!;
const context = { awsRequestId: 'bench', functionName: 'bench' } as Context;
const samples = new Map<string, number[]>([...handlers, ...parts].map(([name]) => [name, []]));
for (let i = 0; i < requests + 100; i++) {
  for (const [name, handler] of handlers) {
    const start = performance.now();
    const result = await handler(event as never, context);
    const elapsed = performance.now() - start;
    if (result.statusCode !== 200) throw new Error(`GET /session answered ${result.statusCode}: ${String(result.body)}`);
    if (i >= 100) samples.get(name)!.push(elapsed);
  }
  for (const [name, run] of parts) {
    const start = performance.now();
    await run();
    if (i >= 100) samples.get(name)!.push(performance.now() - start);
  }
}
const quantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.floor(values.length * q)]!;
console.log(`GET /session in-process on DynamoDB Local, ${requests} requests each, interleaved; ${new Date().toISOString()}, node ${process.version}`);
for (const [name, list] of samples) {
  console.log(`${name.padEnd(46)} p50 ${quantile(list, 0.5).toFixed(3)} ms  p99 ${quantile(list, 0.99).toFixed(3)} ms`);
}
client.destroy();
await dynamo.stop();
