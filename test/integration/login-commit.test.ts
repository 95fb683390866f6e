import { randomUUID } from 'node:crypto';
import type { SamlConnection } from '../../functions/core/model';
import { createDocumentClient, createStore } from '../../functions/core/store/store';
import { createSamlHandler } from '../../functions/saml';
import { createSessionHandler } from '../../functions/session';
import { issueSamlResponse } from '../../local/saml-idp';
import { createSamlConnection, invoke, postAcs, problemCode, responseFor, sessionTokenOf, testRuntime } from '../support/harness';

/**
 * A login reads its user from the identity link's copy and commits everything in one
 * transaction; the connection comes from the container's cache. Each shortcut is checked here
 * against what it must never do: trust a stale copy, leave a refused response unspent, or serve
 * a connection longer than its cache time. "Another process" is a second store on the same table,
 * as the admin CLI or SCIM in another Lambda would be.
 */

type TestRuntime = Awaited<ReturnType<typeof testRuntime>>;

/** A store of its own on the suite's table, as another process (the admin CLI, a SCIM Lambda) holds one. */
const otherProcess = () => createStore({ tableName: process.env.TABLE_NAME!, client: createDocumentClient({ endpoint: process.env.DYNAMODB_ENDPOINT!, timeouts: false }) });

async function logIn(runtime: TestRuntime, connection: SamlConnection, nameId: string) {
  const response = await issueSamlResponse(responseFor(connection, runtime, { nameId, attributes: { email: [nameId] } }));
  return { response, result: await postAcs(createSamlHandler(runtime), connection.id, response) };
}

/** The user as the session token claims it (what the SaaS front end reads), and `GET /session` agrees. */
async function sessionUser(runtime: TestRuntime, result: Awaited<ReturnType<typeof logIn>>['result']) {
  const token = sessionTokenOf(result);
  const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { sub: string; roles: string[] };
  const me = await invoke(createSessionHandler(runtime), { method: 'GET', url: '/session', headers: { authorization: `Bearer ${token}` } });
  expect(me.json().user).toMatchObject({ id: claims.sub, roles: claims.roles });
  return { id: claims.sub, roles: claims.roles };
}

describe('a login\'s one read: the identity link\'s copy of its user, checked at commit', () => {
  it('signs in with the user as another process changed it since the copy was written, never with the copy', async () => {
    const runtime = await testRuntime();
    const connection = await createSamlConnection(runtime, { allowIdpInitiated: true, roles: { defaults: ['member'], update: 'never' } });
    const nameId = `copy-${randomUUID()}@example.test`;
    const first = await sessionUser(runtime, (await logIn(runtime, connection, nameId)).result);
    const elsewhere = otherProcess();
    const stored = (await elsewhere.getUser(first.id))!;
    await elsewhere.updateUser(stored, { ...stored, roles: ['owner'] });

    const again = await logIn(runtime, connection, nameId);
    expect(again.result.statusCode).toBe(303);
    expect(await sessionUser(runtime, again.result)).toMatchObject({ id: first.id, roles: ['owner'] });
    // The login that found the copy stale wrote the link again: the next one reads one item and finds it current.
    expect(await sessionUser(runtime, (await logIn(runtime, connection, nameId)).result)).toMatchObject({ roles: ['owner'] });
  });

  it('refuses a user another process deactivated after the copy was written', async () => {
    const runtime = await testRuntime();
    const connection = await createSamlConnection(runtime, { allowIdpInitiated: true });
    const nameId = `gone-${randomUUID()}@example.test`;
    const user = await sessionUser(runtime, (await logIn(runtime, connection, nameId)).result);
    await otherProcess().deactivateUser(user.id, new Date());
    const { result } = await logIn(runtime, connection, nameId);
    expect({ status: result.statusCode, code: problemCode(result) }).toEqual({ status: 403, code: 'user_deactivated' });
  });
});

describe('a refused login spends its response', () => {
  it('answers a refused response posted again as a replay, as before the login wrote anything', async () => {
    const runtime = await testRuntime();
    const connection = await createSamlConnection(runtime, { allowIdpInitiated: true, allowedEmailDomains: ['allowed.example'] });
    const { response, result } = await logIn(runtime, connection, `outside-${randomUUID()}@example.test`);
    expect(problemCode(result)).toBe('domain_not_allowed');
    expect(problemCode(await postAcs(createSamlHandler(runtime), connection.id, response))).toBe('saml_replay');
  });

  it('names the seat limit, not the spent assertion, when the commit finds no seat', async () => {
    const runtime = await testRuntime();
    const connection = await createSamlConnection(runtime, { allowIdpInitiated: true }, { seatLimit: 1 });
    expect((await logIn(runtime, connection, `first-${randomUUID()}@example.test`)).result.statusCode).toBe(303);
    const { response, result } = await logIn(runtime, connection, `second-${randomUUID()}@example.test`);
    expect(problemCode(result)).toBe('seat_limit_reached');
    expect(problemCode(await postAcs(createSamlHandler(runtime), connection.id, response))).toBe('saml_replay');
  });
});

describe('the connection, cached per container', () => {
  it('serves a connection another process disabled until its cache time passes, and one disabled through its own store at once', async () => {
    const base = await testRuntime();
    const runtime = { ...base, config: { ...base.config, connectionCacheSeconds: 1 } };
    const connection = await createSamlConnection(runtime, { allowIdpInitiated: true });
    expect((await logIn(runtime, connection, `a-${randomUUID()}@example.test`)).result.statusCode).toBe(303);

    const elsewhere = otherProcess();
    await elsewhere.updateConnection({ ...(await elsewhere.getConnection(connection.id))!, enabled: false });
    expect((await logIn(runtime, connection, `b-${randomUUID()}@example.test`)).result.statusCode).toBe(303);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(problemCode((await logIn(runtime, connection, `c-${randomUUID()}@example.test`)).result)).toBe('unknown_connection');

    const own = await createSamlConnection(runtime, { allowIdpInitiated: true });
    expect((await logIn(runtime, own, `d-${randomUUID()}@example.test`)).result.statusCode).toBe(303);
    await runtime.store.updateConnection({ ...(await runtime.store.getConnection(own.id))!, enabled: false });
    expect(problemCode((await logIn(runtime, own, `e-${randomUUID()}@example.test`)).result)).toBe('unknown_connection');
  });
});
