import { randomUUID } from 'node:crypto';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { createDocumentClient, createStore } from '../../functions/core/store/store';
import { createSamlHandler } from '../../functions/saml';
import { issueSamlResponse } from '../../local/saml-idp';
import { createSamlConnection, postAcs, problemCode, responseFor, testRuntime } from '../support/harness';

/** A small seeded PRNG (mulberry32), so a failing run can be replayed with the same conflicts. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Which TransactWriteItems calls may conflict: those that move a tenant's seat counter, or all. */
type Target = 'seatCounter' | 'every';

/** The index of the item that updates a seat counter, or -1. */
function seatCounterIndex(items: readonly unknown[]): number {
  return items.findIndex((item) => JSON.stringify(item).includes('seatCount'));
}

/**
 * A document client on DynamoDB Local whose TransactWriteItems calls fail, at the given share and
 * before reaching the table, as real DynamoDB fails a transaction that collides with another on
 * the same item: TransactionCanceledException, the conflicting item (the seat counter when the
 * transaction holds it, else the first) `TransactionConflict`, the others `None`. DynamoDB Local
 * serializes transactions and never raises it.
 */
function conflictingClient(share: number, seed = 12, target: Target = 'seatCounter'): { client: DynamoDBDocumentClient; injected: () => number; calls: () => number } {
  const client = createDocumentClient({ endpoint: process.env.DYNAMODB_ENDPOINT! });
  const random = seeded(seed);
  let injected = 0;
  let calls = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'TransactWriteItemsCommand') return next(args);
      const items = (args.input as { TransactItems?: unknown[] }).TransactItems ?? [];
      const seat = seatCounterIndex(items);
      if (target === 'seatCounter' && seat < 0) return next(args);
      calls += 1;
      if (random() >= share) return next(args);
      injected += 1;
      const conflicting = Math.max(seat, 0);
      throw new TransactionCanceledException({
        $metadata: { httpStatusCode: 400 },
        message: 'Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]',
        CancellationReasons: items.map((_, index) =>
          index === conflicting ? { Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' } : { Code: 'None' },
        ),
      });
    },
    { step: 'initialize', name: 'injectTransactionConflicts' },
  );
  return { client, injected: () => injected, calls: () => calls };
}

async function conflictingRuntime(share: number, seed?: number, target?: Target) {
  const runtime = await testRuntime();
  const conflicts = conflictingClient(share, seed, target);
  return { runtime: { ...runtime, store: createStore({ tableName: runtime.config.tableName, client: conflicts.client }) }, conflicts };
}

/** What the table holds for a tenant, read straight from its keys: users, their email keys and identity links. */
async function tenantItems(client: DynamoDBDocumentClient, tenantId: string, connectionId: string, subjects: readonly string[]) {
  const get = (pk: string, sk: string) => client.send(new GetCommand({ TableName: process.env.TABLE_NAME!, Key: { pk, sk } }));
  const links = (await Promise.all(subjects.map((subject) => get(`LINK#${connectionId}#${subject}`, 'LINK')))).flatMap((r) => (r.Item ? [r.Item] : []));
  const users = (await Promise.all(links.map((link) => get(`USER#${String(link.userId)}`, 'USER')))).flatMap((r) => (r.Item ? [r.Item] : []));
  const emails = (await Promise.all(users.map((user) => get(`EMAIL#${tenantId}#${String(user.email)}`, 'EMAIL')))).flatMap((r) => (r.Item ? [r.Item] : []));
  const tenant = (await get(`TENANT#${tenantId}`, 'TENANT')).Item;
  return { tenant, links, users, emails };
}

describe('the seat counter under injected TransactionConflict', () => {
  it('a first-login storm against a seat limit with 30% of the seat-counter transactions conflicting: every login succeeds or is refused cleanly, and the count stays exact', async () => {
    const { runtime, conflicts } = await conflictingRuntime(0.3);
    const connection = await createSamlConnection(runtime, { allowIdpInitiated: true }, { seatLimit: 40 });
    const handler = createSamlHandler(runtime);
    const subjects = Array.from({ length: 55 }, (_, i) => `storm-${i}-${randomUUID()}@example.test`);
    const responses = await Promise.all(subjects.map((nameId) => issueSamlResponse(responseFor(connection, runtime, { nameId }))));

    const results = await Promise.all(responses.map((response) => postAcs(handler, connection.id, response)));

    expect(conflicts.injected()).toBeGreaterThan(0.2 * conflicts.calls());
    const outcomes = results.map((r) => (r.statusCode === 303 ? '303' : `${r.statusCode} ${problemCode(r)}`));
    expect(outcomes.filter((outcome) => outcome === '303')).toHaveLength(40);
    expect(outcomes.filter((outcome) => outcome !== '303')).toEqual(Array(15).fill('403 seat_limit_reached'));

    const users = await runtime.store.listUsers(connection.tenantId);
    const items = await tenantItems(conflicts.client, connection.tenantId, connection.id, subjects);
    expect(items.tenant?.seatCount).toBe(40);
    expect(users.filter((user) => user.status === 'active')).toHaveLength(40);
    expect([items.users.length, items.emails.length, items.links.length]).toEqual([40, 40, 40]);
    expect(new Set(items.emails.map((email) => email.userId))).toEqual(new Set(users.map((user) => user.id)));
  });

  it('with 30% of every transaction conflicting (the replay cache too), no login answers 500 and the count stays exact', async () => {
    const { runtime, conflicts } = await conflictingRuntime(0.3, 99, 'every');
    const connection = await createSamlConnection(runtime, { allowIdpInitiated: true }, { seatLimit: 20 });
    const handler = createSamlHandler(runtime);
    const subjects = Array.from({ length: 30 }, (_, i) => `every-${i}-${randomUUID()}@example.test`);
    const responses = await Promise.all(subjects.map((nameId) => issueSamlResponse(responseFor(connection, runtime, { nameId }))));

    const results = await Promise.all(responses.map((response) => postAcs(handler, connection.id, response)));

    expect(conflicts.injected()).toBeGreaterThan(0);
    const outcomes = new Set(results.map((r) => (r.statusCode === 303 ? '303' : `${r.statusCode} ${problemCode(r)}`)));
    for (const outcome of outcomes) expect(['303', '403 seat_limit_reached', '503 service_unavailable']).toContain(outcome);
    const succeeded = results.filter((r) => r.statusCode === 303).length;
    const items = await tenantItems(conflicts.client, connection.tenantId, connection.id, subjects);
    expect(succeeded).toBeLessThanOrEqual(20);
    expect([items.tenant?.seatCount, items.users.length, items.emails.length, items.links.length]).toEqual(Array(4).fill(items.users.length));
    expect(items.users.length).toBeGreaterThanOrEqual(succeeded);
  });

  it('concurrent first logins of one new user under conflicts make one user and one seat', async () => {
    const { runtime, conflicts } = await conflictingRuntime(0.3, 7);
    const connection = await createSamlConnection(runtime, { allowIdpInitiated: true }, { seatLimit: 5 });
    const handler = createSamlHandler(runtime);
    const nameId = `one-${randomUUID()}@example.test`;
    const responses = await Promise.all(Array.from({ length: 30 }, () => issueSamlResponse(responseFor(connection, runtime, { nameId }))));

    const results = await Promise.all(responses.map((response) => postAcs(handler, connection.id, response)));

    expect(conflicts.injected()).toBeGreaterThan(0);
    expect(results.map((r) => r.statusCode)).toEqual(Array(30).fill(303));
    const items = await tenantItems(conflicts.client, connection.tenantId, connection.id, [nameId]);
    expect([items.tenant?.seatCount, items.users.length, items.emails.length, items.links.length]).toEqual([1, 1, 1, 1]);
  });

  it('when every transaction conflicts, the login fails with service_unavailable and takes no seat', async () => {
    const { runtime } = await conflictingRuntime(1, 1, 'seatCounter');
    const connection = await createSamlConnection(runtime, { allowIdpInitiated: true }, { seatLimit: 5 });
    const handler = createSamlHandler(runtime);
    const nameId = `never-${randomUUID()}@example.test`;

    const result = await postAcs(handler, connection.id, await issueSamlResponse(responseFor(connection, runtime, { nameId })));

    expect(`${result.statusCode} ${problemCode(result)}`).toBe('503 service_unavailable');
    const items = await tenantItems(createDocumentClient({ endpoint: process.env.DYNAMODB_ENDPOINT! }), connection.tenantId, connection.id, [nameId]);
    expect([items.tenant?.seatCount, items.links.length]).toEqual([0, 0]);
  }, 30_000);
});
