import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { decodeJwt } from 'jose';
import type { Connection, SamlConnection } from '../../functions/core/model';
import { createSamlHandler } from '../../functions/saml';
import { issueSamlResponse } from '../../local/saml-idp';
import { createSamlConnection, postAcs, problemCode, responseFor, sessionTokenOf, testRuntime } from '../support/harness';
import { oidcDriver, person, samlDriver, type LoginDriver, type TestRuntime } from '../support/login-drivers';

/**
 * The identity is the signed subject, compared exactly: nothing trims, case-folds or normalizes a
 * subject before the identity-link lookup, so a subject that differs from a user's only by
 * invisible characters can never sign in as that user; an email is kept only as it stands, and
 * selects a user only through the linking rules. Through the real handlers, SAML and OIDC alike.
 */

const oidc = oidcDriver({ clientId: 'exact-rp' });
beforeAll(() => oidc.start());
afterAll(() => oidc.stop());

const refusal = (result: APIGatewayProxyStructuredResultV2) => ({ status: result.statusCode, code: problemCode(result) });

async function linkedUser(runtime: TestRuntime, connection: Connection, subject: string) {
  return runtime.store.findUserByLink({ connectionId: connection.id, subject });
}

describe.each([
  ['SAML', samlDriver],
  ['OIDC', oidc as LoginDriver],
] as const)('the subject through %s', (_, driver) => {
  it.each([
    ['a leading space', (s: string) => ` ${s}`],
    ['a trailing space', (s: string) => `${s} `],
    ['a trailing newline', (s: string) => `${s}\n`],
    ['a leading non-breaking space', (s: string) => `\u00a0${s}`],
    ['a trailing zero-width space', (s: string) => `${s}\u200b`],
    ['a leading byte-order mark', (s: string) => `\ufeff${s}`],
  ])("refuses a subject that is an existing user's with %s, and signs nobody in", async (_, variant) => {
    const { runtime, connection } = await driver.setUp();
    const victim = person();
    expect((await driver.logIn(runtime, connection, victim)).statusCode).toBe(303);

    const lookalike = { ...victim, subject: variant(victim.subject), email: `other-${randomUUID()}@example.test` };
    const result = await driver.logIn(runtime, connection, lookalike);
    expect(refusal(result)).toEqual({ status: 400, code: 'invalid_request' });
    expect(result.cookies ?? []).not.toEqual(expect.arrayContaining([expect.stringMatching(/^sso_session=./)]));
    expect(await linkedUser(runtime, connection, lookalike.subject)).toBeUndefined();
  });

  it('refuses a subject with a control character inside it', async () => {
    const { runtime, connection } = await driver.setUp();
    expect(refusal(await driver.logIn(runtime, connection, person({ subject: `a\tb-${randomUUID()}` })))).toEqual({ status: 400, code: 'invalid_request' });
  });

  it('refuses a subject longer than the identity link can hold exactly', async () => {
    const { runtime, connection } = await driver.setUp();
    expect(refusal(await driver.logIn(runtime, connection, person({ subject: `long-${'x'.repeat(1100)}` })))).toEqual({ status: 400, code: 'invalid_request' });
    expect((await driver.logIn(runtime, connection, person({ subject: `long-${randomUUID()}-${'x'.repeat(900)}` }))).statusCode).toBe(303);
  });

  it.each([
    ['case', (s: string) => `Alice-${s}`, (s: string) => `alice-${s}`],
    ['Unicode normalization', (s: string) => `jos\u00e9-${s}`, (s: string) => `jose\u0301-${s}`],
  ])('keeps subjects that differ only in %s apart: two users, never one', async (_, one, other) => {
    const { runtime, connection } = await driver.setUp();
    const id = randomUUID();
    const first = person({ subject: one(id) });
    const second = person({ subject: other(id) });
    expect((await driver.logIn(runtime, connection, first)).statusCode).toBe(303);
    expect((await driver.logIn(runtime, connection, second)).statusCode).toBe(303);
    const [a, b] = [await linkedUser(runtime, connection, first.subject), await linkedUser(runtime, connection, second.subject)];
    expect(a?.email).toBe(first.email);
    expect(b?.email).toBe(second.email);
    expect(a?.id).not.toBe(b?.id);
  });
});

describe.each([
  ['SAML', samlDriver],
  ['OIDC', oidc as LoginDriver],
] as const)('the email through %s', (_, driver) => {
  const dirty = [
    ['surrounding whitespace', (e: string) => ` ${e} `],
    ['a zero-width space inside', (e: string) => e.replace('@', '\u200b@')],
    ['two addresses in one value', (e: string) => `${e},other-${e}`],
    ['two addresses separated by a space', (e: string) => `${e} other-${e}`],
  ] as const;

  it.each(dirty)('does not store an email with %s where the email decides nothing', async (_, spoil) => {
    const { runtime, connection } = await driver.setUp();
    const who = person();
    const result = await driver.logIn(runtime, connection, { ...who, email: spoil(who.email) });
    expect(result.statusCode).toBe(303);
    const user = await linkedUser(runtime, connection, who.subject);
    expect(user).toBeDefined();
    expect(user!.email).toBeUndefined();
    expect(decodeJwt(sessionTokenOf(result)).email).toBeUndefined();
  });

  it.each(dirty)('refuses an email with %s where the connection bounds the domains', async (_, spoil) => {
    const { runtime, connection } = await driver.setUp({ allowedEmailDomains: ['example.test'] });
    const who = person();
    expect(refusal(await driver.logIn(runtime, connection, { ...who, email: spoil(who.email) }))).toEqual({ status: 400, code: 'invalid_request' });
    expect(await linkedUser(runtime, connection, who.subject)).toBeUndefined();
  });

  it('refuses a spoiled email where the connection links by email, and where it requires one', async () => {
    const linking = await driver.setUp({ linkByEmail: true });
    const who = person();
    expect(refusal(await driver.logIn(linking.runtime, linking.connection, { ...who, email: ` ${who.email}` }))).toEqual({ status: 400, code: 'invalid_request' });
    const requiring = await driver.setUp({ attributeMapping: { ...linking.connection.attributeMapping, required: ['email'] } });
    expect(refusal(await driver.logIn(requiring.runtime, requiring.connection, { ...who, email: `${who.email}\u200b` }))).toEqual({ status: 400, code: 'invalid_request' });
    // The control: the same person with a clean email is let in by both.
    expect((await driver.logIn(linking.runtime, linking.connection, who)).statusCode).toBe(303);
    expect((await driver.logIn(requiring.runtime, requiring.connection, who)).statusCode).toBe(303);
  });

  it("never signs in as the user whose email a login carries: only the subject selects a user", async () => {
    const { runtime, connection } = await driver.setUp();
    const alice = person();
    const bob = person();
    expect((await driver.logIn(runtime, connection, alice)).statusCode).toBe(303);
    expect((await driver.logIn(runtime, connection, bob)).statusCode).toBe(303);
    const bobUser = await linkedUser(runtime, connection, bob.subject);

    // Alice's subject with Bob's email: Alice's account, whose email cannot move onto Bob's.
    expect(refusal(await driver.logIn(runtime, connection, { ...alice, email: bob.email }))).toEqual({ status: 409, code: 'email_in_use' });
    // A new subject with Bob's email, on a connection that does not link by email.
    const stranger = { ...person(), email: bob.email };
    expect(refusal(await driver.logIn(runtime, connection, stranger))).toEqual({ status: 409, code: 'email_in_use' });
    expect(await linkedUser(runtime, connection, stranger.subject)).toBeUndefined();
    expect(await runtime.store.getUser(bobUser!.id)).toEqual(bobUser);
  });
});

describe('SAML: what identifies a user', () => {
  const TRANSIENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient';

  async function logIn(runtime: TestRuntime, connection: SamlConnection, nameId: string, attributes: Record<string, string[]>, nameIdFormat = TRANSIENT) {
    const response = await issueSamlResponse(responseFor(connection, runtime, { nameId, nameIdFormat, attributes }));
    return postAcs(createSamlHandler(runtime), connection.id, response);
  }

  it('refuses a transient NameID where the connection names no subject attribute, creating no user', async () => {
    const runtime = await testRuntime();
    const connection = await createSamlConnection(runtime, { allowIdpInitiated: true });
    const nameId = `_${randomUUID()}`;
    expect(refusal(await logIn(runtime, connection, nameId, { mail: [`t-${randomUUID()}@example.test`] }))).toEqual({ status: 422, code: 'saml_transient_subject' });
    expect(await linkedUser(runtime, connection, nameId)).toBeUndefined();
    // The control: the same login with a persistent NameID is let in.
    expect((await logIn(runtime, connection, nameId, {}, 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent')).statusCode).toBe(303);
  });

  it('identifies users by the subject attribute the connection names, whatever the transient NameID', async () => {
    const runtime = await testRuntime();
    const connection = await createSamlConnection(runtime, { allowIdpInitiated: true, subjectAttribute: 'urn:oid:1.3.6.1.4.1.5923.1.1.1.6' });
    const principal = `ada-${randomUUID()}@uni.example.test`;
    const attributes = { 'urn:oid:1.3.6.1.4.1.5923.1.1.1.6': [principal] };
    expect((await logIn(runtime, connection, `_${randomUUID()}`, attributes)).statusCode).toBe(303);
    expect((await logIn(runtime, connection, `_${randomUUID()}`, attributes)).statusCode).toBe(303);
    const users = await runtime.store.listUsers(connection.tenantId);
    expect(users).toHaveLength(1);
    expect(await linkedUser(runtime, connection, principal)).toMatchObject({ id: users[0]!.id });
  });

  it('refuses a login without the subject attribute, or with several values of it', async () => {
    const runtime = await testRuntime();
    const connection = await createSamlConnection(runtime, { allowIdpInitiated: true, subjectAttribute: 'employeeNumber' });
    expect(refusal(await logIn(runtime, connection, `_${randomUUID()}`, {}))).toEqual({ status: 422, code: 'missing_required_attribute' });
    expect(refusal(await logIn(runtime, connection, `_${randomUUID()}`, { employeeNumber: ['1001', '1002'] }))).toEqual({ status: 400, code: 'invalid_request' });
    expect((await logIn(runtime, connection, `_${randomUUID()}`, { employeeNumber: ['1001'] })).statusCode).toBe(303);
  });

  it('refuses a multi-valued email attribute where the email matters, and keeps no email where it does not', async () => {
    const runtime = await testRuntime();
    const bounded = await createSamlConnection(runtime, { allowIdpInitiated: true, allowedEmailDomains: ['example.test'] });
    const open = await createSamlConnection(runtime, { allowIdpInitiated: true });
    const id = randomUUID();
    const emails = { email: [`a-${id}@example.test`, `b-${id}@example.test`] };
    const persistent = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';
    expect(refusal(await logIn(runtime, bounded, `p-${id}`, emails, persistent))).toEqual({ status: 400, code: 'invalid_request' });
    expect((await logIn(runtime, open, `p-${id}`, emails, persistent)).statusCode).toBe(303);
    expect((await linkedUser(runtime, open, `p-${id}`))?.email).toBeUndefined();
    // The same address twice is one address.
    expect((await logIn(runtime, bounded, `p-${id}`, { email: [`a-${id}@example.test`, `A-${id}@Example.test`] }, persistent)).statusCode).toBe(303);
    expect((await linkedUser(runtime, bounded, `p-${id}`))?.email).toBe(`a-${id}@example.test`);
  });

  it('reads the urn:oid attribute names of SimpleSAMLphp, Shibboleth and pysaml2 by default', async () => {
    const runtime = await testRuntime();
    const connection = await createSamlConnection(runtime, { allowIdpInitiated: true, roles: { defaults: ['member'], groupRoles: { 'cn=admins,ou=groups': ['admin'] } } });
    const nameId = `p-${randomUUID()}`;
    const email = `${nameId}@uni.example.test`;
    const result = await logIn(runtime, connection, nameId, {
      'urn:oid:1.2.840.113549.1.9.1': [email],
      'urn:oid:2.5.4.42': ['Ada'],
      'urn:oid:2.5.4.4': ['Lovelace'],
      'urn:oid:1.3.6.1.4.1.5923.1.1.1.6': [`ada@uni.example.test`],
      'urn:oid:1.3.6.1.4.1.5923.1.5.1.1': ['cn=admins,ou=groups'],
    }, 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent');
    expect(result.statusCode).toBe(303);
    expect(await linkedUser(runtime, connection, nameId)).toMatchObject({
      email,
      name: 'Ada Lovelace',
      roles: ['admin'],
      attributes: { principalName: 'ada@uni.example.test', groups: ['cn=admins,ou=groups'] },
    });
    const plain = `p-${randomUUID()}`;
    expect((await logIn(runtime, connection, plain, { isMemberOf: ['cn=admins,ou=groups'] }, 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent')).statusCode).toBe(303);
    expect((await linkedUser(runtime, connection, plain))?.roles).toEqual(['admin']);
  });
});

describe('OIDC: subjects that are not well-formed Unicode', () => {
  it('refuses two different lone surrogates, which UTF-8 would have merged into one U+FFFD subject', async () => {
    const { runtime, connection } = await oidc.setUp();
    const base = `s-${randomUUID()}`;
    for (const subject of [`${base}\ud800`, `${base}\udbff`]) {
      expect(refusal(await oidc.logIn(runtime, connection, person({ subject })))).toEqual({ status: 400, code: 'invalid_request' });
    }
    expect(await linkedUser(runtime, connection, `${base}\ufffd`)).toBeUndefined();
    // The control: an astral character (a well-formed surrogate pair) is a subject like any other.
    expect((await oidc.logIn(runtime, connection, person({ subject: `${base}\u{1F600}` }))).statusCode).toBe(303);
  });
});
