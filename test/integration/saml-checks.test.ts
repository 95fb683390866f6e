import { randomUUID } from 'node:crypto';
import { SignedXml } from 'xml-crypto';
import { encrypt } from 'xml-encryption';
import type { SamlConnection } from '../../functions/core/model';
import { DEFAULT_ATTRIBUTE_MAPPING } from '../../functions/core/provisioning';
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

const assertionIdOf = (xml: string) => /<saml:Assertion [^>]*\bID="([^"]+)"/.exec(xml)![1]!;
const responseIdOf = (xml: string) => /<samlp:Response [^>]*\bID="([^"]+)"/.exec(xml)![1]!;
const assertionOf = (xml: string) => /<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(xml)![0];

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
  { referencedId, carrierId, signatureAlgorithm = RSA_SHA256, digestAlgorithm = SHA256 }: {
    referencedId: string;
    carrierId: string;
    signatureAlgorithm?: string;
    digestAlgorithm?: string;
  },
): string {
  const signer = new SignedXml({ privateKey: idpKey, publicCert: idpCert, signatureAlgorithm, canonicalizationAlgorithm: EXC_C14N });
  signer.addReference({ xpath: `//*[@ID='${referencedId}']`, transforms: [ENVELOPED, EXC_C14N], digestAlgorithm });
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
});

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
    const notXml = await new Promise<string>((resolve, reject) =>
      encrypt('this is not an assertion', { rsa_pub: spEncryptionCert, pem: spEncryptionCert, encryptionAlgorithm: 'http://www.w3.org/2009/xmlenc11#aes256-gcm', keyEncryptionAlgorithm: 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p' }, (error, result) =>
        error || !result ? reject(error) : resolve(result),
      ),
    );
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

  it('rejects an assertion whose NotBefore is further in the future than the skew', async () => {
    const { connection, acs, valid } = await setUp();
    // NotBefore = at + 121 s.
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid({ issueInstant: seconds(181) })));
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_not_yet_valid' });
  });

  it('accepts an assertion whose NotBefore is in the future by no more than the skew', async () => {
    const { connection, acs, valid } = await setUp();
    // NotBefore = at + 120 s.
    const result = await postAcs(acs, connection.id, await issueSamlResponse(valid({ issueInstant: seconds(180) })));
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
