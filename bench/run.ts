/**
 * `npm run bench`: what verification, a login, a session check, a cold start and the local server
 * cost on this machine, measured in one run so that ratios compare on a shared, noisy machine.
 * Prints markdown tables headed with the date and the machine; asserts only that every contender
 * gave the right verdict and that the HTTP runs had no error and left the table whole.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, platform, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { loadConfig } from '../functions/core/config';
import { createInMemoryPublisher } from '../functions/core/events';
import type { SamlConnection } from '../functions/core/model';
import { DEFAULT_ATTRIBUTE_MAPPING } from '../functions/core/provisioning';
import type { Runtime } from '../functions/core/runtime';
import { createInMemorySecrets } from '../functions/core/secrets';
import { createLocalSigner, loadOrCreateLocalSigningKey, type SessionSigner } from '../functions/core/signing';
import { createDocumentClient, createStore, ensureTable } from '../functions/core/store/store';
import { GROUP_ENTRIES, type RouteGroup } from '../functions/routes';
import { adaptRequest, type PlainRequest } from '../local/api-gateway-event';
import { startDevOidcProvider } from '../local/dev-oidc-provider';
import { startDynamoDbLocal } from '../local/dynamodb-local';
import { issueSamlResponse, type IssueResponseOptions } from '../local/saml-idp';
import { instrumentDocumentClient } from '../test/support/dynamodb-calls';
import { countTenantRecords, findOrphans } from '../test/support/table-audit';
import { bundleLikeTheConstruct } from './bundle';
import { interleave, ms, table, timing } from './stats';
import { contenders, type ResponseCase } from './verifiers';

const QUICK = process.env.BENCH_QUICK === '1';
const key = (name: string) => readFileSync(new URL(`../test/fixtures/keys/${name}`, import.meta.url), 'utf8');
const idpKey = key('idp.key.pem');
const idpCert = key('idp.cert.pem');
const work = mkdtempSync(join(tmpdir(), 'sso-bench-'));
const log = (line = '') => console.log(line);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The 8-attribute kind of response, Response and Assertion signed, about 8.8 KB. */
const ATTRIBUTES = {
  email: ['bench.user@example.test'],
  givenName: ['Bench'],
  surname: ['User'],
  displayName: ['Bench User'],
  groups: Array.from({ length: 19 }, (_, i) => `CN=Group ${i} of the Bench Organization,OU=Groups,DC=example,DC=test`),
  department: ['Research and Development'],
  employeeNumber: ['000123456'],
  title: ['Senior Engineer'],
};

// ---------------------------------------------------------------------------------------------
const machine = `${cpus()[0]?.model.trim()}, ${cpus().length} cores, Node.js ${process.version}, ${platform()} ${release()}`;
log(`## npm run bench, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`);
log();
log(`Machine: ${machine}; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} at the start (other work on the machine slows every figure below alike; compare ratios, not absolutes).`);
log();

// (a) verification against the peers ----------------------------------------------------------
async function verificationTable(c: ResponseCase, rounds: number) {
  const all = contenders(c);
  const tampered = contenders({ ...c, samlResponse: tamper(c.samlResponse, c.expectedNameId) });
  // One at a time: the peers' clock is the global Date, shifted for the length of one call.
  const verdicts: { accepted: boolean; detail: string }[] = [];
  for (const x of all) verdicts.push(await x.verify());
  const tamperedVerdicts: { accepted: boolean }[] = [];
  for (const x of tampered) tamperedVerdicts.push(await x.verify());
  const timings = await interleave(
    all.map((x) => ({ run: () => x.verify() })),
    { rounds, perRound: 30, warmup: 200 },
  );
  const peers = all.map((x, i) => ({ x, t: timings[i]! })).filter(({ x }) => x.kind === 'peer');
  // Ratios of medians: on a shared machine a few stalls move a mean far more than a median.
  const fastestPeer = peers.reduce((best, p) => (p.t.p50 < best.t.p50 ? p : best));
  const floorTiming = timings[all.findIndex((x) => x.kind === 'floor' && x.signatures === 'response')]!;
  const everySignatureFloor = timings[all.findIndex((x) => x.kind === 'floor' && x.signatures === 'every')]!;
  log(`### (a) Verification: ${c.name}`);
  log();
  log(
    table(
      ['contender', 'verdict', 'tampered copy', 'ops/s', 'p50 ms', 'p99 ms', 'speed vs fastest peer', 'time vs floor', 'time vs floor of every signature'],
      all.map((x, i) => {
        const t = timings[i]!;
        const verdict = verdicts[i]!;
        return [
          x.name,
          verdict.accepted ? `accepts (${verdict.detail})` : `REFUSES: ${verdict.detail}`,
          tamperedVerdicts[i]!.accepted ? 'ACCEPTED' : 'refused',
          t.opsPerSecond.toFixed(0),
          ms(t.p50),
          ms(t.p99),
          `${(fastestPeer.t.p50 / t.p50).toFixed(2)}x`,
          `${(t.p50 / floorTiming.p50).toFixed(1)}x`,
          `${(t.p50 / everySignatureFloor.p50).toFixed(1)}x`,
        ];
      }),
    ),
  );
  log();
  log(`Interleaved: ${rounds} rounds of 30 per contender after 200 to warm up; ops/s from the mean, ratios from the p50s; fastest peer: ${fastestPeer.x.name}. The floor checks the Response's signature only; the floor of every signature checks the assertion's own too, as a correct SP must (ours does, and validates the schema).`);
  log();
  const wrong = all.filter((_, i) => !verdicts[i]!.accepted || tamperedVerdicts[i]!.accepted);
  if (wrong.length) throw new Error(`wrong verdicts from ${wrong.map((x) => x.name).join(', ')}`);
}

/** The same response with one character of its NameID changed: every correct verifier refuses it. */
function tamper(samlResponse: string, nameId: string): string {
  const xml = Buffer.from(samlResponse, 'base64').toString('utf8');
  const at = xml.indexOf(`>${nameId}<`);
  return Buffer.from(`${xml.slice(0, at + 1)}X${xml.slice(at + 2)}`, 'utf8').toString('base64');
}

const generated = await issueSamlResponse({
  issuer: 'https://idp.bench/metadata',
  audience: 'https://sp.bench/metadata',
  recipient: 'https://sp.bench/acs',
  nameId: 'bench.user@example.test',
  issueInstant: new Date(),
  signingKey: idpKey,
  signingCert: idpCert,
  attributes: ATTRIBUTES,
  sign: 'both',
});
await verificationTable(
  {
    name: `a ${(Buffer.from(generated, 'base64').length / 1000).toFixed(1)} KB response, Response and Assertion signed (RSA-SHA256), 8 attributes, local/saml-idp.ts`,
    samlResponse: generated,
    idpEntityId: 'https://idp.bench/metadata',
    idpCertificate: idpCert,
    spEntityId: 'https://sp.bench/metadata',
    acsUrl: 'https://sp.bench/acs',
    at: new Date(),
    expectedNameId: 'bench.user@example.test',
  },
  QUICK ? 3 : 20,
);
const interop = new URL('../../shared/interop/saml/', import.meta.url);
await verificationTable(
  {
    name: 'the real Okta response of ../shared/interop (okta.response.b64, Response and Assertion signed), at its issue instant',
    samlResponse: readFileSync(new URL('okta.response.b64', interop), 'utf8').trim(),
    idpEntityId: 'http://www.okta.com/exk659aytfMeNI49v0h7',
    idpCertificate: readFileSync(new URL('okta.idp-cert.pem', interop), 'utf8'),
    spEntityId: '"123"',
    acsUrl: 'http://localhost:8080/v1/_saml_callback',
    at: new Date('2016-07-25T23:20:15.859Z'),
    expectedNameId: 'russellhaering',
  },
  QUICK ? 3 : 15,
);
// `BENCH_ONLY=verification npm run bench`: the two tables above and nothing else, a minute's run to compare changes by.
if (process.env.BENCH_ONLY === 'verification') process.exit(0);

// The local stack the remaining sections share: DynamoDB Local, a signing key, a tenant -------------
const dynamo = await startDynamoDbLocal();
const TABLE = 'sso-bench';
const signingKeyFile = join(work, 'signing-key.json');
const secretsFile = join(work, 'secrets.json');
const httpPort = await freePort();
const oidcPort = await freePort();
const baseUrl = `http://127.0.0.1:${httpPort}`;
const env = {
  ...process.env,
  TABLE_NAME: TABLE,
  DYNAMODB_ENDPOINT: dynamo.endpoint,
  PUBLIC_BASE_URL: baseUrl,
  SESSION_AUDIENCE: baseUrl,
  LOCAL_SIGNING_KEY_FILE: signingKeyFile,
  LOCAL_SECRETS_FILE: secretsFile,
  AWS_REGION: 'local',
  POWERTOOLS_LOG_LEVEL: 'ERROR',
  // The handlers' EMF metric lines would go to this table's stdout.
  POWERTOOLS_METRICS_DISABLED: 'true',
};
// The handler modules build their own runtime from the environment when imported (as in Lambda): import them once it is set.
Object.assign(process.env, env);
writeFileSync(secretsFile, '{}');
const { createSamlHandler } = await import('../functions/saml');
const { createSessionHandler } = await import('../functions/session');
const client = createDocumentClient({ endpoint: dynamo.endpoint });
await ensureTable(client, TABLE);
const calls = instrumentDocumentClient(client);
const store = createStore({ tableName: TABLE, client });
let signingMs = 0;
const localSigner = createLocalSigner(await loadOrCreateLocalSigningKey(signingKeyFile));
const signer: SessionSigner = {
  keyId: () => localSigner.keyId(),
  publicJwks: () => localSigner.publicJwks(),
  async sign(input) {
    const started = performance.now();
    try {
      return await localSigner.sign(input);
    } finally {
      signingMs += performance.now() - started;
    }
  },
};
const runtime: Runtime = {
  config: loadConfig(env),
  store,
  signer,
  secrets: createInMemorySecrets({}),
  clock: () => new Date(),
  log: () => undefined,
  events: createInMemoryPublisher(),
};

async function samlConnection(tenantId: string): Promise<SamlConnection> {
  const connection: SamlConnection = {
    id: `bench-${randomUUID().slice(0, 8)}`,
    tenantId,
    protocol: 'saml',
    enabled: true,
    idpEntityId: 'https://idp.bench/metadata',
    idpSsoUrl: 'https://idp.bench/sso',
    idpCertificates: [idpCert],
    clockSkewSeconds: 120,
    allowIdpInitiated: true,
    allowSha1: false,
    attributeMapping: DEFAULT_ATTRIBUTE_MAPPING,
    roles: { defaults: ['member'] },
    returnToAllowlist: [`${baseUrl}/`],
  };
  await store.putTenant({ id: tenantId, name: tenantId });
  await store.putConnection(connection);
  return connection;
}

const responseOptions = (connection: SamlConnection, nameId: string): IssueResponseOptions => ({
  issuer: connection.idpEntityId,
  audience: `${baseUrl}/saml/${connection.id}/metadata`,
  recipient: `${baseUrl}/saml/${connection.id}/acs`,
  nameId,
  issueInstant: new Date(),
  signingKey: idpKey,
  signingCert: idpCert,
  attributes: { ...ATTRIBUTES, email: [nameId] },
  sign: 'both',
});

const acsForm = (samlResponse: string) => `SAMLResponse=${encodeURIComponent(samlResponse)}&RelayState=${encodeURIComponent(`${baseUrl}/`)}`;

async function invoke(handler: (event: never, context: never) => Promise<{ statusCode?: number; body?: string; cookies?: string[] }>, request: PlainRequest) {
  const { event, refusal } = adaptRequest(request);
  if (refusal) throw new Error(`no route: ${request.url}`);
  return handler(event as never, { awsRequestId: 'bench' } as never);
}

// (b) the in-process login ------------------------------------------------------------------------
{
  const connection = await samlConnection(`bench-inproc-${randomUUID().slice(0, 8)}`);
  const saml = createSamlHandler(runtime);
  const n = QUICK ? 20 : 150;
  const login = async (samlResponse: string) => {
    calls.reset();
    signingMs = 0;
    const started = performance.now();
    const result = await invoke(saml, { method: 'POST', url: `/saml/${connection.id}/acs`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: acsForm(samlResponse) });
    const total = performance.now() - started;
    if (result.statusCode !== 303) throw new Error(`login answered ${result.statusCode}: ${result.body}`);
    const database = calls.durations.reduce((sum, d) => sum + d, 0);
    return { total, database, minting: signingMs, rest: total - database - signingMs, commands: [...calls.commands], token: /sso_session=([^;]+)/.exec(result.cookies?.[0] ?? '')?.[1] ?? '' };
  };
  const newUsers = await Promise.all(Array.from({ length: n }, (_, i) => issueSamlResponse(responseOptions(connection, `new-${i}-${randomUUID().slice(0, 6)}@example.test`))));
  const returningName = `returning-${randomUUID().slice(0, 6)}@example.test`;
  const returning = await Promise.all(Array.from({ length: n + 1 }, () => issueSamlResponse(responseOptions(connection, returningName))));
  await login(returning.pop()!);
  const measured = { new: [] as Awaited<ReturnType<typeof login>>[], returning: [] as Awaited<ReturnType<typeof login>>[] };
  for (let i = 0; i < n; i++) {
    measured.new.push(await login(newUsers[i]!));
    measured.returning.push(await login(returning[i]!));
  }
  log('### (b) The in-process login (SAML ACS handler on DynamoDB Local, as the tests run it)');
  log();
  const p50 = (rows: typeof measured.new, field: 'total' | 'database' | 'minting' | 'rest') => ms(timing(rows.map((r) => r[field])).p50);
  log(
    table(
      ['login', 'total p50 ms', 'total p99 ms', 'verify + handler CPU p50 ms', 'database p50 ms', 'minting p50 ms', 'DynamoDB round trips'],
      (['returning', 'new'] as const).map((kind) => {
        const rows = measured[kind];
        return [
          kind === 'new' ? 'a new user (JIT)' : 'a returning user',
          p50(rows, 'total'),
          ms(timing(rows.map((r) => r.total)).p99),
          p50(rows, 'rest'),
          p50(rows, 'database'),
          p50(rows, 'minting'),
          `${rows[0]!.commands.length}: ${rows[0]!.commands.map((c) => c.replace(/Command$/, '')).join(', ')}`,
        ];
      }),
    ),
  );
  log();
  log(`${n} logins of each kind, alternated; database = the time inside DynamoDB calls (an SDK middleware on the document client), minting = the ES256 signature of the session token, the rest is verification and handler CPU.`);
  log();

  // (c) GET /session ----------------------------------------------------------------------------
  const sessions = createSessionHandler(runtime);
  const token = measured.returning[0]!.token;
  const samples: number[] = [];
  let sessionCalls = 0;
  for (let i = 0; i < (QUICK ? 100 : 1000); i++) {
    calls.reset();
    const started = performance.now();
    const result = await invoke(sessions as never, { method: 'GET', url: '/session', headers: { cookie: `sso_session=${token}` } });
    samples.push(performance.now() - started);
    sessionCalls = calls.commands.length;
    if (result.statusCode !== 200) throw new Error(`GET /session answered ${result.statusCode}`);
  }
  const t = timing(samples.slice(20));
  log('### (c) `GET /session` in-process (DynamoDB Local)');
  log();
  log(table(['route', 'p50 ms', 'p99 ms', 'ops/s', 'DynamoDB round trips'], [['GET /session (cookie)', ms(t.p50), ms(t.p99), t.opsPerSecond.toFixed(0), sessionCalls]]));
  log();
}

// (d) bundles: size and time to the first handled request -------------------------------------------
{
  const oidcProvider = await startDevOidcProvider({ port: oidcPort, redirectUris: [] });
  writeFileSync(secretsFile, JSON.stringify({ 'bench-oidc-secret': oidcProvider.clientSecret }));
  const tenantId = `bench-cold-${randomUUID().slice(0, 8)}`;
  const connection = await samlConnection(tenantId);
  const oidcId = `bench-oidc-${randomUUID().slice(0, 8)}`;
  await store.putConnection({
    id: oidcId,
    tenantId,
    protocol: 'oidc',
    enabled: true,
    issuer: oidcProvider.issuer,
    clientId: oidcProvider.clientId,
    tokenEndpointAuthMethod: 'client_secret_basic',
    clientSecretName: 'bench-oidc-secret',
    scopes: ['openid', 'email'],
    attributeMapping: DEFAULT_ATTRIBUTE_MAPPING,
    roles: { defaults: ['member'] },
    returnToAllowlist: [`${baseUrl}/`],
  });
  const sessionToken = await (async () => {
    const result = await invoke(createSamlHandler(runtime), { method: 'POST', url: `/saml/${connection.id}/acs`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: acsForm(await issueSamlResponse(responseOptions(connection, `cold-${randomUUID()}@example.test`))) });
    return /sso_session=([^;]+)/.exec(result.cookies?.[0] ?? '')![1]!;
  })();
  /** The first request each function serves in the bench: the SAML one a whole ACS login of a new user. */
  const firstRequest = async (group: RouteGroup): Promise<PlainRequest> =>
    group === 'saml'
      ? { method: 'POST', url: `/saml/${connection.id}/acs`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: acsForm(await issueSamlResponse(responseOptions(connection, `cold-${randomUUID()}@example.test`))) }
      : group === 'oidc'
        ? { method: 'GET', url: `/oidc/${oidcId}/login?return_to=${encodeURIComponent(`${baseUrl}/`)}` }
        : { method: 'GET', url: '/session', headers: { cookie: `sso_session=${sessionToken}` } };

  const runNode = (args: string[], childEnv: NodeJS.ProcessEnv) =>
    new Promise<{ wallMs: number; stdout: string }>((resolve, reject) => {
      const started = performance.now();
      const child = spawn(process.execPath, args, { env: childEnv, stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.once('error', reject);
      child.once('exit', (code) => (code === 0 ? resolve({ wallMs: performance.now() - started, stdout }) : reject(new Error(`node exited with ${code}: ${stdout}`))));
    });

  const bare = [] as number[];
  for (let i = 0; i < 5; i++) bare.push((await runNode(['-e', '0'], env)).wallMs);
  const bareUserCode = [] as number[];
  for (let i = 0; i < 5; i++) bareUserCode.push(Number((await runNode(['-e', 'console.log(performance.now())'], env)).stdout));

  const rows: (string | number)[][] = [];
  for (const group of Object.keys(GROUP_ENTRIES) as RouteGroup[]) {
    const outdir = join(work, group);
    const bytes = await bundleLikeTheConstruct(new URL('..', import.meta.url).pathname, GROUP_ENTRIES[group], outdir);
    const runs: { importMs: number; handledMs: number; wallMs: number; status: number }[] = [];
    for (let i = 0; i < 3; i++) {
      const request = await firstRequest(group);
      const { event } = adaptRequest(request);
      const script = `const { handler } = await import(${JSON.stringify(join(outdir, 'index.mjs'))}); const imported = performance.now();
const result = await handler(${JSON.stringify(event)}, { awsRequestId: 'cold' });
console.log('BENCH ' + JSON.stringify({ importMs: imported, handledMs: performance.now(), status: result.statusCode }));`;
      const { wallMs, stdout } = await runNode(['--input-type=module', '-e', script], env);
      const line = stdout.split('\n').find((l) => l.startsWith('BENCH '));
      if (!line) throw new Error(`no result from the ${group} bundle: ${stdout}`);
      runs.push({ ...(JSON.parse(line.slice(6)) as { importMs: number; handledMs: number; status: number }), wallMs });
    }
    const median = (field: 'importMs' | 'handledMs' | 'wallMs') => timing(runs.map((r) => r[field])).p50;
    rows.push([
      `${group} (${GROUP_ENTRIES[group]})`,
      `${(bytes / 1024).toFixed(0)} KiB (${bytes} B)`,
      ms(median('importMs'), 0),
      `${ms(median('handledMs'), 0)} (${runs[0]!.status}: ${group === 'saml' ? 'ACS login of a new user' : group === 'oidc' ? 'login redirect, discovery included' : 'GET /session'})`,
      ms(median('wallMs'), 0),
    ]);
  }
  rows.push(['bare `node -e 0`', '', '', `user code at ${ms(timing(bareUserCode).p50, 0)}`, ms(timing(bare).p50, 0)]);
  log('### (d) Lambda bundles: size, and the first request in a fresh `node` process');
  log();
  log(table(['bundle', 'size', 'import done at ms', 'first request handled at ms', 'process wall ms'], rows));
  log();
  log('Bundled as the construct bundles (lib/sso-function.ts: esbuild with SSO_ESBUILD, ESM for Node 22, minified; libxml2-wasm, samlify and the tracer beside the bundle in its node_modules, read only by the code that needs them); size = index.mjs, the file Lambda loads; times since the process started (performance.now() in the child), median of 3 fresh processes, against DynamoDB Local on loopback.');
  log();
  await oidcProvider.stop();
}

// (e) HTTP through the local server -------------------------------------------------------------------
{
  const tenantId = `bench-http-${randomUUID().slice(0, 8)}`;
  const connection = await samlConnection(tenantId);
  const count = QUICK ? 200 : 1000;
  const bodies = [] as string[];
  for (let i = 0; i < count; i++) bodies.push(acsForm(await issueSamlResponse(responseOptions(connection, `http-${i}-${randomUUID().slice(0, 6)}@example.test`))));
  const server = spawn(process.execPath, ['--import', 'tsx', new URL('./serve.ts', import.meta.url).pathname], { env: { ...env, PORT: String(httpPort) }, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    server.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('listening') && resolve());
    server.once('exit', (code) => reject(new Error(`the local server exited with ${code}`)));
  });
  try {
    let next = 0;
    const logins = await autocannon({
      url: baseUrl,
      connections: 50,
      amount: count,
      timeout: 30,
      requests: [
        {
          method: 'POST',
          path: `/saml/${connection.id}/acs`,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length] }),
        },
      ],
    });
    const me = await fetch(`${baseUrl}/saml/${connection.id}/acs`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: acsForm(await issueSamlResponse(responseOptions(connection, `http-token-${randomUUID()}@example.test`))) });
    const token = /sso_session=([^;]+)/.exec(me.headers.getSetCookie()[0] ?? '')![1]!;
    const session = await autocannon({ url: `${baseUrl}/session`, connections: 10, duration: QUICK ? 3 : 10, headers: { cookie: `sso_session=${token}` } });
    const codes = (r: typeof logins) => Object.entries(r.statusCodeStats).map(([code, { count: n }]) => `${n}x ${code}`).join(', ');
    log('### (e) HTTP through the local server (`local/http-server.ts` in its own process, DynamoDB Local, autocannon)');
    log();
    log(
      table(
        ['run', 'requests', 'answers', 'errors', 'req/s', 'latency p50 ms', 'latency p99 ms'],
        [
          [`${count} distinct first logins (IdP-initiated ACS), concurrency 50`, logins.requests.total, codes(logins), logins.errors + logins.timeouts, logins.requests.average.toFixed(0), logins.latency.p50, logins.latency.p99],
          [`GET /session with one token, concurrency 10, ${QUICK ? 3 : 10} s`, session.requests.total, codes(session), session.errors + session.timeouts, session.requests.average.toFixed(0), session.latency.p50, session.latency.p99],
        ],
      ),
    );
    log();
    // One more user was made for the token; the check counts what the table holds.
    const records = await countTenantRecords(client, TABLE, tenantId);
    const orphans = await findOrphans(client, TABLE, { tenantId });
    const expected = count + 1;
    const whole = records.users === expected && records.emailKeys === expected && records.links === expected && records.seatCount === expected && orphans.length === 0;
    log(
      `Table check afterwards (tenant ${tenantId}): ${records.users} users, ${records.emailKeys} email keys, ${records.links} identity links, seat count ${records.seatCount} ` +
        `(expected ${expected} each: ${count} logins + the token's), orphans: ${orphans.length === 0 ? 'none' : orphans.join('; ')}: ${whole ? 'OK' : 'WRONG'}.`,
    );
    log();
    const failed = logins.errors + logins.timeouts + session.errors + session.timeouts > 0 || logins['3xx'] !== count || session['2xx'] !== session.requests.total;
    if (failed || !whole) process.exitCode = 1;
  } finally {
    server.kill('SIGTERM');
  }
}

client.destroy();
await dynamo.stop();
rmSync(work, { recursive: true, force: true });
