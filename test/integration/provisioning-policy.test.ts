import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { Connection, User } from '../../functions/core/model';
import { DEFAULT_ATTRIBUTE_MAPPING } from '../../functions/core/provisioning';
import { createSessionHandler } from '../../functions/session';
import { invoke, problemCode, sessionTokenOf } from '../support/harness';
import { oidcDriver, person, samlDriver, type Person, type TestRuntime } from '../support/login-drivers';

const oidc = oidcDriver({ clientId: 'policy-rp' });
const saml = samlDriver;
type Runtime = TestRuntime;

beforeAll(() => oidc.start());
afterAll(() => oidc.stop());

const refusal = (result: APIGatewayProxyStructuredResultV2) => ({ status: result.statusCode, code: problemCode(result) });

async function userOf(runtime: Runtime, connection: Connection, who: Person): Promise<User> {
  const user = await runtime.store.findUserByLink({ connectionId: connection.id, subject: who.subject });
  if (!user) throw new Error(`no user for ${who.subject}`);
  return user;
}

describe.each([
  ['SAML', saml],
  ['OIDC', oidc],
] as const)('provisioning policy through %s', (_, driver) => {
  it('with JIT off, refuses an unknown user with user_not_provisioned and lets an existing one in', async () => {
    const { runtime, connection } = await driver.setUp();
    const known = person();
    expect((await driver.logIn(runtime, connection, known)).statusCode).toBe(303);
    const closed = { ...connection, jit: false, version: 2 } as Connection;
    await runtime.store.putConnection(closed);

    expect((await driver.logIn(runtime, closed, known)).statusCode).toBe(303);
    const stranger = person();
    expect(refusal(await driver.logIn(runtime, closed, stranger))).toEqual({ status: 403, code: 'user_not_provisioned' });
    expect(await runtime.store.findUserByLink({ connectionId: connection.id, subject: stranger.subject })).toBeUndefined();
  });

  it('with JIT off, lets in a user an admin added ahead, through the email linking rules only', async () => {
    const { runtime, connection } = await driver.setUp({ jit: false, linkByEmail: true, allowedEmailDomains: ['example.test'] });
    const who = person();
    const now = new Date().toISOString();
    const added = await runtime.store.createUser(
      { id: randomUUID(), tenantId: connection.tenantId, email: who.email, roles: ['viewer'], attributes: {}, status: 'active', createdAt: now, updatedAt: now },
      undefined,
    );
    expect((await driver.logIn(runtime, connection, who)).statusCode).toBe(303);
    expect((await userOf(runtime, connection, who)).id).toBe(added.id);
    expect(refusal(await driver.logIn(runtime, connection, person()))).toEqual({ status: 403, code: 'user_not_provisioned' });
  });

  it('maps attributes with constants, defaults, joins and transforms, keeping custom attributes', async () => {
    const { runtime, connection } = await driver.setUp({
      attributeMapping: {
        attributes: {
          email: { from: ['email'], transforms: ['trim', 'lowercase'] },
          name: { join: { parts: [['given_name'], ['family_name']], separator: ' ' } },
          plan: { constant: 'enterprise' },
          locale: { from: ['locale'], default: 'en-GB' },
          department: { from: ['department'], transforms: ['uppercase'] },
          teams: { from: ['groups'], transforms: [{ split: ';' }], multiValued: true },
        },
        required: ['email'],
      },
    });
    const who = person({ email: `MiXeD-${randomUUID()}@Example.TEST`, given_name: 'Grace', family_name: 'Hopper', department: 'research', groups: ['blue;green'] });
    expect((await driver.logIn(runtime, connection, who)).statusCode).toBe(303);
    expect(await userOf(runtime, connection, who)).toMatchObject({
      email: who.email.toLowerCase(),
      name: 'Grace Hopper',
      attributes: { plan: 'enterprise', locale: 'en-GB', department: 'RESEARCH', teams: ['blue', 'green'] },
    });
  });

  it('refuses a login without a required attribute, naming it', async () => {
    const { runtime, connection } = await driver.setUp({
      attributeMapping: { attributes: { ...DEFAULT_ATTRIBUTE_MAPPING.attributes, costCenter: { from: ['costCenter'] } }, required: ['costCenter'] },
    });
    const result = await driver.logIn(runtime, connection, person());
    expect(refusal(result)).toEqual({ status: 422, code: 'missing_required_attribute' });
    expect(JSON.parse(String(result.body)).detail).toContain('costCenter');
  });

  it('gives the roles of mapped groups, and the defaults to a user whose groups map to none', async () => {
    const { runtime, connection } = await driver.setUp({ roles: { defaults: ['viewer'], groupRoles: { admins: ['admin', 'editor'], writers: ['editor'] } } });
    const admin = person({ groups: ['admins', 'writers', 'unmapped'] });
    const plain = person({ groups: ['unmapped'] });
    const none = person();
    for (const who of [admin, plain, none]) expect((await driver.logIn(runtime, connection, who)).statusCode).toBe(303);
    expect((await userOf(runtime, connection, admin)).roles).toEqual(['admin', 'editor']);
    expect((await userOf(runtime, connection, plain)).roles).toEqual(['viewer']);
    expect((await userOf(runtime, connection, none)).roles).toEqual(['viewer']);
  });

  it('updates on login as each attribute and the roles say, and audits the change with old and new values', async () => {
    const { runtime, connection } = await driver.setUp({
      attributeMapping: {
        attributes: {
          ...DEFAULT_ATTRIBUTE_MAPPING.attributes,
          givenName: { from: ['given_name'], update: 'always' },
          familyName: { from: ['family_name'], update: 'on-create' },
          department: { from: ['department'], update: 'never' },
        },
        required: [],
      },
      roles: { defaults: ['member'], groupRoles: { admins: ['admin'] }, update: 'on-create' },
    });
    const first = person({ given_name: 'Ada', family_name: 'Byron', department: 'math', groups: ['admins'] });
    expect((await driver.logIn(runtime, connection, first)).statusCode).toBe(303);
    const created = await userOf(runtime, connection, first);
    expect(created).toMatchObject({ roles: ['admin'], attributes: { givenName: 'Ada', familyName: 'Byron' } });
    expect(created.attributes.department).toBeUndefined();

    runtime.events.published.length = 0;
    const later = { ...first, given_name: 'Augusta', family_name: 'King', department: 'poetry', groups: [] };
    expect((await driver.logIn(runtime, connection, later)).statusCode).toBe(303);
    const updated = await userOf(runtime, connection, first);
    expect(updated).toMatchObject({ roles: ['admin'], attributes: { givenName: 'Augusta', familyName: 'Byron' } });
    expect(updated.attributes.department).toBeUndefined();
    const event = runtime.events.published.find((e) => e.type === 'user.updated');
    expect(event?.detail).toEqual({ changes: expect.arrayContaining([{ field: 'attributes.givenName', from: 'Ada', to: 'Augusta' }]) });
    const changed = (event?.detail as { changes: { field: string }[] }).changes.map((c) => c.field);
    expect(changed).not.toEqual(expect.arrayContaining(['attributes.familyName']));
    expect(changed).not.toEqual(expect.arrayContaining(['attributes.department']));
    expect(changed).not.toEqual(expect.arrayContaining(['roles']));
  });

  it('refuses an email outside the allowed domains with domain_not_allowed', async () => {
    const { runtime, connection } = await driver.setUp({ allowedEmailDomains: ['acme.example'] });
    expect(refusal(await driver.logIn(runtime, connection, person()))).toEqual({ status: 403, code: 'domain_not_allowed' });
    expect((await driver.logIn(runtime, connection, person({ email: `in-${randomUUID()}@acme.example` }))).statusCode).toBe(303);
  });

  it('links a vouched email in an allowed domain to the existing user only where the connection allows it', async () => {
    const first = await driver.setUp({ allowedEmailDomains: ['example.test'] });
    const holder = person();
    expect((await driver.logIn(first.runtime, first.connection, holder)).statusCode).toBe(303);
    const existing = await userOf(first.runtime, first.connection, holder);

    const strict = await driver.setUp({ allowedEmailDomains: ['example.test'] }, { tenantId: first.connection.tenantId });
    expect(refusal(await driver.logIn(strict.runtime, strict.connection, { ...holder, subject: `other-${randomUUID()}` }))).toEqual({ status: 409, code: 'email_in_use' });

    const linking = await driver.setUp({ allowedEmailDomains: ['example.test'], linkByEmail: true }, { tenantId: first.connection.tenantId });
    const sameMailbox = { ...holder, subject: `other-${randomUUID()}` };
    expect((await driver.logIn(linking.runtime, linking.connection, sameMailbox)).statusCode).toBe(303);
    expect((await userOf(linking.runtime, linking.connection, sameMailbox)).id).toBe(existing.id);
    expect(linking.runtime.events.published.map((e) => e.type)).toContain('user.linked');
  });

  it('stops creation at the seat limit, and deactivating a user frees its seat', async () => {
    const { runtime, connection } = await driver.setUp({}, { seatLimit: 1 });
    const a = person();
    const b = person();
    expect((await driver.logIn(runtime, connection, a)).statusCode).toBe(303);
    expect(refusal(await driver.logIn(runtime, connection, b))).toEqual({ status: 403, code: 'seat_limit_reached' });
    expect(runtime.events.published.map((e) => e.type)).toContain('seat_limit.reached');

    await runtime.store.deactivateUser((await userOf(runtime, connection, a)).id, new Date());
    expect((await runtime.store.getTenant(connection.tenantId))!.seatCount).toBe(0);
    expect((await driver.logIn(runtime, connection, b)).statusCode).toBe(303);
    expect((await runtime.store.getTenant(connection.tenantId))!.seatCount).toBe(1);
  });

  it('refuses a deactivated user at login, and a session minted before the deactivation at once', async () => {
    const { runtime, connection } = await driver.setUp();
    const who = person();
    const login = await driver.logIn(runtime, connection, who);
    const token = sessionTokenOf(login);
    const sessions = createSessionHandler(runtime);
    expect((await invoke(sessions, { method: 'GET', url: '/session', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200);

    await runtime.store.deactivateUser((await userOf(runtime, connection, who)).id, new Date());

    expect(refusal(await invoke(sessions, { method: 'GET', url: '/session', headers: { authorization: `Bearer ${token}` } }))).toEqual({ status: 401, code: 'session_revoked' });
    expect(refusal(await driver.logIn(runtime, connection, who))).toEqual({ status: 403, code: 'user_deactivated' });
  });
});
