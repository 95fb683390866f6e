import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { DeleteCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SamlConnection } from '../../functions/core/model';
import type { Runtime } from '../../functions/core/runtime';

import { createDocumentClient, createStore, ensureTable } from '../../functions/core/store/store';
import { logger } from '../../functions/http';
import { createSamlHandler } from '../../functions/saml';
import { startDynamoDbLocal, type RunningDynamoDbLocal } from '../../local/dynamodb-local';
import { issueSamlResponse } from '../../local/saml-idp';
import { instrumentDocumentClient, type DynamoDbCalls, type Fault } from '../support/dynamodb-calls';
import { createSamlConnection, postAcs, problemCode, responseFor, testRuntime } from '../support/harness';
import { findOrphans } from '../support/table-audit';

/**
 * DynamoDB failing in the middle of a login, on a DynamoDB Local of this suite's own (so stopping
 * it touches no other test): at every call of a new user's and a returning user's login, an SDK
 * failure (before the request leaves, and after the write landed with its answer lost) and the
 * database stopped outright. Each time the answer is `service_unavailable` within a few seconds,
 * never a 500, and a scan of the table then finds nothing half-written.
 */

const TABLE = 'sso-faults';
/**
 * "Within a few seconds": when nothing answers, the SDK's three attempts of at most
 * DATABASE_TIMEOUTS.requestTimeoutMs each (about 6 s); the bound allows a loaded CI machine up to
 * the function's own timeout (10 s), which is what the answer must beat.
 */
const PROMPT_MS = 10_000;

let dataDir: string;
let dynamo: RunningDynamoDbLocal;
let port: number;
let client: DynamoDBDocumentClient;
let calls: DynamoDbCalls;
let runtime: Runtime;
let connection: SamlConnection;
let saml: ReturnType<typeof createSamlHandler>;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'sso-faults-'));
  dynamo = await startDynamoDbLocal({ path: dataDir });
  port = Number(new URL(dynamo.endpoint).port);
  // The client the runtime builds, with its timeouts: what a Lambda would be left with.
  client = createDocumentClient({ endpoint: dynamo.endpoint });
  // Every outage below is logged as an error by design; the suite's output need not show 40 of them.
  logger.setLogLevel('SILENT');
  await ensureTable(client, TABLE);
  calls = instrumentDocumentClient(client);
  runtime = await testRuntime({ store: createStore({ tableName: TABLE, client }) });
  connection = await createSamlConnection(runtime, { allowIdpInitiated: true }, { seatLimit: 1000 });
  saml = createSamlHandler(runtime);
}, 120_000);

afterAll(async () => {
  logger.setLogLevel('ERROR');
  client?.destroy();
  await dynamo?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/**
 * A login at a cold container by default (a store of its own, whose connection cache is empty, on
 * the instrumented client), so that the faults below reach the connection's read too; `warm`: at
 * the suite's container, which read the connection already.
 */
async function login(nameId: string, options: { warm?: boolean } = {}) {
  const handler = options.warm ? saml : createSamlHandler({ ...runtime, store: createStore({ tableName: TABLE, client }) });
  return postAcs(handler, connection.id, await issueSamlResponse(responseFor(connection, runtime, { nameId, attributes: { email: [nameId], groups: ['a'] } })));
}

/** The commands of one clean login: a new user's, or a returning one's. */
async function cleanLogin(nameId: string, options: { warm?: boolean } = {}): Promise<string[]> {
  calls.reset();
  const result = await login(nameId, options);
  expect(result.statusCode).toBe(303);
  return [...calls.commands];
}

/** A login with one fault armed: `service_unavailable` promptly, and nothing half-written. */
async function expectOutage(nameId: string, fault: Fault) {
  calls.reset();
  calls.inject(fault);
  const started = Date.now();
  const result = await login(nameId);
  const elapsed = Date.now() - started;
  expect({ status: result.statusCode, code: problemCode(result), prompt: elapsed < PROMPT_MS, fault: fault.kind, at: fault.at }).toEqual({
    status: 503,
    code: 'service_unavailable',
    prompt: true,
    fault: fault.kind,
    at: fault.at,
  });
  expect(await findOrphans(client, TABLE)).toEqual([]);
}

const newName = () => `fault-${randomUUID()}@example.test`;

describe('DynamoDB failing mid-login', () => {
  let newUserCalls: string[];
  let returningCalls: string[];
  let warmCalls: { newUser: string[]; returning: string[] };

  beforeAll(async () => {
    newUserCalls = await cleanLogin(newName());
    const returning = newName();
    await cleanLogin(returning);
    returningCalls = await cleanLogin(returning);
    await cleanLogin(newName(), { warm: true });
    warmCalls = { newUser: await cleanLogin(newName(), { warm: true }), returning: await cleanLogin(returning, { warm: true }) };
  });

  it('counts the round trips of a login: one read and one transaction, after the connection a container reads once (the faults below cover each)', () => {
    const oneReadOneTransaction = ['GetItemCommand', 'TransactWriteItemsCommand'];
    expect(warmCalls).toEqual({ newUser: oneReadOneTransaction, returning: oneReadOneTransaction });
    expect({ newUserCalls, returningCalls }).toEqual({ newUserCalls: ['GetItemCommand', ...oneReadOneTransaction], returningCalls: ['GetItemCommand', ...oneReadOneTransaction] });
  });

  it('answers service_unavailable and leaves no orphan when any call of a new user\'s first login fails, before or after it lands', async () => {
    for (let at = 1; at <= newUserCalls.length; at++) {
      for (const kind of ['fail-before', 'fail-after'] as const) {
        const nameId = newName();
        await expectOutage(nameId, { at, kind });
        // The user can sign in once the database answers again, as one user.
        expect((await login(nameId)).statusCode).toBe(303);
        expect(await findOrphans(client, TABLE)).toEqual([]);
      }
    }
  });

  it('answers service_unavailable and leaves no orphan when any call of a returning user\'s login fails', async () => {
    const nameId = newName();
    expect((await login(nameId)).statusCode).toBe(303);
    for (let at = 1; at <= returningCalls.length; at++) {
      for (const kind of ['fail-before', 'fail-after'] as const) await expectOutage(nameId, { at, kind });
    }
    expect((await login(nameId)).statusCode).toBe(303);
  });

  it('answers service_unavailable promptly when DynamoDB stops answering before any call of a new user\'s login, and holds no orphan once it answers again', async () => {
    for (let at = 1; at <= newUserCalls.length; at++) {
      const nameId = newName();
      let paused = false;
      calls.reset();
      calls.inject({ at, kind: 'run-before', run: async () => { dynamo.pause(); paused = true; } });
      const started = Date.now();
      const result = await login(nameId).finally(() => paused && dynamo.resume());
      const elapsedMs = Date.now() - started;
      expect({ at, status: result.statusCode, code: problemCode(result) }).toEqual({ at, status: 503, code: 'service_unavailable' });
      // A failure names the call and how long the answer took.
      expect({ at, tooSlowMs: elapsedMs < PROMPT_MS ? false : elapsedMs }).toEqual({ at, tooSlowMs: false });
      // What it was sent while frozen, it now carries out (a write may land after the login gave up): still nothing half-written.
      expect(await findOrphans(client, TABLE)).toEqual([]);
      expect((await login(nameId)).statusCode).toBe(303);
    }
  }, 180_000);

  it('answers service_unavailable promptly when DynamoDB is stopped between reading the identity and committing the login, and the restarted table holds no orphan', async () => {
    // The login's one transaction: the assertion spent, the user, its link, its seat, the session and the audit events.
    const at = newUserCalls.indexOf('TransactWriteItemsCommand') + 1;
    const nameId = newName();
    calls.reset();
    calls.inject({ at, kind: 'run-before', run: () => dynamo.stop() });
    const started = Date.now();
    const result = await login(nameId);
    expect({ status: result.statusCode, code: problemCode(result), prompt: Date.now() - started < PROMPT_MS }).toEqual({ status: 503, code: 'service_unavailable', prompt: true });
    dynamo = await startDynamoDbLocal({ path: dataDir, port });
    expect(await findOrphans(client, TABLE)).toEqual([]);
    expect((await login(nameId)).statusCode).toBe(303);
    expect(await findOrphans(client, TABLE)).toEqual([]);
  }, 120_000);

  it('has a scan that finds each kind of orphan (a user without email key or link, a dangling link or email key, a wrong seat count)', async () => {
    const tenantId = `orphans-${randomUUID()}`;
    const items = [
      { pk: `TENANT#${tenantId}`, sk: 'TENANT', id: tenantId, name: 'orphans', seatCount: 3 },
      { pk: 'USER#u-no-email-key', sk: 'USER', id: 'u-no-email-key', tenantId, email: 'lost@example.test', status: 'active' },
      { pk: 'USER#u-no-link', sk: 'USER', id: 'u-no-link', tenantId, status: 'active' },
      { pk: `LINK#c#dangling-${tenantId}`, sk: 'LINK', userId: 'u-missing', tenantId },
      { pk: `EMAIL#${tenantId}#ghost@example.test`, sk: 'EMAIL', userId: 'u-missing' },
    ];
    for (const Item of items) await client.send(new PutCommand({ TableName: TABLE, Item }));
    try {
      expect((await findOrphans(client, TABLE, { tenantId })).sort()).toEqual(
        [
          `user u-no-email-key has no email key EMAIL#${tenantId}#lost@example.test`,
          'user u-no-email-key has no identity link',
          'user u-no-link has no identity link',
          `link LINK#c#dangling-${tenantId} points to missing user u-missing`,
          `email key EMAIL#${tenantId}#ghost@example.test points to missing user u-missing`,
          `tenant ${tenantId} counts 3 seats for 2 active users`,
        ].sort(),
      );
    } finally {
      for (const { pk, sk } of items) await client.send(new DeleteCommand({ TableName: TABLE, Key: { pk, sk } }));
    }
    expect(await findOrphans(client, TABLE)).toEqual([]);
  });
});
