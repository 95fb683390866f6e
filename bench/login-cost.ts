/**
 * `npx tsx bench/login-cost.ts [logins]`: what one complete SAML login costs in process, for the
 * README's cost model. Runs the real ACS handler against DynamoDB Local (started here) with a
 * local in-memory ES256 signer (the `secret` signer's path), and reports per login:
 * - CPU time of this process (user + system), for first logins (JIT provisioning) and returning
 *   ones; DynamoDB Local runs in its own JVM, so its CPU is not counted;
 * - the DynamoDB requests the login makes, by operation, and the items they write or read
 *   (a transactional item costs two capacity units).
 * Then the same users sign in again SP-initiated, as a browser does (login start, ACS, GET /session).
 * Prints figures; asserts nothing.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { createDocumentClient, createStore, ensureTable } from '../functions/core/store/store';
import { startDynamoDbLocal } from '../local/dynamodb-local';

const LOGINS = Number(process.argv[2] ?? 200);

const dynamo = await startDynamoDbLocal();
const tableName = 'sso-bench';
const setupClient = createDocumentClient({ endpoint: dynamo.endpoint });
await ensureTable(setupClient, tableName);
setupClient.destroy();
Object.assign(process.env, {
  TABLE_NAME: tableName,
  DYNAMODB_ENDPOINT: dynamo.endpoint,
  PUBLIC_BASE_URL: 'https://sso.bench',
  SESSION_AUDIENCE: 'https://app.bench',
  LOCAL_SIGNING_KEY_FILE: join(mkdtempSync(join(tmpdir(), 'sso-bench-')), 'signing-key.json'),
  AWS_REGION: 'local',
  POWERTOOLS_LOG_LEVEL: 'ERROR',
  POWERTOOLS_METRICS_DISABLED: 'true',
});

// Imported after the environment is set: the handlers' modules read it.
const { createSamlHandler } = await import('../functions/saml');
const { issueSamlResponse } = await import('../local/saml-idp');
const { createSessionHandler } = await import('../functions/session');
const { createSamlConnection, invoke, postAcs, responseFor, sessionTokenOf, testRuntime } = await import('../test/support/harness');

interface Counts {
  calls: Record<string, number>;
  itemsWritten: number;
  transactionalItemsWritten: number;
  itemsRead: number;
}
const counts: Counts = { calls: {}, itemsWritten: 0, transactionalItemsWritten: 0, itemsRead: 0 };
const client = createDocumentClient({ endpoint: dynamo.endpoint });
client.middlewareStack.add(
  (next, context) => async (args) => {
    const name = context.commandName ?? 'unknown';
    counts.calls[name] = (counts.calls[name] ?? 0) + 1;
    const input = args.input as { TransactItems?: unknown[] };
    if (name === 'TransactWriteItemsCommand') counts.transactionalItemsWritten += input.TransactItems?.length ?? 0;
    else if (/^(Put|Update|Delete)ItemCommand$/.test(name)) counts.itemsWritten += 1;
    const output = await next(args);
    const body = output.output as { Items?: unknown[]; Item?: unknown };
    if (name === 'GetItemCommand') counts.itemsRead += body.Item ? 1 : 0;
    if (name === 'QueryCommand') counts.itemsRead += body.Items?.length ?? 0;
    return output;
  },
  { step: 'initialize', name: 'countRequests' },
);

const base = await testRuntime();
const runtime = { ...base, store: createStore({ tableName, client }) };
const connection = await createSamlConnection(runtime, { allowIdpInitiated: true });
const handler = createSamlHandler(runtime);

const sessionHandler = createSessionHandler(runtime);

/** The three requests of an SP-initiated login as a browser makes them: login start, ACS, then the front end's GET /session. */
async function spInitiatedLogin(nameId: string): Promise<void> {
  const started = await invoke(handler, { method: 'GET', url: `/saml/${connection.id}/login?return_to=${encodeURIComponent('https://app.example.test/')}` });
  const location = new URL(String(started.headers?.location));
  const request = inflateRawSync(Buffer.from(location.searchParams.get('SAMLRequest')!, 'base64')).toString('utf8');
  const inResponseTo = /ID="([^"]+)"/.exec(request)?.[1];
  // Issuing the response is the IdP's work, not ours: excluded from the measured CPU.
  const pause = process.cpuUsage();
  const response = await issueSamlResponse(responseFor(connection, runtime, { nameId, inResponseTo }));
  excluded = addCpu(excluded, process.cpuUsage(pause));
  // The browser's sso_saml_request cookie, which binds the response to the login it started.
  const result = await postAcs(handler, connection.id, response, location.searchParams.get('RelayState') ?? undefined, inResponseTo ? { requestId: inResponseTo } : {});
  if (result.statusCode !== 303) throw new Error(`login answered ${result.statusCode}: ${result.body}`);
  const session = await invoke(sessionHandler, { method: 'GET', url: '/session', headers: { authorization: `Bearer ${sessionTokenOf(result)}` } });
  if (session.statusCode !== 200) throw new Error(`GET /session answered ${session.statusCode}`);
}

let excluded = { user: 0, system: 0 };
const addCpu = (a: NodeJS.CpuUsage, b: NodeJS.CpuUsage) => ({ user: a.user + b.user, system: a.system + b.system });

async function measureSpInitiated(label: string, nameIds: readonly string[]) {
  Object.assign(counts, { calls: {}, itemsWritten: 0, transactionalItemsWritten: 0, itemsRead: 0 });
  excluded = { user: 0, system: 0 };
  const cpu = process.cpuUsage();
  for (const nameId of nameIds) await spInitiatedLogin(nameId);
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system - excluded.user - excluded.system) / 1000 / nameIds.length;
  const perLogin = (n: number) => (n / nameIds.length).toFixed(2);
  console.log(`${label} (${nameIds.length} logins, sequential; login start + ACS + GET /session):`);
  console.log(`  CPU ${cpuMs.toFixed(2)} ms/login, IdP's response signing excluded`);
  console.log(`  DynamoDB requests/login: ${Object.entries(counts.calls).map(([name, n]) => `${name.replace(/Command$/, '')} ${perLogin(n)}`).join(', ')}`);
  console.log(`  items written/login: ${perLogin(counts.itemsWritten)} plain + ${perLogin(counts.transactionalItemsWritten)} in transactions; items read/login: ${perLogin(counts.itemsRead)}`);
}

async function measure(label: string, nameIds: readonly string[]) {
  const responses = await Promise.all(nameIds.map((nameId) => issueSamlResponse(responseFor(connection, runtime, { nameId }))));
  Object.assign(counts, { calls: {}, itemsWritten: 0, transactionalItemsWritten: 0, itemsRead: 0 });
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  for (const response of responses) {
    const result = await postAcs(handler, connection.id, response);
    if (result.statusCode !== 303) throw new Error(`login answered ${result.statusCode}: ${result.body}`);
  }
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6 / responses.length;
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000 / responses.length;
  const perLogin = (n: number) => (n / responses.length).toFixed(2);
  console.log(`${label} (${responses.length} logins, sequential):`);
  console.log(`  CPU ${cpuMs.toFixed(2)} ms/login, wall ${wallMs.toFixed(2)} ms/login (wall includes DynamoDB Local's time)`);
  console.log(`  DynamoDB requests/login: ${Object.entries(counts.calls).map(([name, n]) => `${name.replace(/Command$/, '')} ${perLogin(n)}`).join(', ')}`);
  console.log(`  items written/login: ${perLogin(counts.itemsWritten)} plain + ${perLogin(counts.transactionalItemsWritten)} in transactions; items read/login: ${perLogin(counts.itemsRead)}`);
}

// Warm-up: the schema compile, JIT and connection pool are a container's, not a login's.
await measure('warm-up', Array.from({ length: 20 }, () => `warm-${randomUUID()}@example.test`));
const firstLogins = Array.from({ length: LOGINS }, () => `first-${randomUUID()}@example.test`);
await measure('first logins (user created)', firstLogins);
await measure('returning logins (user exists)', firstLogins);
await measureSpInitiated('SP-initiated returning logins', firstLogins);

client.destroy();
await dynamo.stop();
