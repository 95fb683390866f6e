import { randomUUID } from 'node:crypto';
import { SignedXml } from 'xml-crypto';
import { encrypt } from 'xml-encryption';
import type { SamlConnection } from '../../functions/core/model';
import { DEFAULT_ATTRIBUTE_MAPPING } from '../../functions/core/provisioning';
import { samlChecks } from '../../functions/core/saml/login';
import { verifySamlResponse } from '../../functions/core/saml/verify-response';
import { createSamlHandler } from '../../functions/saml';
import { createSessionHandler } from '../../functions/session';
import { issueSamlResponse, issueSamlResponseXml, signElement, type IssueResponseOptions } from '../../local/saml-idp';
import {
  createSamlConnection,
  idpCert,
  idpKey,
  invoke,
  keys,
  postAcs,
  problemCode,
  responseFor,
  sessionTokenOf,
  testRuntime,
} from '../support/harness';

/**
 * One test per check of the ACS, each through the real handler against DynamoDB Local with
 * responses signed here by the test IdP. Each negative response differs from a valid one in the
 * one thing its check looks at, so removing that check turns the refusal into a 303 (or, where
 * another check stands behind it, into that check's refusal).
 */

// Frozen, and in the future of the fixtures so that no TTL could ever remove a recorded item early.
const at = new Date('2030-01-15T10:00:00.000Z');
const seconds = (n: number) => new Date(at.getTime() + n * 1000);

const attacker = { signingKey: keys.read('attacker.key.pem'), signingCert: keys.read('attacker.cert.pem') };
const idpNext = { signingKey: keys.read('idp-next.key.pem'), signingCert: keys.read('idp-next.cert.pem') };
const spEncryptionCert = keys.read('sp-encryption.cert.pem');

const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const SHA256 = 'http://www.w3.org/2001/04/xmlenc#sha256';
const RSA_SHA1 = 'http://www.w3.org/2000/09/xmldsig#rsa-sha1';
const SHA1 = 'http://www.w3.org/2000/09/xmldsig#sha1';
const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';
const EXC_C14N_WITH_COMMENTS = 'http://www.w3.org/2001/10/xml-exc-c14n#WithComments';
const HMAC_SHA1 = 'http://www.w3.org/2000/09/xmldsig#hmac-sha1';
const RSA_MD5 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-md5';
const TRIPLEDES = 'http://www.w3.org/2001/04/xmlenc#tripledes-cbc';
const RSA_1_5 = 'http://www.w3.org/2001/04/xmlenc#rsa-1_5';
const XENC = 'http://www.w3.org/2001/04/xmlenc#';
const ENTITY = 'urn:oasis:names:tc:SAML:2.0:nameid-format:entity';
const EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';

/** A connection (IdP-initiated allowed unless overridden), its ACS handler, and valid response options at `at`. */
async function setUp(overrides: Partial<SamlConnection> = {}, options: { now?: Date } = {}) {
  const now = options.now ?? at;
  const runtime = await testRuntime({ now: () => now });
  const connection = await createSamlConnection(runtime, { allowIdpInitiated: true, ...overrides });
  const acs = createSamlHandler(runtime);
  const valid = (changes: Partial<IssueResponseOptions> = {}): IssueResponseOptions =>
    responseFor(connection, runtime, { issueInstant: at, ...changes });
  return { runtime, connection, acs, valid };
}

/** The same connection's ACS on a runtime whose clock shows another instant. */
async function acsAt(now: Date) {
  return createSamlHandler(await testRuntime({ now: () => now }));
}

const base64 = (xml: string) => Buffer.from(xml, 'utf8').toString('base64');
const decoded = (response: string) => Buffer.from(response, 'base64').toString('utf8');

const assertionIdOf = (xml: string) => /<saml:Assertion [^>]*\bID="([^"]+)"/.exec(xml)![1]!;
const responseIdOf = (xml: string) => /<samlp:Response [^>]*\bID="([^"]+)"/.exec(xml)![1]!;
const assertionOf = (xml: string) => /<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(xml)![0];

/** Sets (or, with undefined, removes) an attribute of the first `tag` start tag in `xml`. */
function setAttribute(xml: string, tag: string, name: string, value: string | undefined): string {
  const start = new RegExp(`<${tag}\\b[^>]*>`).exec(xml);
  if (!start) throw new Error(`no <${tag}> in the XML`);
  const existing = new RegExp(`\\s${name}="[^"]*"`);
  const without = start[0].replace(existing, '');
  const edited = value === undefined ? without : without.replace(`<${tag}`, `<${tag} ${name}="${value}"`);
  return xml.slice(0, start.index) + edited + xml.slice(start.index + start[0].length);
}

/** The value of an attribute of the first `tag` start tag. */
const attributeOf = (xml: string, tag: string, name: string) => new RegExp(`<${tag}\\b[^>]*\\s${name}="([^"]*)"`).exec(xml)?.[1];

/** Applies `edit` to the assertion of a Response only, so that the Response's own elements stay as issued. */
const inAssertion = (edit: (assertion: string) => string) => (xml: string) => xml.replace(assertionOf(xml), (assertion) => edit(assertion));

/** A response whose assertion is edited before it is signed: the signature is valid over the edit. */
async function signedAfterEdit(options: IssueResponseOptions, edit: (xml: string) => string): Promise<string> {
  const xml = edit(await issueSamlResponseXml({ ...options, sign: 'none' }));
  return base64(signElement(xml, assertionIdOf(xml), options));
}

/**
 * Signs the element `referencedId` with the IdP's key and places the signature in the element
 * `carrierId`, after its Issuer, with the algorithms given.
 */
function signWith(
  xml: string,
  {
    referencedId,
    carrierId,
    signatureAlgorithm = RSA_SHA256,
    digestAlgorithm = SHA256,
    transforms = [ENVELOPED, EXC_C14N],
    references = 1,
    hmacKey,
    prefixList,
  }: {
    referencedId: string;
    carrierId: string;
    signatureAlgorithm?: string;
    digestAlgorithm?: string;
    transforms?: string[];
    /** How many References to the element `referencedId` the signature carries. */
    references?: number;
    /** Signs with HMAC under this key instead of the IdP's RSA key. */
    hmacKey?: string;
    /** The InclusiveNamespaces PrefixList of the reference's exclusive c14n. */
    prefixList?: string[];
  },
): string {
  const signer = new SignedXml({ privateKey: hmacKey ?? idpKey, publicCert: idpCert, signatureAlgorithm, canonicalizationAlgorithm: EXC_C14N });
  if (hmacKey) signer.enableHMAC();
  for (let i = 0; i < references; i++) signer.addReference({ xpath: `//*[@ID='${referencedId}']`, transforms, digestAlgorithm, ...(prefixList ? { inclusiveNamespacesPrefixList: prefixList } : {}) });
  signer.computeSignature(xml, {
    prefix: 'ds',
    location: { reference: `//*[@ID='${carrierId}']/*[local-name(.)='Issuer']`, action: 'after' },
  });
  return signer.getSignedXml();
}

type Acs = ReturnType<typeof createSamlHandler>;

/** Posts form fields to the ACS with the given headers, for the cases postAcs does not build. */
function postForm(acs: Acs, connectionId: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return invoke(acs, {
    method: 'POST',
    url: `/saml/${connectionId}/acs`,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });
}

/** Status and code together, so a failure shows both. */
function refusal(result: Awaited<ReturnType<typeof postAcs>>) {
  expect(result.headers?.['content-type']).toBe('application/problem+json');
  return { status: result.statusCode, code: problemCode(result) };
}

describe('SAML ACS: the positive controls', () => {
  it('accepts a response whose Response names no Issuer: only the assertion must (SAML Core 3.2.2)', async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid());
    const withoutIssuer = xml.replace(/(<samlp:Response [^>]*>)<saml:Issuer>[^<]*<\/saml:Issuer>/, '$1');
    expect(withoutIssuer).not.toBe(xml);
    expect((await postAcs(acs, connection.id, base64(withoutIssuer))).statusCode).toBe(303);
  });

  it.each([
    ['on the assertion', 'assertion'],
    ['on the response', 'response'],
    ['on both', 'both'],
  ] as const)('accepts a valid response signed %s with a 303 and a session cookie', async (_, sign) => {
    const { connection, acs, valid } = await setUp();
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid({ sign })));
    expect(result.statusCode).toBe(303);
    expect(result.headers?.location).toBe('https://app.example.test/');
    expect(result.cookies?.[0]).toMatch(/^sso_session=[^;]+;/);
  });

  it('accepts a response that answers a recorded AuthnRequest on a connection that refuses IdP-initiated logins', async () => {
    const { runtime, connection, acs, valid } = await setUp({ allowIdpInitiated: false });
    const requestId = `_${randomUUID()}`;
    await runtime.store.recordAuthnRequest(connection.id, requestId, seconds(600));
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid({ inResponseTo: requestId })), undefined, { requestId });
    expect(result.statusCode).toBe(303);
  });
});

describe('SAML ACS: signatures', () => {
  it('rejects a response in which neither the response nor the assertion is signed', async () => {
    const { connection, acs, valid } = await setUp();
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid({ sign: 'none' })));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
  });

  it.each([
    ['an assertion', 'assertion'],
    ['a response', 'response'],
  ] as const)(
    "rejects %s signed by another key, even with that key's certificate in KeyInfo",
    async (_, sign) => {
      const { connection, acs, valid } = await setUp();
      const xml = await issueSamlResponseXml(valid({ sign, ...attacker }));
      expect(xml).toContain('<ds:X509Certificate>');
      const result = await postAcs(acs, connection.id, base64(xml));
      expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
    },
  );

  it.each([
    ['an assertion', 'assertion'],
    ['a response', 'response'],
  ] as const)('rejects %s whose NameID was altered after it was signed', async (_, sign) => {
    const { connection, acs, valid } = await setUp();
    const options = valid({ sign });
    const xml = await issueSamlResponseXml(options);
    const altered = xml.replace(`>${options.nameId}</saml:NameID>`, '>admin@example.test</saml:NameID>');
    expect(altered).not.toBe(xml);
    const result = await postAcs(acs, connection.id, base64(altered));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
  });

  it('rejects a response with a second, unsigned assertion after the signed one', async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid());
    const forged = assertionOf(await issueSamlResponseXml(valid({ sign: 'none', nameId: 'admin@example.test' })));
    const wrapped = xml.replace('</samlp:Response>', `${forged}</samlp:Response>`);
    const result = await postAcs(acs, connection.id, base64(wrapped));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
  });

  it('rejects a response with a second, unsigned assertion before the signed one', async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid());
    const forged = assertionOf(await issueSamlResponseXml(valid({ sign: 'none', nameId: 'admin@example.test' })));
    const wrapped = xml.replace('<saml:Assertion ', `${forged}<saml:Assertion `);
    const result = await postAcs(acs, connection.id, base64(wrapped));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
  });

  it('rejects a response with a second, unsigned assertion hidden in samlp:Extensions', async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid());
    const forged = assertionOf(await issueSamlResponseXml(valid({ sign: 'none', nameId: 'admin@example.test' })));
    const wrapped = xml.replace('<samlp:Status>', `<samlp:Extensions>${forged}</samlp:Extensions><samlp:Status>`);
    const result = await postAcs(acs, connection.id, base64(wrapped));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
  });

  it("rejects a forged assertion that carries the signed one's signature and ID, with the signed one moved into Extensions", async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid());
    const signed = assertionOf(xml);
    const signature = /<ds:Signature[\s\S]*<\/ds:Signature>/.exec(signed)![0];
    const forged = assertionOf(await issueSamlResponseXml(valid({ sign: 'none', nameId: 'admin@example.test', assertionId: assertionIdOf(xml) })))
      .replace('</saml:Issuer>', `</saml:Issuer>${signature}`);
    const wrapped = xml
      .replace(signed, forged)
      .replace('<samlp:Status>', `<samlp:Extensions>${signed}</samlp:Extensions><samlp:Status>`);
    const result = await postAcs(acs, connection.id, base64(wrapped));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
  });

  it('accepts a validly signed assertion beside a foreign element in samlp:Extensions that carries another ID', async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid());
    const extended = xml.replace('<samlp:Status>', `<samlp:Extensions><x:Note xmlns:x="urn:example:note" ID="_${randomUUID()}"/></samlp:Extensions><samlp:Status>`);
    expect((await postAcs(acs, connection.id, base64(extended))).statusCode).toBe(303);
  });

  for (const idAttribute of ['ID', 'Id', 'id']) {
    it(`rejects a validly signed assertion whose ID a foreign element in samlp:Extensions also carries (as ${idAttribute})`, async () => {
      const { connection, acs, valid } = await setUp();
      const xml = await issueSamlResponseXml(valid());
      // Which of the two the Reference means is ambiguous, the ground of every wrapping attack: refused whichever is read.
      const duplicated = xml.replace(
        '<samlp:Status>',
        `<samlp:Extensions><x:Note xmlns:x="urn:example:note" ${idAttribute}="${assertionIdOf(xml)}"/></samlp:Extensions><samlp:Status>`,
      );
      const result = await postAcs(acs, connection.id, base64(duplicated));
      expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
    });
  }

  it("rejects an assertion carrying a valid signature whose Reference points at the Response", async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid({ sign: 'none' }));
    const result = await postAcs(acs, connection.id, base64(signWith(xml, { referencedId: responseIdOf(xml), carrierId: assertionIdOf(xml) })));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
  });

  it('rejects a response carrying a valid signature whose Reference points at the assertion', async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid({ sign: 'none' }));
    const result = await postAcs(acs, connection.id, base64(signWith(xml, { referencedId: assertionIdOf(xml), carrierId: responseIdOf(xml) })));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
  });

  it('rejects a Response signature that covers only an element inside the Response', async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid({ sign: 'none' }));
    const wrapId = `_${randomUUID()}`;
    // The assertion sits in a foreign element under Extensions, which the schema lets through; only that element is signed.
    const moved = xml
      .replace(assertionOf(xml), '')
      .replace('<samlp:Status>', `<samlp:Extensions><x:Wrap xmlns:x="urn:example:wrap" ID="${wrapId}">${assertionOf(xml)}</x:Wrap></samlp:Extensions><samlp:Status>`);
    const result = await postAcs(acs, connection.id, base64(signWith(moved, { referencedId: wrapId, carrierId: responseIdOf(moved) })));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
  });

  it('rejects an RSA-SHA1 signature with SHA-1 digests on a connection without allowSha1', async () => {
    const { connection, acs, valid } = await setUp();
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid({ algorithm: 'rsa-sha1' })));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
  });

  it.each([
    ['an RSA-SHA1 signature over a SHA-256 digest', { signatureAlgorithm: RSA_SHA1, digestAlgorithm: SHA256 }],
    ['a SHA-1 digest under an RSA-SHA256 signature', { signatureAlgorithm: RSA_SHA256, digestAlgorithm: SHA1 }],
  ])('rejects %s on a connection without allowSha1', async (_, algorithms) => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid({ sign: 'none' }));
    const id = assertionIdOf(xml);
    const result = await postAcs(acs, connection.id, base64(signWith(xml, { referencedId: id, carrierId: id, ...algorithms })));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
  });

  it('accepts an RSA-SHA1 signature on a connection with allowSha1', async () => {
    const { connection, acs, valid } = await setUp({ allowSha1: true });
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid({ algorithm: 'rsa-sha1' })));
    expect(result.statusCode).toBe(303);
  });

  it("accepts a response signed with the next certificate while the connection trusts both during a rotation", async () => {
    const { connection, acs, valid } = await setUp({ idpCertificates: [idpCert, idpNext.signingCert] });
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid(idpNext)));
    expect(result.statusCode).toBe(303);
  });

  it('reads the whole NameID when a comment splits it after signing', async () => {
    const { runtime, connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid({ nameId: 'admin@example.test.evil.test' }));
    // Exclusive c14n drops comments, so the signature stays valid; a reader of the first text node would see admin@example.test.
    const split = xml.replace('>admin@example.test.evil.test<', '>admin@example.test<!---->.evil.test<');
    expect(split).not.toBe(xml);
    const result = await postAcs(acs, connection.id, base64(split));
    expect(result.statusCode).toBe(303);
    const me = await invoke(createSessionHandler(runtime), { method: 'GET', url: '/session', headers: { cookie: `sso_session=${sessionTokenOf(result)}` } });
    expect(me.json()).toMatchObject({ user: { email: 'admin@example.test.evil.test' } });
  });

  // The canonicalizers digest a processing instruction's data as text, the DOM's textContent leaves
  // it out: the signed value admin@example.test.evil.test would be read as admin@example.test.
  it.each(['assertion', 'response', 'both'] as const)(
    'rejects a signed NameID that a processing instruction cuts down after signing (signed on the %s)',
    async (sign) => {
      const { connection, acs, valid } = await setUp();
      const xml = await issueSamlResponseXml(valid({ sign, nameId: 'admin@example.test.evil.test' }));
      const cut = xml.replace('>admin@example.test.evil.test<', '>admin@example.test<?x .evil.test?><');
      expect(cut).not.toBe(xml);
      expect(refusal(await postAcs(acs, connection.id, base64(cut)))).toEqual({ status: 400, code: 'invalid_request' });
    },
  );

  it('rejects a signed attribute value that a processing instruction cuts down after signing', async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid({ attributes: { email: ['ceo@example.test.evil.test'] } }));
    const cut = xml.replace('>ceo@example.test.evil.test<', '>ceo@example.test<?x .evil.test?><');
    expect(cut).not.toBe(xml);
    expect(refusal(await postAcs(acs, connection.id, base64(cut)))).toEqual({ status: 400, code: 'invalid_request' });
  });

  it('accepts the XML declaration, the one processing instruction a SAML message may start with', async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid());
    expect((await postAcs(acs, connection.id, base64(`<?xml version="1.0" encoding="UTF-8"?>${xml}`))).statusCode).toBe(303);
  });
});

/** `plaintext` encrypted to the connection's SP key (AES-256-GCM, RSA-OAEP), as an IdP encrypts an assertion. */
function encryptForSp(plaintext: string): Promise<string> {
  const options = { rsa_pub: spEncryptionCert, pem: spEncryptionCert, encryptionAlgorithm: 'http://www.w3.org/2009/xmlenc11#aes256-gcm', keyEncryptionAlgorithm: 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p' };
  return new Promise((resolve, reject) => encrypt(plaintext, options, (error, result) => (error || !result ? reject(error) : resolve(result))));
}

describe('SAML ACS: encrypted assertions', () => {
  it('accepts a signed assertion encrypted for the SP key of the connection', async () => {
    const { connection, acs, valid } = await setUp({ spDecryptionKeySecret: 'sp-encryption-key' });
    const response = await issueSamlResponseXml(valid({ encryptFor: spEncryptionCert }));
    expect(response).toContain('<saml:EncryptedAssertion>');
    const result = await postAcs(acs, connection.id, base64(response));
    expect(result.statusCode).toBe(303);
  });

  it('rejects an encrypted assertion on a connection that has no SP decryption key', async () => {
    const { connection, acs, valid } = await setUp();
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid({ encryptFor: spEncryptionCert })));
    expect(refusal(result)).toEqual({ status: 400, code: 'invalid_request' });
  });

  it('gives one and the same refusal for a tampered ciphertext and for a ciphertext that decrypts to something that is not XML', async () => {
    const { connection, acs, valid } = await setUp({ spDecryptionKeySecret: 'sp-encryption-key' });
    const xml = await issueSamlResponseXml(valid({ encryptFor: spEncryptionCert }));
    const tampered = xml.replace(/(<xenc:CipherValue>\s*)([A-Za-z0-9+/]{8})/, (_, open: string, head: string) => `${open}${head.split('').reverse().join('')}`);
    expect(tampered).not.toBe(xml);
    const notXml = await encryptForSp('this is not an assertion');
    const garbage = xml.replace(/<saml:EncryptedAssertion>[\s\S]*<\/saml:EncryptedAssertion>/, `<saml:EncryptedAssertion>${notXml}</saml:EncryptedAssertion>`);
    const answers = await Promise.all([tampered, garbage].map(async (forged) => (await postAcs(acs, connection.id, base64(forged))).body));
    expect(new Set(answers).size).toBe(1);
    expect(JSON.parse(String(answers[0]))).toMatchObject({ status: 400, code: 'invalid_request', detail: expect.stringContaining('could not be decrypted') });
  });

  it('refuses an EncryptedKey in a foreign namespace, which would slip RSA-1.5 past the algorithm allowlist', async () => {
    const { connection, acs, valid } = await setUp({ spDecryptionKeySecret: 'sp-encryption-key' });
    const xml = await issueSamlResponseXml(valid({ encryptFor: spEncryptionCert }));
    const smuggled = xml.replace(
      /<e:EncryptedKey/,
      '<x:EncryptedKey xmlns:x="urn:not-xenc"><x:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-1_5"/></x:EncryptedKey><e:EncryptedKey',
    );
    expect(smuggled).not.toBe(xml);
    const result = await postAcs(acs, connection.id, base64(smuggled));
    expect(refusal(result)).toEqual({ status: 400, code: 'invalid_request' });
    expect(JSON.parse(String(result.body)).detail).toContain('does not accept');
  });

  it.each([
    ['accepts a signed assertion encrypted on its own (the control)', false, 303],
    ['rejects a signed, encrypted assertion that carries a second assertion in its Advice', true, 401],
  ])('%s', async (_, advice, status) => {
    const { connection, acs, valid } = await setUp({ spDecryptionKeySecret: 'sp-encryption-key' });
    const options = valid({ sign: 'none' });
    const xml = await issueSamlResponseXml(options);
    const assertion = assertionOf(xml);
    // Advice may hold assertions (SAML Core 2.6.1); one inside the signed one is what a careless reader would find.
    const nested = assertion.replace(/ ID="[^"]+"/, ` ID="_advice-${randomUUID()}"`);
    const carried = advice ? assertion.replace('</saml:Conditions>', `</saml:Conditions><saml:Advice>${nested}</saml:Advice>`) : assertion;
    expect(carried.includes('<saml:Advice>')).toBe(advice);
    const signed = signElement(carried, assertionIdOf(carried), options);
    const encrypted = await encryptForSp(signed);
    const result = await postAcs(acs, connection.id, base64(xml.replace(assertion, `<saml:EncryptedAssertion>${encrypted}</saml:EncryptedAssertion>`)));
    expect(result.statusCode).toBe(status);
    if (advice) expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
  });

  it("rejects an encrypted assertion that is not signed inside, since anyone can encrypt to the SP's public key", async () => {
    const { connection, acs, valid } = await setUp({ spDecryptionKeySecret: 'sp-encryption-key' });
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid({ sign: 'none', encryptFor: spEncryptionCert })));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
  });
});

describe('SAML ACS: time', () => {
  // The test IdP writes NotBefore = issueInstant - 60 s and NotOnOrAfter = issueInstant + 300 s; the connection allows 120 s of skew.

  it('rejects an assertion whose Conditions expired more than the skew ago', async () => {
    const { connection, acs, valid } = await setUp({}, { now: seconds(120) });
    // The bearer confirmation stays valid for an hour, so only Conditions NotOnOrAfter is past.
    const response = await signedAfterEdit(valid({ lifetimeSeconds: 3600 }), (xml) =>
      xml.replace(/(<saml:Conditions [^>]*NotOnOrAfter=")[^"]+"/, `$1${at.toISOString()}"`),
    );
    const result = await postAcs(acs, connection.id, response);
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_expired' });
  });

  it('rejects an assertion whose bearer SubjectConfirmationData expired more than the skew ago', async () => {
    const { connection, acs, valid } = await setUp({}, { now: seconds(120) });
    // Conditions stay valid for an hour, so only the confirmation's NotOnOrAfter is past.
    const response = await signedAfterEdit(valid({ lifetimeSeconds: 3600 }), (xml) =>
      xml.replace(/(<saml:SubjectConfirmationData [^>]*NotOnOrAfter=")[^"]+"/, `$1${at.toISOString()}"`),
    );
    const result = await postAcs(acs, connection.id, response);
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_expired' });
  });

  it('accepts an assertion that expired less than the skew ago', async () => {
    const { connection, acs, valid } = await setUp({}, { now: seconds(300 + 119) });
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid()));
    expect(result.statusCode).toBe(303);
  });

  // Issued now, so that only NotBefore is in the future: an IssueInstant that far ahead is refused on its own (below).
  it('rejects an assertion whose NotBefore is further in the future than the skew', async () => {
    const { connection, acs, valid } = await setUp();
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid({ notBefore: seconds(121) })));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_not_yet_valid' });
  });

  it('accepts an assertion whose NotBefore is in the future by no more than the skew', async () => {
    const { connection, acs, valid } = await setUp();
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid({ notBefore: seconds(120) })));
    expect(result.statusCode).toBe(303);
  });
});

describe('SAML ACS: audience, recipient and issuer', () => {
  it('rejects a response whose Audience is another SP', async () => {
    const { connection, acs, valid } = await setUp();
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid({ audience: 'https://other-sp.example.test/metadata' })));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_audience_mismatch' });
  });

  it('rejects a signed Response that names no Destination', async () => {
    const { connection, acs, valid } = await setUp();
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid({ sign: 'response', destination: null })));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_recipient_mismatch' });
  });

  it('reads an IdP attribute named like an Object property as a plain name', async () => {
    const { connection, acs, valid } = await setUp();
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid({ attributes: { constructor: ['x'], hasOwnProperty: ['z'], toString: ['y'] } })));
    expect(result.statusCode).toBe(303);
  });

  it("rejects an assertion whose SubjectConfirmationData Recipient is another URL, even with this ACS as the response's Destination", async () => {
    const { connection, acs, valid } = await setUp();
    const options = valid();
    const response = await issueSamlResponse({ ...options, destination: options.recipient, recipient: 'https://other-sp.example.test/acs' });
    const result = await postAcs(acs, connection.id, response);
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_recipient_mismatch' });
  });

  it('rejects a response whose Destination is another URL, even with this ACS as the Recipient', async () => {
    const { connection, acs, valid } = await setUp();
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid({ destination: 'https://other-sp.example.test/acs' })));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_recipient_mismatch' });
  });

  it('accepts a response without a Destination', async () => {
    const { connection, acs, valid } = await setUp();
    const response = await issueSamlResponseXml(valid({ destination: null }));
    expect(response).not.toContain('Destination=');
    const result = await postAcs(acs, connection.id, base64(response));
    expect(result.statusCode).toBe(303);
  });

  it("rejects an assertion whose Issuer is another IdP, signed with this IdP's key, under a Response from this IdP", async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid({ issuer: 'https://other-idp.example.test/metadata' }));
    // Only the (unsigned) Response's Issuer is put right, so the assertion's is the one difference.
    const response = xml.replace(
      '<saml:Issuer>https://other-idp.example.test/metadata</saml:Issuer><samlp:Status>',
      `<saml:Issuer>${connection.idpEntityId}</saml:Issuer><samlp:Status>`,
    );
    expect(response).not.toBe(xml);
    const result = await postAcs(acs, connection.id, base64(response));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_issuer_mismatch' });
  });

  it('rejects a response whose Response Issuer is another IdP around an assertion from this IdP', async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid());
    const response = xml.replace(
      `<saml:Issuer>${connection.idpEntityId}</saml:Issuer><samlp:Status>`,
      '<saml:Issuer>https://other-idp.example.test/metadata</saml:Issuer><samlp:Status>',
    );
    expect(response).not.toBe(xml);
    const result = await postAcs(acs, connection.id, base64(response));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_issuer_mismatch' });
  });
});

describe('SAML ACS: InResponseTo and replay', () => {
  it('rejects a response without InResponseTo on a connection that refuses IdP-initiated logins', async () => {
    const { connection, acs, valid } = await setUp({ allowIdpInitiated: false });
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid()));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_unsolicited' });
  });

  it('rejects a response whose InResponseTo was never requested', async () => {
    const { connection, acs, valid } = await setUp({ allowIdpInitiated: false });
    const requestId = `_${randomUUID()}`;
    // The browser carries the cookie of that id, so only the store can refuse it.
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid({ inResponseTo: requestId })), undefined, { requestId });
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_in_response_to_mismatch' });
  });

  it('rejects a response to an AuthnRequest whose record has expired', async () => {
    const { runtime, connection, acs, valid } = await setUp({ allowIdpInitiated: false });
    const requestId = `_${randomUUID()}`;
    await runtime.store.recordAuthnRequest(connection.id, requestId, seconds(-60));
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid({ inResponseTo: requestId })), undefined, { requestId });
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_in_response_to_mismatch' });
  });

  it("rejects a signed Response whose InResponseTo differs from its assertion's, though both requests were recorded", async () => {
    const { runtime, connection, acs, valid } = await setUp({ allowIdpInitiated: false });
    const [answered, other] = [`_${randomUUID()}`, `_${randomUUID()}`];
    await runtime.store.recordAuthnRequest(connection.id, answered, seconds(600));
    await runtime.store.recordAuthnRequest(connection.id, other, seconds(600));
    const options = valid({ inResponseTo: answered });
    const xml = await issueSamlResponseXml({ ...options, sign: 'none' });
    // The Response's start tag comes first; the assertion keeps its InResponseTo, and the IdP signs the whole Response.
    const edited = xml.replace(` InResponseTo="${answered}"`, ` InResponseTo="${other}"`);
    expect(edited).toContain(`InResponseTo="${answered}"`);
    const result = await postAcs(acs, connection.id, base64(signElement(edited, responseIdOf(edited), options)), undefined, { requestId: other });
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_in_response_to_mismatch' });
  });

  it("does not let an unsigned Response's InResponseTo make an IdP-initiated assertion solicited", async () => {
    const { runtime, connection, acs, valid } = await setUp({ allowIdpInitiated: false });
    const requestId = `_${randomUUID()}`;
    await runtime.store.recordAuthnRequest(connection.id, requestId, seconds(600));
    // The signed assertion answers no request; only the unsigned Response around it claims to.
    const response = await signedAfterEdit(valid({ inResponseTo: requestId }), (xml) =>
      xml.replace(/(<saml:SubjectConfirmationData\b[^>]*?) InResponseTo="[^"]+"/, '$1'),
    );
    const decoded = Buffer.from(response, 'base64').toString('utf8');
    expect(decoded.match(/InResponseTo=/g)).toHaveLength(1);
    const result = await postAcs(acs, connection.id, response, undefined, { requestId });
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_unsolicited' });
  });

  it('accepts a valid response once and refuses the same response posted again', async () => {
    const { connection, acs, valid } = await setUp();
    const response = await issueSamlResponse(valid());
    expect((await postAcs(acs, connection.id, response)).statusCode).toBe(303);
    const again = await postAcs(acs, connection.id, response);
    expect(refusal(again)).toEqual({ status: 401, code: 'saml_replay' });
  });

  it('refuses a used assertion in a fresh Response envelope', async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid());
    expect((await postAcs(acs, connection.id, base64(xml))).statusCode).toBe(303);
    const rewrapped = xml.replace(`ID="${responseIdOf(xml)}"`, `ID="_${randomUUID()}"`);
    const again = await postAcs(acs, connection.id, base64(rewrapped));
    expect(refusal(again)).toEqual({ status: 401, code: 'saml_replay' });
  });

  it('still refuses a replay just before the assertion stops being acceptable', async () => {
    const { connection, acs, valid } = await setUp();
    const response = await issueSamlResponse(valid());
    expect((await postAcs(acs, connection.id, response)).statusCode).toBe(303);
    const again = await postAcs(await acsAt(seconds(300 + 119)), connection.id, response);
    expect(refusal(again)).toEqual({ status: 401, code: 'saml_replay' });
  });

  it('rejects a bearer confirmation without NotOnOrAfter, even inside Conditions that have one', async () => {
    const { connection, acs, valid } = await setUp();
    const response = await signedAfterEdit(valid(), (xml) => xml.replace(/(<saml:SubjectConfirmationData\b[^>]*?) NotOnOrAfter="[^"]+"/, '$1'));
    expect(Buffer.from(response, 'base64').toString('utf8').match(/NotOnOrAfter=/g)).toHaveLength(1);
    const result = await postAcs(acs, connection.id, response);
    expect(refusal(result)).toEqual({ status: 400, code: 'invalid_request' });
  });

  // SAML profiles 4.1.4.2 and 4.1.4.5: a bearer confirmation carries NotOnOrAfter, and the SP keeps
  // used ids that long. An assertion with no bound at all must not become acceptable again.
  it('never accepts an assertion without any NotOnOrAfter again once the skew has passed', async () => {
    const { connection, acs, valid } = await setUp();
    const response = await signedAfterEdit(valid(), (xml) => xml.replace(/ NotOnOrAfter="[^"]+"/g, ''));
    expect(Buffer.from(response, 'base64').toString('utf8')).not.toContain('NotOnOrAfter');
    const first = await postAcs(acs, connection.id, response);
    const late = await postAcs(await acsAt(seconds(3600)), connection.id, response);
    // Either such an assertion is refused outright, or its id is still known an hour later.
    expect(late.statusCode).not.toBe(303);
    expect(late.statusCode).toBeLessThan(500);
    expect(problemCode(late)).toBe(first.statusCode === 303 ? 'saml_replay' : problemCode(first));
  });
});

describe('SAML ACS: status, input and transport', () => {
  it('rejects a response whose status is Responder', async () => {
    const { connection, acs, valid } = await setUp();
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid({ status: 'urn:oasis:names:tc:SAML:2.0:status:Responder' })));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_status_not_success' });
  });

  it('rejects a SAMLResponse with characters outside the base64 alphabet', async () => {
    const { connection, acs, valid } = await setUp();
    // A lenient decoder skips the stray characters and finds a valid response underneath.
    const response = await issueSamlResponse(valid());
    const result = await postAcs(acs, connection.id, `${response.slice(0, 40)}!*${response.slice(40)}`);
    expect(refusal(result)).toEqual({ status: 400, code: 'invalid_request' });
  });

  it.each([
    ['written in the base64url alphabet', (r: string) => r.replace(/\+/g, '-').replace(/\//g, '_')],
    ['without its padding', (r: string) => r.replace(/=+$/, '')],
  ])('rejects a SAMLResponse %s, which a lenient decoder reads as the valid response', async (_, edit) => {
    const { connection, acs, valid } = await setUp();
    // The edits need a '+' or '/' and padding to act on: a trailing space in the XML sets the padding.
    const xml = await issueSamlResponseXml(valid());
    const response = [xml, `${xml} `, `${xml}  `].map(base64).find((r) => /[+/]/.test(r) && r.endsWith('='))!;
    const edited = edit(response);
    expect(edited).not.toBe(response);
    expect(Buffer.from(edited, 'base64').equals(Buffer.from(response, 'base64'))).toBe(true);
    expect(refusal(await postAcs(acs, connection.id, edited))).toEqual({ status: 400, code: 'invalid_request' });
  });

  it('rejects a response whose octets are not UTF-8, which a decoder would quietly repair', async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid());
    // An unsigned, unread attribute of the Response: the schema's reading of the octets is what refuses it.
    const [head, tail] = [xml.slice(0, xml.indexOf(' Version="2.0"')), xml.slice(xml.indexOf(' Version="2.0"'))];
    const control = Buffer.from(`${head} Consent="urn:x"${tail}`, 'utf8');
    const broken = Buffer.concat([Buffer.from(`${head} Consent="urn:x`, 'utf8'), Buffer.from([0xff]), Buffer.from(`"${tail}`, 'utf8')]);
    expect((await postAcs(acs, connection.id, control.toString('base64'))).statusCode).toBe(303);
    const result = await postAcs(acs, connection.id, broken.toString('base64'));
    expect(refusal(result)).toEqual({ status: 400, code: 'invalid_request' });
  });

  it('reads the octets as UTF-8 whatever the XML declaration says, so a Latin-1 byte is refused rather than read two ways', async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid());
    const at = xml.indexOf(' Version="2.0"');
    // Read as the declaration says, 0xE9 is "é" to libxml2 while the DOM parser reads U+FFFD.
    const latin1 = Buffer.concat([
      Buffer.from(`<?xml version="1.0" encoding="ISO-8859-1"?>${xml.slice(0, at)} Consent="urn:x`, 'utf8'),
      Buffer.from([0xe9]),
      Buffer.from(`"${xml.slice(at)}`, 'utf8'),
    ]);
    const result = await postAcs(acs, connection.id, latin1.toString('base64'));
    expect(refusal(result)).toEqual({ status: 400, code: 'invalid_request' });
  });

  it('accepts a SAMLResponse whose base64 is wrapped in lines of 76 characters, as MIME encoders write it', async () => {
    const { connection, acs, valid } = await setUp();
    const response = await issueSamlResponse(valid());
    const wrapped = response.match(/.{1,76}/g)!.join('\r\n');
    expect(wrapped).toContain('\r\n');
    expect((await postAcs(acs, connection.id, wrapped)).statusCode).toBe(303);
  });

  it('rejects a SAMLResponse whose base64 does not decode to XML', async () => {
    const { connection, acs } = await setUp();
    const result = await postAcs(acs, connection.id, base64('{"SAMLResponse": "no"}'));
    expect(refusal(result)).toEqual({ status: 400, code: 'invalid_request' });
  });

  it('rejects a SAMLResponse that is not well-formed XML', async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid());
    const result = await postAcs(acs, connection.id, base64(xml.replace('</samlp:Response>', '')));
    expect(refusal(result)).toEqual({ status: 400, code: 'invalid_request' });
  });

  it('rejects an otherwise valid response that declares a DOCTYPE', async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid());
    const result = await postAcs(acs, connection.id, base64(`<!DOCTYPE samlp:Response [<!ENTITY e "e">]>${xml}`));
    expect(refusal(result)).toEqual({ status: 400, code: 'invalid_request' });
  });

  it('rejects a Response that breaks the SAML schema (no Version)', async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid());
    // The Response's start tag comes first; the signed assertion keeps its Version.
    const response = xml.replace(' Version="2.0"', '');
    expect(response).toContain('Version="2.0"');
    const result = await postAcs(acs, connection.id, base64(response));
    expect(refusal(result)).toEqual({ status: 400, code: 'invalid_request' });
  });

  // Each edit is one that nothing but the schema refuses: the Response's own elements are unsigned
  // here and read by name, and the assertion is signed after its edit.
  it.each([
    ['its Status before its Issuer', (xml: string) => xml.replace(/(<saml:Issuer[^>]*>[^<]*<\/saml:Issuer>)(<samlp:Status>[\s\S]*?<\/samlp:Status>)/, '$2$1')],
    ['an element the protocol does not define', (xml: string) => xml.replace('</samlp:Status>', '</samlp:Status><samlp:Bogus/>')],
  ])('rejects a Response whose schema is broken by %s', async (_, edit) => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid());
    const response = edit(xml);
    expect(response).not.toBe(xml);
    const result = await postAcs(acs, connection.id, base64(response));
    expect(refusal(result)).toEqual({ status: 400, code: 'invalid_request' });
    expect(JSON.parse(String(result.body)).detail).toContain('SAML 2.0 schema');
  });

  it('rejects a signed assertion whose AuthnStatement comes before its Subject, which the assertion schema forbids', async () => {
    const { connection, acs, valid } = await setUp();
    const moved = inAssertion((assertion) => {
      const statement = /<saml:AuthnStatement[\s\S]*<\/saml:AuthnStatement>/.exec(assertion)![0];
      return assertion.replace(statement, '').replace('<saml:Subject>', `${statement}<saml:Subject>`);
    });
    const result = await postAcs(acs, connection.id, await signedAfterEdit(valid(), moved));
    expect(refusal(result)).toEqual({ status: 400, code: 'invalid_request' });
    expect(JSON.parse(String(result.body)).detail).toContain('SAML 2.0 schema');
  });

  it('rejects a post without a SAMLResponse field', async () => {
    const { connection, acs } = await setUp();
    const result = await postForm(acs, connection.id, { RelayState: 'https://app.example.test/' });
    expect(refusal(result)).toEqual({ status: 400, code: 'invalid_request' });
  });

  it('refuses a RelayState outside the allowlist before recording the assertion', async () => {
    const { connection, acs, valid } = await setUp();
    const response = await issueSamlResponse(valid());
    const refused = await postAcs(acs, connection.id, response, 'https://evil.example.test/');
    expect(refusal(refused)).toEqual({ status: 400, code: 'forbidden_return_to' });
    const accepted = await postAcs(acs, connection.id, response, 'https://app.example.test/after');
    expect(accepted.statusCode).toBe(303);
    expect(accepted.headers?.location).toBe('https://app.example.test/after');
  });

  it('rejects a body larger than maxBodyBytes', async () => {
    const { runtime, connection, acs, valid } = await setUp();
    // Whitespace is ignored in the base64, so without the limit this padded response would be accepted.
    const padded = (await issueSamlResponse(valid())) + ' '.repeat(runtime.config.maxBodyBytes);
    const result = await postAcs(acs, connection.id, padded);
    expect(refusal(result)).toEqual({ status: 413, code: 'payload_too_large' });
  });

  it('rejects a post to a connection that does not exist', async () => {
    const { acs, valid } = await setUp();
    const result = await postAcs(acs, `saml-${randomUUID()}`, await issueSamlResponse(valid()));
    expect(refusal(result)).toEqual({ status: 404, code: 'unknown_connection' });
  });

  it('rejects a post to a disabled connection', async () => {
    const { connection, acs, valid } = await setUp({ enabled: false });
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid()));
    expect(refusal(result)).toEqual({ status: 404, code: 'unknown_connection' });
  });

  it('rejects a valid response that lacks an attribute the mapping requires, naming it', async () => {
    const { connection, acs, valid } = await setUp({
      attributeMapping: { attributes: { ...DEFAULT_ATTRIBUTE_MAPPING.attributes, department: { from: ['department'] } }, required: ['department'] },
    });
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid({ attributes: { firstName: ['Ada'] } })));
    expect(refusal(result)).toEqual({ status: 422, code: 'missing_required_attribute' });
    expect(result.json().detail).toContain('"department"');
  });

  it('answers a browser that prefers text/html with an HTML error page carrying the code', async () => {
    const { connection, acs, valid } = await setUp();
    const response = await issueSamlResponse(valid({ audience: 'https://other-sp.example.test/metadata' }));
    const result = await postForm(acs, connection.id, { SAMLResponse: response }, { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' });
    expect(result.statusCode).toBe(401);
    expect(result.headers?.['content-type']).toMatch(/^text\/html/);
    expect(String(result.body)).toContain('<code>saml_audience_mismatch</code>');
  });
});

describe('SAML ACS: every signature in the document', () => {
  it("rejects an assertion signed by another key inside a Response that the IdP's key signs validly", async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid({ sign: 'assertion', ...attacker }));
    const result = await postAcs(acs, connection.id, base64(signElement(xml, responseIdOf(xml), valid())));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
  });

  it('rejects an assertion altered after its own signature, inside a Response signed after the change', async () => {
    const { connection, acs, valid } = await setUp();
    const options = valid();
    const xml = await issueSamlResponseXml(options);
    const altered = xml.replace(`>${options.nameId}</saml:NameID>`, '>admin@example.test</saml:NameID>');
    expect(altered).not.toBe(xml);
    const result = await postAcs(acs, connection.id, base64(signElement(altered, responseIdOf(altered), options)));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
  });

  it('rejects an encrypted assertion signed inside by another key, though the Response around it is validly signed', async () => {
    const { connection, acs, valid } = await setUp({ spDecryptionKeySecret: 'sp-encryption-key' });
    const xml = await issueSamlResponseXml(valid({ sign: 'assertion', ...attacker, encryptFor: spEncryptionCert }));
    const result = await postAcs(acs, connection.id, base64(signElement(xml, responseIdOf(xml), valid())));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
  });

  it('rejects a signature sitting in Extensions, where it signs no parent of its own, beside a validly signed assertion', async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid());
    const responseSignature = /<\/saml:Issuer>(<ds:Signature[\s\S]*?<\/ds:Signature>)<samlp:Status>/.exec(signElement(xml, responseIdOf(xml), valid()))![1]!;
    const extended = xml.replace('<samlp:Status>', `<samlp:Extensions>${responseSignature}</samlp:Extensions><samlp:Status>`);
    const result = await postAcs(acs, connection.id, base64(extended));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
  });
});

describe('SAML ACS: the form of signatures', () => {
  it.each([
    ['before the enveloped-signature transform', [EXC_C14N, ENVELOPED]],
    ['before another canonicalization', [ENVELOPED, EXC_C14N, EXC_C14N]],
  ])('rejects a signature with a canonicalization %s, whose octets would be parsed again', async (_, transforms) => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid({ sign: 'none' }));
    const id = assertionIdOf(xml);
    const result = await postAcs(acs, connection.id, base64(signWith(xml, { referencedId: id, carrierId: id, transforms })));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
    expect(JSON.parse(String(result.body)).detail).toContain('canonicalization before its last transform');
  });

  it('rejects a signed element holding two more copies of its signature, where a reader looking for the signature by its value would find one', async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid({ sign: 'none', attributes: { department: ['research'] } }));
    const id = assertionIdOf(xml);
    const signed = signWith(xml, { referencedId: id, carrierId: id, transforms: [ENVELOPED, EXC_C14N] });
    const signature = /<ds:Signature[\s\S]*?<\/ds:Signature>/.exec(signed)![0];
    // An AttributeValue may hold any element, so the schema lets the copies through.
    expect(signed).toContain('</saml:AttributeValue>');
    const copied = signed.replace('</saml:AttributeValue>', `${signature}${signature}</saml:AttributeValue>`);
    const result = await postAcs(acs, connection.id, base64(copied));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
  });

  it('accepts the same signature with enveloped-signature, then exclusive c14n (the control)', async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid({ sign: 'none' }));
    const id = assertionIdOf(xml);
    const result = await postAcs(acs, connection.id, base64(signWith(xml, { referencedId: id, carrierId: id, transforms: [ENVELOPED, EXC_C14N] })));
    expect(result.statusCode).toBe(303);
  });

  it('accepts an assertion whose exclusive c14n lists a prefix the Response declares, inside a signed Response', async () => {
    const { connection, acs, valid } = await setUp();
    const options = valid({ sign: 'none' });
    const xml = await issueSamlResponseXml(options);
    const id = assertionIdOf(xml);
    // samlp is declared on the Response only: its c14n puts it on the assertion, in a copy.
    const assertionSigned = signWith(xml, { referencedId: id, carrierId: id, prefixList: ['samlp'] });
    expect(assertionSigned).toContain('PrefixList="samlp"');
    const result = await postAcs(acs, connection.id, base64(signElement(assertionSigned, responseIdOf(assertionSigned), options)));
    expect(result.statusCode).toBe(303);
  });

  it('rejects a signature whose transform is outside the allowlist (exclusive c14n with comments)', async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid({ sign: 'none' }));
    const id = assertionIdOf(xml);
    const result = await postAcs(acs, connection.id, base64(signWith(xml, { referencedId: id, carrierId: id, transforms: [ENVELOPED, EXC_C14N_WITH_COMMENTS] })));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
  });

  it('rejects a signature with two References, both to the element that carries it', async () => {
    const { connection, acs, valid } = await setUp();
    const xml = await issueSamlResponseXml(valid({ sign: 'none' }));
    const id = assertionIdOf(xml);
    const signed = signWith(xml, { referencedId: id, carrierId: id, references: 2 });
    expect(signed.match(/<ds:Reference /g)).toHaveLength(2);
    const result = await postAcs(acs, connection.id, base64(signed));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
  });

  it('rejects a signed assertion posted on its own, without a samlp:Response around it', async () => {
    const { connection, acs, valid } = await setUp();
    const assertion = assertionOf(await issueSamlResponseXml(valid()));
    const result = await postAcs(acs, connection.id, base64(assertion));
    expect(refusal(result)).toEqual({ status: 400, code: 'invalid_request' });
  });

  // xml-crypto refuses these itself as well, so the detail shows that the allowlist refused them first.
  it.each([
    ['HMAC-SHA1 keyed with the public certificate', HMAC_SHA1, (xml: string, id: string) => signWith(xml, { referencedId: id, carrierId: id, signatureAlgorithm: HMAC_SHA1, digestAlgorithm: SHA1, hmacKey: idpCert })],
    ['RSA-MD5', RSA_MD5, (xml: string, id: string) => signWith(xml, { referencedId: id, carrierId: id }).replace(`Algorithm="${RSA_SHA256}"`, `Algorithm="${RSA_MD5}"`)],
  ])('rejects %s on a connection with allowSha1, naming the algorithm', async (_, algorithm, sign) => {
    const { connection, acs, valid } = await setUp({ allowSha1: true });
    const xml = await issueSamlResponseXml(valid({ sign: 'none' }));
    const signed = sign(xml, assertionIdOf(xml));
    expect(signed).toContain(`<ds:SignatureMethod Algorithm="${algorithm}"`);
    const result = await postAcs(acs, connection.id, base64(signed));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
    expect(result.json().detail).toContain(algorithm);
  });
});

describe('SAML ACS: encrypted assertions, their form and algorithms', () => {
  it.each([
    ['3DES for the assertion (pysaml2 default)', { encryptionAlgorithm: TRIPLEDES }, TRIPLEDES, 'http://www.w3.org/2009/xmlenc11#aes256-gcm'],
    ['RSA-1.5 for its key', { keyEncryptionAlgorithm: RSA_1_5 }, RSA_1_5, 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p'],
  ])('rejects an assertion encrypted with %s in the xenc namespace before decrypting, naming it and the accepted ones', async (_, algorithms, refused, accepted) => {
    const { connection, acs, valid } = await setUp({ spDecryptionKeySecret: 'sp-encryption-key' });
    const xml = await issueSamlResponseXml(valid({ encryptFor: spEncryptionCert, ...algorithms }));
    expect(xml).toContain(`Algorithm="${refused}"`);
    const result = await postAcs(acs, connection.id, base64(xml));
    expect(refusal(result)).toEqual({ status: 400, code: 'invalid_request' });
    expect(result.json().detail).toEqual(expect.stringContaining(refused));
    expect(result.json().detail).toEqual(expect.stringContaining(accepted));
  });

  it('rejects an EncryptedKey with the accepted algorithm but outside the xenc namespace', async () => {
    const { connection, acs, valid } = await setUp({ spDecryptionKeySecret: 'sp-encryption-key' });
    const xml = await issueSamlResponseXml(valid({ encryptFor: spEncryptionCert }));
    const moved = xml.replace(`xmlns:e="${XENC}"`, 'xmlns:e="urn:example:not-xenc"');
    expect(moved).not.toBe(xml);
    const result = await postAcs(acs, connection.id, base64(moved));
    expect(refusal(result)).toEqual({ status: 400, code: 'invalid_request' });
  });

  it('rejects an encrypted assertion with a second EncryptedKey', async () => {
    const { connection, acs, valid } = await setUp({ spDecryptionKeySecret: 'sp-encryption-key' });
    const xml = await issueSamlResponseXml(valid({ encryptFor: spEncryptionCert }));
    // Without an EncryptionMethod of its own, so that only the count of keys is wrong (and without the
    // KeyInfo whose namespace it inherits where it stands).
    const key = /<e:EncryptedKey[\s\S]*?<\/e:EncryptedKey>/
      .exec(xml)![0]
      .replace(/<e:EncryptionMethod[\s\S]*?<\/e:EncryptionMethod>/, '')
      .replace(/<KeyInfo>[\s\S]*?<\/KeyInfo>/, '');
    const result = await postAcs(acs, connection.id, base64(xml.replace('</saml:EncryptedAssertion>', `${key}</saml:EncryptedAssertion>`)));
    expect(refusal(result)).toEqual({ status: 400, code: 'invalid_request' });
  });

  it('rejects an encrypted assertion with a second EncryptedData', async () => {
    const { connection, acs, valid } = await setUp({ spDecryptionKeySecret: 'sp-encryption-key' });
    const xml = await issueSamlResponseXml(valid({ encryptFor: spEncryptionCert }));
    // A reference, not a value, so that xml-encryption still decrypts the first: only the count is wrong.
    const second = `<xenc:EncryptedData xmlns:xenc="${XENC}"><xenc:CipherData><xenc:CipherReference URI="#elsewhere"/></xenc:CipherData></xenc:EncryptedData>`;
    const doubled = xml.replace('</e:EncryptedKey>', `</e:EncryptedKey>${second}`);
    expect(doubled).not.toBe(xml);
    const result = await postAcs(acs, connection.id, base64(doubled));
    expect(refusal(result)).toEqual({ status: 400, code: 'invalid_request' });
  });

  it('rejects a response with two encrypted assertions', async () => {
    const { connection, acs, valid } = await setUp({ spDecryptionKeySecret: 'sp-encryption-key' });
    const xml = await issueSamlResponseXml(valid({ encryptFor: spEncryptionCert }));
    const other = /<saml:EncryptedAssertion>[\s\S]*<\/saml:EncryptedAssertion>/.exec(await issueSamlResponseXml(valid({ encryptFor: spEncryptionCert })))![0];
    const result = await postAcs(acs, connection.id, base64(xml.replace('</samlp:Response>', `${other}</samlp:Response>`)));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_invalid_signature' });
  });
});

describe('SAML ACS: every SAML time is UTC', () => {
  /** The same instant written with a +01:00 offset. */
  const withOffset = (iso: string) => new Date(new Date(iso).getTime() + 3_600_000).toISOString().replace('Z', '+01:00');

  const LOCATIONS = [
    ['the Response IssueInstant', 'samlp:Response', 'IssueInstant'],
    ['the Assertion IssueInstant', 'saml:Assertion', 'IssueInstant'],
    ['Conditions NotBefore', 'saml:Conditions', 'NotBefore'],
    ['Conditions NotOnOrAfter', 'saml:Conditions', 'NotOnOrAfter'],
    ['SubjectConfirmationData NotOnOrAfter', 'saml:SubjectConfirmationData', 'NotOnOrAfter'],
    ['AuthnInstant', 'saml:AuthnStatement', 'AuthnInstant'],
    ['SessionNotOnOrAfter', 'saml:AuthnStatement', 'SessionNotOnOrAfter'],
  ] as const;

  /** A valid response with one time attribute set by `write` from its current value (the Response's is left unsigned). */
  async function withTime(valid: (changes?: Partial<IssueResponseOptions>) => IssueResponseOptions, tag: string, name: string, write: (iso: string) => string) {
    const set = (xml: string) => setAttribute(xml, tag, name, write(attributeOf(xml, tag, name) ?? seconds(3600).toISOString()));
    return tag === 'samlp:Response' ? base64(set(await issueSamlResponseXml(valid()))) : signedAfterEdit(valid(), inAssertion(set));
  }

  it.each(LOCATIONS)('rejects %s written with a +01:00 offset, though it names the same instant', async (_, tag, name) => {
    const { connection, acs, valid } = await setUp();
    const response = await withTime(valid, tag, name, withOffset);
    expect(attributeOf(decoded(response), tag, name)).toMatch(/\+01:00$/);
    const result = await postAcs(acs, connection.id, response);
    expect(refusal(result)).toEqual({ status: 400, code: 'invalid_request' });
  });

  it.each([
    ['without a time zone', (iso: string) => iso.replace('Z', '')],
    ['as hour 24 of the day before', () => '2030-01-14T24:00:00Z'],
    ['as words (the schema refuses these too)', () => 'yesterday'],
  ])('rejects an AuthnInstant written %s', async (_, write) => {
    const { connection, acs, valid } = await setUp();
    const result = await postAcs(acs, connection.id, await withTime(valid, 'saml:AuthnStatement', 'AuthnInstant', write));
    expect(refusal(result)).toEqual({ status: 400, code: 'invalid_request' });
  });

  it.each([
    ['whole seconds', (iso: string) => iso.replace('.000Z', 'Z')],
    ['microseconds', (iso: string) => iso.replace('.000Z', '.000123Z')],
  ])('accepts times in UTC with %s, SessionNotOnOrAfter included', async (_, write) => {
    const { connection, acs, valid } = await setUp();
    const response = await signedAfterEdit(valid(), (xml) =>
      LOCATIONS.reduce((edited, [, tag, name]) => setAttribute(edited, tag, name, write(attributeOf(edited, tag, name) ?? seconds(3600).toISOString())), xml),
    );
    expect((await postAcs(acs, connection.id, response)).statusCode).toBe(303);
  });
});

describe('SAML ACS: issue instants', () => {
  // The connection allows 120 s of skew; by default an IssueInstant may be 300 s old, plus the skew.

  it('rejects a Response issued further in the future than the skew', async () => {
    const { connection, acs, valid } = await setUp();
    const xml = setAttribute(await issueSamlResponseXml(valid()), 'samlp:Response', 'IssueInstant', seconds(121).toISOString());
    expect(refusal(await postAcs(acs, connection.id, base64(xml)))).toEqual({ status: 401, code: 'saml_not_yet_valid' });
  });

  it('accepts a Response issued in the future by no more than the skew', async () => {
    const { connection, acs, valid } = await setUp();
    const xml = setAttribute(await issueSamlResponseXml(valid()), 'samlp:Response', 'IssueInstant', seconds(120).toISOString());
    expect((await postAcs(acs, connection.id, base64(xml))).statusCode).toBe(303);
  });

  it('rejects an assertion issued further in the future than the skew', async () => {
    const { connection, acs, valid } = await setUp();
    const response = await signedAfterEdit(valid(), inAssertion((a) => setAttribute(a, 'saml:Assertion', 'IssueInstant', seconds(121).toISOString())));
    expect(refusal(await postAcs(acs, connection.id, response))).toEqual({ status: 401, code: 'saml_not_yet_valid' });
  });

  it('rejects a Response issued longer ago than 300 s plus the skew, though its assertion is recent and valid for an hour', async () => {
    const { connection, acs, valid } = await setUp({}, { now: seconds(420) });
    const response = await signedAfterEdit(valid({ lifetimeSeconds: 3600 }), inAssertion((a) => setAttribute(a, 'saml:Assertion', 'IssueInstant', seconds(300).toISOString())));
    expect(refusal(await postAcs(acs, connection.id, response))).toEqual({ status: 401, code: 'saml_expired' });
  });

  it('rejects an assertion issued longer ago than 300 s plus the skew, though it is valid for an hour and the Response is recent', async () => {
    const { connection, acs, valid } = await setUp({}, { now: seconds(420) });
    const xml = setAttribute(await issueSamlResponseXml(valid({ lifetimeSeconds: 3600 })), 'samlp:Response', 'IssueInstant', seconds(300).toISOString());
    expect(refusal(await postAcs(acs, connection.id, base64(xml)))).toEqual({ status: 401, code: 'saml_expired' });
  });

  it('accepts a response valid for an hour until 300 s plus the skew after its issue', async () => {
    const { connection, acs, valid } = await setUp({}, { now: seconds(419) });
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid({ lifetimeSeconds: 3600 })));
    expect(result.statusCode).toBe(303);
  });

  it.each([
    [60, 180, 'saml_expired'],
    [60, 179, 303],
    [3600, 1800, 303],
  ] as const)('with maxIssueAgeSeconds %i, answers a response valid for two hours, posted %i s after its issue, with %s', async (maxIssueAgeSeconds, after, expected) => {
    const { connection, acs, valid } = await setUp({ maxIssueAgeSeconds }, { now: seconds(after) });
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid({ lifetimeSeconds: 7200 })));
    expect(expected === 303 ? result.statusCode : refusal(result)).toEqual(expected === 303 ? 303 : { status: 401, code: expected });
  });
});

describe("SAML ACS: the profile's conditions, subject and confirmations", () => {
  it('rejects Conditions without NotOnOrAfter, though the bearer confirmation has one', async () => {
    const { connection, acs, valid } = await setUp();
    const response = await signedAfterEdit(valid(), inAssertion((a) => setAttribute(a, 'saml:Conditions', 'NotOnOrAfter', undefined)));
    expect(attributeOf(decoded(response), 'saml:Conditions', 'NotOnOrAfter')).toBeUndefined();
    expect(refusal(await postAcs(acs, connection.id, response))).toEqual({ status: 400, code: 'invalid_request' });
  });

  it('rejects an assertion without Conditions', async () => {
    const { connection, acs, valid } = await setUp();
    const response = await signedAfterEdit(valid(), inAssertion((a) => a.replace(/<saml:Conditions\b[\s\S]*<\/saml:Conditions>/, '')));
    expect(decoded(response)).not.toContain('Conditions');
    expect(refusal(await postAcs(acs, connection.id, response))).toEqual({ status: 400, code: 'invalid_request' });
  });

  it('rejects a bearer SubjectConfirmationData that carries a NotBefore later than the assertion was issued', async () => {
    const { connection, acs, valid } = await setUp();
    // Within the skew, so no clock check could refuse it: only the profile's rule does.
    const response = await signedAfterEdit(valid(), inAssertion((a) => setAttribute(a, 'saml:SubjectConfirmationData', 'NotBefore', seconds(30).toISOString())));
    expect(refusal(await postAcs(acs, connection.id, response))).toEqual({ status: 400, code: 'invalid_request' });
  });

  it('lets pass a bearer NotBefore no later than the IssueInstant, which restricts nothing (OpenSAML-based IdPs send it)', async () => {
    const { connection, acs, valid } = await setUp();
    for (const notBefore of [seconds(0), seconds(-60)]) {
      const response = await signedAfterEdit(valid(), inAssertion((a) => setAttribute(a, 'saml:SubjectConfirmationData', 'NotBefore', notBefore.toISOString())));
      expect((await postAcs(acs, connection.id, response)).statusCode).toBe(303);
    }
  });

  it('rejects an assertion whose Conditions have no AudienceRestriction', async () => {
    const { connection, acs, valid } = await setUp();
    const response = await signedAfterEdit(valid(), inAssertion((a) => a.replace(/<saml:AudienceRestriction>[\s\S]*<\/saml:AudienceRestriction>/, '')));
    expect(decoded(response)).toMatch(/<saml:Conditions [^>]*NotOnOrAfter="[^"]+"\/>/);
    expect(refusal(await postAcs(acs, connection.id, response))).toEqual({ status: 401, code: 'saml_audience_mismatch' });
  });

  it.each([
    ['an EncryptedID', `<saml:EncryptedID><xenc:EncryptedData xmlns:xenc="${XENC}"><xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedID>`],
    // BaseID's type is abstract and SAML defines no concrete one, so the schema refuses this too.
    ['a BaseID', '<saml:BaseID xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:x="urn:example:ids" xsi:type="x:CustomID"/>'],
    ['no identifier at all', ''],
  ])('rejects a Subject with %s instead of a NameID', async (_, identifier) => {
    const { connection, acs, valid } = await setUp();
    const response = await signedAfterEdit(valid(), inAssertion((a) => a.replace(/<saml:NameID\b[\s\S]*<\/saml:NameID>/, identifier)));
    expect(decoded(response)).not.toContain('NameID ');
    expect(refusal(await postAcs(acs, connection.id, response))).toEqual({ status: 400, code: 'invalid_request' });
  });

  it.each([
    ['holder-of-key', 'urn:oasis:names:tc:SAML:2.0:cm:holder-of-key'],
    ['sender-vouches', 'urn:oasis:names:tc:SAML:2.0:cm:sender-vouches'],
  ])('rejects a %s confirmation with this ACS as Recipient, there being no bearer one', async (_, method) => {
    const { connection, acs, valid } = await setUp();
    const response = await signedAfterEdit(valid(), inAssertion((a) => setAttribute(a, 'saml:SubjectConfirmation', 'Method', method)));
    expect(decoded(response)).not.toContain(':cm:bearer');
    expect(refusal(await postAcs(acs, connection.id, response))).toEqual({ status: 401, code: 'saml_recipient_mismatch' });
  });
});

describe('SAML ACS: issuers', () => {
  it.each([
    ['the Response', (xml: string) => xml.replace('<saml:Issuer>', `<saml:Issuer Format="${EMAIL}">`)],
    ['the assertion', inAssertion((a) => a.replace('<saml:Issuer>', `<saml:Issuer Format="${EMAIL}">`))],
  ])("rejects %s's Issuer with a Format other than entity", async (_, edit) => {
    const { connection, acs, valid } = await setUp();
    const response = await signedAfterEdit(valid(), edit);
    expect(decoded(response)).toContain(`Format="${EMAIL}">${connection.idpEntityId}<`);
    expect(refusal(await postAcs(acs, connection.id, response))).toEqual({ status: 401, code: 'saml_issuer_mismatch' });
  });

  it('accepts Issuers whose Format is entity', async () => {
    const { connection, acs, valid } = await setUp();
    const response = await signedAfterEdit(valid(), (xml) => xml.replaceAll('<saml:Issuer>', `<saml:Issuer Format="${ENTITY}">`));
    expect(decoded(response).match(/Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity"/g)).toHaveLength(2);
    expect((await postAcs(acs, connection.id, response)).statusCode).toBe(303);
  });

  it.each([
    ['the assertion', inAssertion((a) => a.replace(/<saml:Issuer>[^<]*<\/saml:Issuer>/, '<saml:Issuer></saml:Issuer>'))],
    ['the Response', (xml: string) => xml.replace(/<saml:Issuer>[^<]*<\/saml:Issuer>/, '<saml:Issuer/>')],
  ])('rejects an empty Issuer in %s', async (_, edit) => {
    const { connection, acs, valid } = await setUp();
    const response = await signedAfterEdit(valid(), edit);
    expect(decoded(response).match(new RegExp(`>${connection.idpEntityId}<`, 'g'))).toHaveLength(1);
    expect(refusal(await postAcs(acs, connection.id, response))).toEqual({ status: 401, code: 'saml_issuer_mismatch' });
  });
});

describe('SAML ACS: several bearer confirmations and the replay cache', () => {
  /** A second bearer confirmation for this ACS, before the issued one, expiring at `until`. */
  const secondConfirmation = (until: Date) =>
    inAssertion((a) => {
      const issued = /<saml:SubjectConfirmation [\s\S]*?<\/saml:SubjectConfirmation>/.exec(a)![0];
      return a.replace(issued, `${setAttribute(issued, 'saml:SubjectConfirmationData', 'NotOnOrAfter', until.toISOString())}${issued}`);
    });

  it('accepts an assertion whose first bearer confirmation has expired while a second one holds', async () => {
    const { connection, acs, valid } = await setUp({ maxIssueAgeSeconds: 3600 }, { now: seconds(1000) });
    const response = await signedAfterEdit(valid({ lifetimeSeconds: 1800 }), secondConfirmation(seconds(300)));
    expect(decoded(response).match(/<saml:SubjectConfirmation /g)).toHaveLength(2);
    expect((await postAcs(acs, connection.id, response)).statusCode).toBe(303);
  });

  it('refuses a replay at a time between the expiries of two bearer confirmations', async () => {
    const { connection, acs, valid } = await setUp({ maxIssueAgeSeconds: 3600 });
    const response = await signedAfterEdit(valid({ lifetimeSeconds: 1800 }), secondConfirmation(seconds(300)));
    expect((await postAcs(acs, connection.id, response)).statusCode).toBe(303);
    const again = await postAcs(await acsAt(seconds(1000)), connection.id, response);
    expect(refusal(again)).toEqual({ status: 401, code: 'saml_replay' });
  });

  // Conditions end with the earlier confirmation, so only the later confirmation keeps the id in the cache past them.
  it('keeps the assertion id in the replay cache until the latest accepted confirmation expires, plus the skew', async () => {
    const { runtime, connection, acs, valid } = await setUp();
    const response = await signedAfterEdit(valid(), (xml) =>
      inAssertion((a) => a.replace(/<\/saml:SubjectConfirmation>/, (end) => `${end}<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="${seconds(1800).toISOString()}" Recipient="${valid().recipient}"/></saml:SubjectConfirmation>`))(xml),
    );
    expect((await postAcs(acs, connection.id, response)).statusCode).toBe(303);
    const replay = (now: Date) =>
      runtime.store.consumeAssertion({ connectionId: connection.id, issuer: connection.idpEntityId, assertionId: assertionIdOf(decoded(response)), replayableUntil: now, inResponseTo: undefined, now });
    await expect(replay(seconds(1800 + 119))).rejects.toMatchObject({ code: 'saml_replay' });
    await expect(replay(seconds(1800 + 121))).resolves.toBeUndefined();
  });
});

describe('SAML ACS: what the verified assertion carries', () => {
  it('returns the NameID exactly as signed, surrounding whitespace included', async () => {
    const { runtime, connection, valid } = await setUp();
    const nameId = '  padded@example.test\n';
    const assertion = await verifySamlResponse(await issueSamlResponse(valid({ nameId })), await samlChecks(runtime, connection, at));
    expect(assertion.nameId).toBe(nameId);
  });
});
