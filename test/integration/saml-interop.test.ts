import { readFileSync } from 'node:fs';
import { createSamlHandler } from '../../functions/saml';
import { createSamlConnection, postAcs, problemCode, testRuntime } from '../support/harness';

/** The real IdPs' responses of ../shared/interop: each must log in, and refuse once altered. */
const INTEROP = new URL('../../../shared/interop/saml/', import.meta.url);

interface Fixture {
  id: string;
  idp: string;
  response: string;
  idpCert: string;
  spDecryptionKey?: string;
  issuer: string;
  algorithms: string[];
  encrypted: boolean;
  issueInstant: string;
  audience: string | null;
  recipient: string | null;
  destination: string | null;
  inResponseTo: string | null;
  nameID: string | null;
}

/** What the encrypted fixtures keep inside their ciphertext, which the manifest cannot show. */
const INSIDE_CIPHERTEXT: Record<string, { audience: string; nameID: string }> = {
  'okta-encrypted': { audience: 'https://saml.test.nope/session/sso/saml/spentityid/skv8dv26wh', nameID: 'fronkey@skyportsystems.com' },
  'adfs-encrypted': { audience: 'https://saml.test.nope/session/sso/saml/spentityid/dknhyszjl7', nameID: 'paul@spstest2.com' },
};

const read = (name: string) => readFileSync(new URL(name, INTEROP), 'utf8');
const fixtures = JSON.parse(read('manifest.json')) as Fixture[];

/**
 * The fixtures whose NameID is transient (SimpleSAMLphp's default): a connection to such an IdP
 * names the attribute that identifies its users instead, as a real deployment must.
 */
const TRANSIENT_SUBJECT: Record<string, { subjectAttribute: string; subject: string }> = {
  'simplesamlphp-response-signed': { subjectAttribute: 'uid', subject: 'test' },
  'simplesamlphp-assertion-signed': { subjectAttribute: 'uid', subject: 'test' },
};

async function setUp(fixture: Fixture) {
  const issuedAt = new Date(fixture.issueInstant);
  const runtime = await testRuntime({
    now: () => new Date(issuedAt.getTime() + 1000),
    secrets: fixture.spDecryptionKey ? { [`${fixture.id}-key`]: read(fixture.spDecryptionKey) } : {},
  });
  const hidden = INSIDE_CIPHERTEXT[fixture.id];
  const connection = await createSamlConnection(runtime, {
    idpEntityId: fixture.issuer,
    idpCertificates: [read(fixture.idpCert)],
    spEntityId: fixture.audience ?? hidden!.audience,
    acsUrl: (fixture.recipient ?? fixture.destination)!,
    allowSha1: fixture.algorithms.some((a) => a.includes('sha1')),
    allowIdpInitiated: fixture.inResponseTo === null,
    ...(fixture.spDecryptionKey ? { spDecryptionKeySecret: `${fixture.id}-key` } : {}),
    ...(TRANSIENT_SUBJECT[fixture.id] ? { subjectAttribute: TRANSIENT_SUBJECT[fixture.id]!.subjectAttribute } : {}),
  });
  if (fixture.inResponseTo) {
    // As the SP-initiated login would have: the request this response answers is pending.
    await runtime.store.recordAuthnRequest(connection.id, fixture.inResponseTo, new Date(issuedAt.getTime() + 600_000));
  }
  // The browser that started that login carries its binding cookie.
  const browser = fixture.inResponseTo ? { requestId: fixture.inResponseTo } : {};
  const subject = TRANSIENT_SUBJECT[fixture.id]?.subject ?? fixture.nameID ?? hidden!.nameID;
  return { runtime, connection, browser, nameID: subject, handler: createSamlHandler(runtime) };
}

/** The same bytes with one character of the NameID changed (of the ciphertext, where the NameID is encrypted). */
function altered(fixture: Fixture, base64: string): string {
  const xml = Buffer.from(base64, 'base64').toString('utf8');
  const pattern = fixture.encrypted ? /(<(?:\w+:)?CipherValue>[A-Za-z0-9+/]{40})([A-Za-z0-9+/])/g : /(<(?:\w+:)?NameID[^>]*>)(.)/;
  const matches = [...xml.matchAll(new RegExp(pattern.source, 'g'))];
  const target = matches[matches.length - 1]!;
  const [whole, before, char] = target;
  const replacement = before! + (char === 'A' ? 'B' : 'A');
  const changed = xml.slice(0, target.index) + replacement + xml.slice(target.index! + whole.length);
  expect(changed).not.toBe(xml);
  return Buffer.from(changed, 'utf8').toString('base64');
}

describe('real IdP responses (../shared/interop)', () => {
  it('lists the sixteen responses of the corpus', () => {
    expect(fixtures).toHaveLength(16);
  });

  it.each(fixtures.map((f) => [`${f.idp} (${f.id})`, f] as const))('%s logs in and creates the user with its NameID', async (_, fixture) => {
    const { runtime, connection, browser, nameID, handler } = await setUp(fixture);
    const result = await postAcs(handler, connection.id, read(fixture.response), undefined, browser);
    expect({ status: result.statusCode, body: result.body }).toEqual({ status: 303, body: '' });
    const user = await runtime.store.findUserByLink({ connectionId: connection.id, subject: nameID });
    expect(user).toMatchObject({ tenantId: connection.tenantId, status: 'active' });
  });

  it.each(Object.keys(TRANSIENT_SUBJECT))('%s, whose NameID is transient, is refused where the connection names no subject attribute', async (id) => {
    const fixture = fixtures.find((f) => f.id === id)!;
    const { runtime, connection, browser, handler } = await setUp(fixture);
    const { subjectAttribute: _uid, ...byNameId } = connection;
    await runtime.store.putConnection(byNameId);
    const result = await postAcs(handler, connection.id, read(fixture.response), undefined, browser);
    expect({ status: result.statusCode, code: problemCode(result) }).toEqual({ status: 422, code: 'saml_transient_subject' });
  });

  it.each(fixtures.map((f) => [`${f.idp} (${f.id})`, f] as const))('%s is refused with its NameID altered', async (_, fixture) => {
    const { connection, browser, handler } = await setUp(fixture);
    const result = await postAcs(handler, connection.id, altered(fixture, read(fixture.response)), undefined, browser);
    expect(result.statusCode).toBeGreaterThanOrEqual(400);
    expect(fixture.encrypted ? ['saml_invalid_signature', 'invalid_request'] : ['saml_invalid_signature']).toContain(problemCode(result));
  });
});
