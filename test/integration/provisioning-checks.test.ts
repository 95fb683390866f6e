import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { SamlConnection, User } from '../../functions/core/model';
import { DEFAULT_ATTRIBUTE_MAPPING } from '../../functions/core/provisioning';
import { createSamlHandler } from '../../functions/saml';
import { issueSamlResponse } from '../../local/saml-idp';
import { createSamlConnection, postAcs, problemCode, responseFor, testRuntime } from '../support/harness';

type Runtime = Awaited<ReturnType<typeof testRuntime>>;

async function setUp(overrides: Partial<SamlConnection> = {}) {
  const runtime = await testRuntime();
  const connection = await createSamlConnection(runtime, { allowIdpInitiated: true, ...overrides });
  return { runtime, connection };
}

/** An IdP-initiated SAML login of `subject` with these attributes. */
async function logIn(runtime: Runtime, connection: SamlConnection, subject: string, attributes: Record<string, string[]>) {
  const response = await issueSamlResponse(
    responseFor(connection, runtime, { nameId: subject, nameIdFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent', attributes }),
  );
  return postAcs(createSamlHandler(runtime), connection.id, response);
}

const refusal = (result: APIGatewayProxyStructuredResultV2) => ({ status: result.statusCode, code: problemCode(result) });
const subject = () => `s-${randomUUID()}`;

async function userOf(runtime: Runtime, connection: SamlConnection, who: string): Promise<User> {
  const user = await runtime.store.findUserByLink({ connectionId: connection.id, subject: who });
  if (!user) throw new Error(`no user for ${who}`);
  return user;
}

const types = (runtime: Runtime) => runtime.events.published.map((e) => e.type);

describe('roles update policy', () => {
  const groupRoles = { admins: ['admin', 'editor'], writers: ['editor'] };

  it('by default (always) follows the groups at every login: a user removed from a group loses its role and gets the defaults', async () => {
    const { runtime, connection } = await setUp({ roles: { defaults: ['member'], groupRoles } });
    const who = subject();
    expect((await logIn(runtime, connection, who, { email: [`${who}@example.test`], groups: ['admins'] })).statusCode).toBe(303);
    expect((await userOf(runtime, connection, who)).roles).toEqual(['admin', 'editor']);

    expect((await logIn(runtime, connection, who, { email: [`${who}@example.test`], groups: ['writers'] })).statusCode).toBe(303);
    expect((await userOf(runtime, connection, who)).roles).toEqual(['editor']);

    runtime.events.published.length = 0;
    expect((await logIn(runtime, connection, who, { email: [`${who}@example.test`] })).statusCode).toBe(303);
    expect((await userOf(runtime, connection, who)).roles).toEqual(['member']);
    const updated = runtime.events.published.find((e) => e.type === 'user.updated');
    expect(updated?.detail).toEqual({ changes: [{ field: 'roles', from: ['editor'], to: ['member'] }] });
  });

  it('never: a new user gets the defaults, not its group roles, and keeps its roles afterwards', async () => {
    const { runtime, connection } = await setUp({ roles: { defaults: ['member'], groupRoles, update: 'never' } });
    const who = subject();
    expect((await logIn(runtime, connection, who, { email: [`${who}@example.test`], groups: ['admins'] })).statusCode).toBe(303);
    expect((await userOf(runtime, connection, who)).roles).toEqual(['member']);

    runtime.events.published.length = 0;
    expect((await logIn(runtime, connection, who, { email: [`${who}@example.test`], groups: ['writers'] })).statusCode).toBe(303);
    expect((await userOf(runtime, connection, who)).roles).toEqual(['member']);
    const changes = runtime.events.published.flatMap((e) => (e.detail as { changes?: { field: string }[] } | undefined)?.changes ?? []);
    expect(changes.map((c) => c.field)).toEqual(['attributes.groups']);
  });

  it('never: roles an admin gave stay, whatever the groups say', async () => {
    const { runtime, connection } = await setUp({ roles: { defaults: ['member'], groupRoles, update: 'never' } });
    const who = subject();
    expect((await logIn(runtime, connection, who, { email: [`${who}@example.test`] })).statusCode).toBe(303);
    const user = await userOf(runtime, connection, who);
    await runtime.store.updateUser(user, { ...user, roles: ['owner'] });
    expect((await logIn(runtime, connection, who, { email: [`${who}@example.test`], groups: ['admins'] })).statusCode).toBe(303);
    expect((await userOf(runtime, connection, who)).roles).toEqual(['owner']);
  });

  it('on-create: a new user gets its group roles, not the defaults', async () => {
    const { runtime, connection } = await setUp({ roles: { defaults: ['member'], groupRoles, update: 'on-create' } });
    const who = subject();
    expect((await logIn(runtime, connection, who, { email: [`${who}@example.test`], groups: ['writers'] })).statusCode).toBe(303);
    expect((await userOf(runtime, connection, who)).roles).toEqual(['editor']);
  });
});

describe('SAML logins and the email', () => {
  it('store the email a SAML IdP asserts, normalized, as vouched for', async () => {
    const { runtime, connection } = await setUp();
    const who = subject();
    expect((await logIn(runtime, connection, who, { email: [`${who.toUpperCase()}@Example.TEST`] })).statusCode).toBe(303);
    expect((await userOf(runtime, connection, who)).email).toBe(`${who}@example.test`);
  });

  it('take an email NameID when no email attribute is sent, and drop an opaque NameID', async () => {
    const { runtime, connection } = await setUp();
    const mailbox = `n-${randomUUID()}@example.test`;
    expect((await logIn(runtime, connection, mailbox, {})).statusCode).toBe(303);
    expect((await userOf(runtime, connection, mailbox)).email).toBe(mailbox);
    const opaque = subject();
    expect((await logIn(runtime, connection, opaque, {})).statusCode).toBe(303);
    expect((await userOf(runtime, connection, opaque)).email).toBeUndefined();
  });

  it('are bounded by the allowed domains, compared case-insensitively and by the whole domain', async () => {
    const { runtime, connection } = await setUp({ allowedEmailDomains: ['Acme.Example'] });
    const inside = subject();
    expect((await logIn(runtime, connection, inside, { email: [`${inside}@ACME.example`] })).statusCode).toBe(303);
    expect((await userOf(runtime, connection, inside)).email).toBe(`${inside}@acme.example`);
    for (const email of ['x@sub.acme.example', 'x@acme.example.evil.test', 'x@evilacme.example', 'x@example.test']) {
      expect(refusal(await logIn(runtime, connection, subject(), { email: [email] }))).toEqual({ status: 403, code: 'domain_not_allowed' });
    }
  });

  it('with allowed domains, refuse a login that sends no email at all', async () => {
    const { runtime, connection } = await setUp({ allowedEmailDomains: ['example.test'] });
    expect(refusal(await logIn(runtime, connection, subject(), {}))).toEqual({ status: 403, code: 'domain_not_allowed' });
  });

  it('link to the existing user of the email only with linkByEmail and the email in an allowed domain', async () => {
    const first = await setUp({ allowedEmailDomains: ['example.test'] });
    const holder = subject();
    const email = `${holder}@example.test`;
    expect((await logIn(first.runtime, first.connection, holder, { email: [email] })).statusCode).toBe(303);
    const existing = await userOf(first.runtime, first.connection, holder);
    const { tenantId } = first.connection;

    // linkByEmail without allowed domains: the IdP may vouch for no domain, so it links nothing.
    const unbounded = await setUp({ tenantId, linkByEmail: true });
    const other = subject();
    expect(refusal(await logIn(unbounded.runtime, unbounded.connection, other, { email: [email] }))).toEqual({ status: 409, code: 'email_in_use' });
    expect(await unbounded.runtime.store.findUserByLink({ connectionId: unbounded.connection.id, subject: other })).toBeUndefined();

    const linking = await setUp({ tenantId, linkByEmail: true, allowedEmailDomains: ['EXAMPLE.test'] });
    const second = subject();
    expect((await logIn(linking.runtime, linking.connection, second, { email: [email.toUpperCase()] })).statusCode).toBe(303);
    expect((await userOf(linking.runtime, linking.connection, second)).id).toBe(existing.id);
  });

  it('refuse a deactivated holder of the email at linking with user_deactivated', async () => {
    const first = await setUp({ allowedEmailDomains: ['example.test'] });
    const holder = subject();
    const email = `${holder}@example.test`;
    expect((await logIn(first.runtime, first.connection, holder, { email: [email] })).statusCode).toBe(303);
    await first.runtime.store.deactivateUser((await userOf(first.runtime, first.connection, holder)).id, new Date());
    const linking = await setUp({ tenantId: first.connection.tenantId, linkByEmail: true, allowedEmailDomains: ['example.test'] });
    const second = subject();
    expect(refusal(await logIn(linking.runtime, linking.connection, second, { email: [email] }))).toEqual({ status: 403, code: 'user_deactivated' });
    expect(await linking.runtime.store.findUserByLink({ connectionId: linking.connection.id, subject: second })).toBeUndefined();
  });
});

describe('an email attribute value with two addresses', () => {
  const values = (who: string) => [`${who}@example.test, other@example.test`, `${who}@example.test other@example.test`, `${who}@example.test,other@example.test`, `${who}@example.test;other@example.test`];

  it('is never taken as the email', async () => {
    const { runtime, connection } = await setUp();
    for (const value of values('a')) {
      const who = subject();
      expect((await logIn(runtime, connection, who, { email: [value] })).statusCode).toBe(303);
      expect((await userOf(runtime, connection, who)).email).toBeUndefined();
    }
  });

  it('is refused where the domains are bounded or the email is required: it is no email, and needs no repair', async () => {
    const bounded = await setUp({ allowedEmailDomains: ['example.test'] });
    const required = await setUp({ attributeMapping: { ...DEFAULT_ATTRIBUTE_MAPPING, required: ['email'] } });
    for (const value of values('b')) {
      expect(refusal(await logIn(bounded.runtime, bounded.connection, subject(), { email: [value] }))).toEqual({ status: 400, code: 'invalid_request' });
      expect(refusal(await logIn(required.runtime, required.connection, subject(), { email: [value] }))).toEqual({ status: 400, code: 'invalid_request' });
    }
  });

  it('is not linked to the user of either address', async () => {
    const first = await setUp({ allowedEmailDomains: ['example.test'] });
    const holder = subject();
    const email = `${holder}@example.test`;
    expect((await logIn(first.runtime, first.connection, holder, { email: [email] })).statusCode).toBe(303);
    const existing = await userOf(first.runtime, first.connection, holder);
    const linking = await setUp({ tenantId: first.connection.tenantId, linkByEmail: true });
    const second = subject();
    // Where it would decide a link, such a value is refused outright, and links nobody.
    expect(refusal(await logIn(linking.runtime, linking.connection, second, { email: [`${email}, ${email}`] }))).toEqual({ status: 400, code: 'invalid_request' });
    expect(await linking.runtime.store.findUserByLink({ connectionId: linking.connection.id, subject: second })).toBeUndefined();
    expect(await first.runtime.store.getUser(existing.id)).toEqual(existing);
  });
});

describe('JIT off', () => {
  it('refuses a stranger with user_not_provisioned, and lets in a known user and one linked by email', async () => {
    const { runtime, connection } = await setUp({ allowedEmailDomains: ['example.test'] });
    const known = subject();
    expect((await logIn(runtime, connection, known, { email: [`${known}@example.test`] })).statusCode).toBe(303);
    const closed = await setUp({ tenantId: connection.tenantId, jit: false, linkByEmail: true, allowedEmailDomains: ['example.test'] });
    const stranger = subject();
    expect(refusal(await logIn(closed.runtime, closed.connection, stranger, { email: [`${stranger}@example.test`] }))).toEqual({ status: 403, code: 'user_not_provisioned' });
    expect(await closed.runtime.store.findUserByLink({ connectionId: closed.connection.id, subject: stranger })).toBeUndefined();
    const again = subject();
    expect((await logIn(closed.runtime, closed.connection, again, { email: [`${known}@example.test`] })).statusCode).toBe(303);
    expect((await userOf(closed.runtime, closed.connection, again)).id).toBe((await userOf(runtime, connection, known)).id);
    expect((await logIn(closed.runtime, closed.connection, again, { email: [`${known}@example.test`] })).statusCode).toBe(303);
  });
});

describe('the audit events of provisioning', () => {
  it('a first login is user.created (no user.updated); the same login again writes neither', async () => {
    const { runtime, connection } = await setUp({ roles: { defaults: ['member'], groupRoles: { admins: ['admin'] } } });
    const who = subject();
    const attributes = { email: [`${who}@example.test`], givenName: ['Ada'], sn: ['Lovelace'], groups: ['admins'] };
    expect((await logIn(runtime, connection, who, attributes)).statusCode).toBe(303);
    const user = await userOf(runtime, connection, who);
    expect(user).toMatchObject({ email: `${who}@example.test`, name: 'Ada Lovelace', roles: ['admin'], attributes: { givenName: 'Ada', familyName: 'Lovelace', groups: ['admins'] } });
    expect(types(runtime)).toEqual(['user.created', 'login.succeeded']);
    expect(runtime.events.published[0]).toMatchObject({ type: 'user.created', userId: user.id, tenantId: connection.tenantId, connectionId: connection.id });

    runtime.events.published.length = 0;
    expect((await logIn(runtime, connection, who, attributes)).statusCode).toBe(303);
    expect(types(runtime)).toEqual(['login.succeeded']);
    expect((await userOf(runtime, connection, who)).updatedAt).toBe(user.updatedAt);
  });

  it('a changed attribute is user.updated with only that change', async () => {
    const { runtime, connection } = await setUp();
    const who = subject();
    expect((await logIn(runtime, connection, who, { email: [`${who}@example.test`], displayName: ['Ada'] })).statusCode).toBe(303);
    runtime.events.published.length = 0;
    expect((await logIn(runtime, connection, who, { email: [`${who}@example.test`], displayName: ['Ada King'] })).statusCode).toBe(303);
    expect(types(runtime)).toEqual(['user.updated', 'login.succeeded']);
    expect(runtime.events.published[0]?.detail).toEqual({ changes: [{ field: 'name', from: 'Ada', to: 'Ada King' }] });
    expect((await userOf(runtime, connection, who)).name).toBe('Ada King');
  });

  it('linking is user.linked, with user.updated only when the login changes the user', async () => {
    const first = await setUp({ allowedEmailDomains: ['example.test'] });
    const holder = subject();
    const email = `${holder}@example.test`;
    expect((await logIn(first.runtime, first.connection, holder, { email: [email], displayName: ['Ada'] })).statusCode).toBe(303);
    const existing = await userOf(first.runtime, first.connection, holder);
    const { tenantId } = first.connection;

    const same = await setUp({ tenantId, linkByEmail: true, allowedEmailDomains: ['example.test'] });
    expect((await logIn(same.runtime, same.connection, subject(), { email: [email], displayName: ['Ada'] })).statusCode).toBe(303);
    expect(types(same.runtime)).toEqual(['user.linked', 'login.succeeded']);
    expect(same.runtime.events.published[0]).toMatchObject({ userId: existing.id });

    const changing = await setUp({ tenantId, linkByEmail: true, allowedEmailDomains: ['example.test'] });
    const third = subject();
    expect((await logIn(changing.runtime, changing.connection, third, { email: [email], displayName: ['Ada King'] })).statusCode).toBe(303);
    expect(types(changing.runtime)).toEqual(['user.linked', 'user.updated', 'login.succeeded']);
    expect(changing.runtime.events.published[1]?.detail).toEqual({ changes: [{ field: 'name', from: 'Ada', to: 'Ada King' }] });
    expect(await userOf(changing.runtime, changing.connection, third)).toMatchObject({ id: existing.id, name: 'Ada King' });
  });
});
