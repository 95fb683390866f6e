import { decrypt } from 'xml-encryption';
import { AppError } from '../errors';
import { validateSamlSchema } from './schema-validator';
import { NS, allElements, attribute, childElements, onlyChild, parseUntrustedXml, text } from './xml';
import { indexIds, validateEnvelopedSignature, type IdIndex } from './xml-signature';

/** What a SAML response is checked against: the connection's trust settings and the current instant. */
export interface SamlChecks {
  readonly idpEntityId: string;
  /** PEM certificates (or their bare base64 bodies); a signature by any of them is accepted, whatever KeyInfo says. */
  readonly idpCertificates: readonly string[];
  readonly spEntityId: string;
  readonly acsUrl: string;
  readonly clockSkewSeconds: number;
  /** How old an IssueInstant may be, the skew added. @default DEFAULT_MAX_ISSUE_AGE_SECONDS */
  readonly maxIssueAgeSeconds?: number | undefined;
  /** RSA-SHA1 and SHA-1 digests are refused unless the connection opts in. */
  readonly allowSha1: boolean;
  /** The SP's PEM private keys for encrypted assertions, tried in turn (a rotation); none without encryption. */
  readonly decryptionKeys: readonly string[];
  readonly now: Date;
}

/** An assertion that passed every check, read only from what a valid signature covers. */
export interface VerifiedAssertion {
  readonly assertionId: string;
  readonly issuer: string;
  /** Exactly as signed (the NameID's text, not trimmed): judging its form is the provisioning core's. */
  readonly nameId: string;
  readonly nameIdFormat: string | undefined;
  readonly sessionIndex: string | undefined;
  /** The AuthnRequest this answers, or undefined for an IdP-initiated response. */
  readonly inResponseTo: string | undefined;
  /** Values by attribute Name, and by FriendlyName where the IdP gives one. */
  readonly attributes: Readonly<Record<string, readonly string[]>>;
  /**
   * Until when this assertion could be replayed: the latest NotOnOrAfter of its Conditions and of
   * its unexpired bearer confirmations for this ACS, plus the skew. The replay cache keeps its id that long.
   */
  readonly replayableUntil: Date;
}

/** How old a Response's or Assertion's IssueInstant may be when a connection does not say (the skew is added). */
export const DEFAULT_MAX_ISSUE_AGE_SECONDS = 300;

const SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';
const STATUS = 'urn:oasis:names:tc:SAML:2.0:status:';
const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';
const ENTITY_FORMAT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:entity';

const SIGNATURE_ALGORITHMS = new Set([
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512',
  'http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1',
]);
const DIGEST_ALGORITHMS = new Set(['http://www.w3.org/2001/04/xmlenc#sha256', 'http://www.w3.org/2001/04/xmlenc#sha512']);
const SHA1_SIGNATURE = 'http://www.w3.org/2000/09/xmldsig#rsa-sha1';
const SHA1_DIGEST = 'http://www.w3.org/2000/09/xmldsig#sha1';
const ENVELOPED_SIGNATURE = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';
const TRANSFORMS = new Set([
  ENVELOPED_SIGNATURE,
  'http://www.w3.org/2001/10/xml-exc-c14n#',
  'http://www.w3.org/TR/2001/REC-xml-c14n-20010315',
]);
const DATA_ENCRYPTION = new Set([
  'http://www.w3.org/2001/04/xmlenc#aes128-cbc',
  'http://www.w3.org/2001/04/xmlenc#aes256-cbc',
  'http://www.w3.org/2009/xmlenc11#aes128-gcm',
  'http://www.w3.org/2009/xmlenc11#aes256-gcm',
]);
const KEY_TRANSPORT = new Set(['http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p', 'http://www.w3.org/2009/xmlenc11#rsa-oaep']);

/**
 * Verifies a base64 SAMLResponse completely, as the Web Browser SSO profile requires: schema,
 * status, issuers (value and Format), destination, exactly one assertion, every `ds:Signature` of
 * the document (and of the decrypted assertion) by one of the connection's certificates with an
 * allowed algorithm, over its own parent, and at least one of them over the response or the
 * assertion; decryption with one of the SP keys; every SAML time in UTC; both IssueInstants within the
 * skew and the maximum age; the assertion's Conditions (required, with NotOnOrAfter), audience
 * and bearer subject confirmations (recipient, expiry, no NotBefore, InResponseTo).
 * InResponseTo consumption and the replay cache need storage and are the caller's.
 *
 * @throws AppError `invalid_request`, `saml_status_not_success`, `saml_issuer_mismatch`,
 *   `saml_recipient_mismatch`, `saml_invalid_signature`, `saml_expired`, `saml_not_yet_valid`,
 *   `saml_audience_mismatch`, `saml_in_response_to_mismatch`.
 */
export async function verifySamlResponse(samlResponse: string, checks: SamlChecks): Promise<VerifiedAssertion> {
  const { xml, bytes } = decodeSamlResponse(samlResponse);
  const doc = parseUntrustedXml(xml);
  const root = doc.documentElement!;
  if (root.namespaceURI !== NS.protocol || root.localName !== 'Response') {
    throw new AppError('invalid_request', 'the SAMLResponse is not a samlp:Response');
  }
  validateSamlSchema(bytes);
  const elements = allElements(root);
  checkInstants(elements);
  checkStatus(root);
  checkIssuer(onlyChild(root, NS.assertion, 'Issuer'), checks, false);

  // Wrapping attacks hide a second assertion where a careless reader finds it; one is all there may be.
  const assertionCount = elements.filter(
    (e) => e.namespaceURI === NS.assertion && (e.localName === 'Assertion' || e.localName === 'EncryptedAssertion'),
  ).length;
  if (assertionCount === 0) throw new AppError('invalid_request', 'the response carries no assertion');
  if (assertionCount > 1) throw new AppError('saml_invalid_signature', 'the response must carry exactly one assertion');

  const signed = verifyEverySignature(elements, checks);
  const signedResponse = signed.has(root);
  const carried = theAssertion(root);
  let assertion: Element;
  // The elements of the document the assertion is read from: the response's, or the decrypted assertion's.
  let assertionElements = elements;
  if (carried.localName === 'EncryptedAssertion') {
    const plainDoc = await decryptAssertion(carried, checks);
    assertionElements = allElements(plainDoc.documentElement!);
    const signedPlain = verifyEverySignature(assertionElements, checks).has(plainDoc.documentElement!);
    // The Response signature covers the ciphertext; without it, anyone could encrypt to the SP's public key.
    if (!signedResponse && !signedPlain) throw new AppError('saml_invalid_signature', 'neither the response nor the assertion is signed');
    assertion = plainDoc.documentElement!;
  } else {
    const signedAssertion = signed.has(carried);
    if (!signedResponse && !signedAssertion) throw new AppError('saml_invalid_signature', 'neither the response nor the assertion is signed');
    assertion = carried;
  }

  const destination = attribute(root, 'Destination');
  // The bindings require a signed Response to name where it is sent, so it cannot be posted elsewhere.
  if (signedResponse && destination === undefined) {
    throw new AppError('saml_recipient_mismatch', 'the signed response names no Destination');
  }
  if (destination !== undefined && destination !== checks.acsUrl) {
    throw new AppError('saml_recipient_mismatch', `the response is addressed to ${destination}, not to this ACS URL`);
  }
  // What is read from here on is the element a verified signature's Reference resolved to (the
  // only one carrying its ID, digested in this very DOM), or a child of it: only signed XML is read.
  // It is the one Assertion of its document, so no other hides inside it.
  if (
    assertion.namespaceURI !== NS.assertion ||
    assertion.localName !== 'Assertion' ||
    assertionElements.some((e) => e !== assertion && e.namespaceURI === NS.assertion && e.localName === 'Assertion')
  ) {
    throw new AppError('saml_invalid_signature', 'the signature does not cover the assertion');
  }
  return readAssertion(
    assertion,
    {
      // An unsigned Response's InResponseTo is anyone's to write: it may not make an IdP-initiated assertion look solicited.
      inResponseTo: signedResponse ? attribute(root, 'InResponseTo') : undefined,
      issueInstant: samlInstant(attribute(root, 'IssueInstant') ?? '', 'the Response IssueInstant'),
      // A plain assertion's times were checked with the whole document's, before anything else.
      assertionInstantsChecked: assertion.ownerDocument === doc,
    },
    checks,
  );
}

/** The response's octets and their UTF-8 text; both parsers read these same octets. */
function decodeSamlResponse(samlResponse: string): { xml: string; bytes: Buffer } {
  const compact = samlResponse.replace(/\s+/g, '');
  // Node's decoder skips what is not base64 (and reads base64url): only text that encodes back to
  // itself is the canonical, padded base64 of its octets.
  const bytes = Buffer.from(compact, 'base64');
  if (compact.length === 0 || bytes.toString('base64') !== compact) throw new AppError('invalid_request', 'SAMLResponse is not base64');
  const xml = bytes.toString('utf8');
  if (!xml.trimStart().startsWith('<')) throw new AppError('invalid_request', 'SAMLResponse does not decode to XML');
  return { xml, bytes };
}

function checkStatus(response: Element): void {
  const status = onlyChild(response, NS.protocol, 'Status');
  const code = status && onlyChild(status, NS.protocol, 'StatusCode');
  const value = attribute(code, 'Value');
  if (value === SUCCESS) return;
  const subCode = code && attribute(onlyChild(code, NS.protocol, 'StatusCode'), 'Value');
  const message = status && text(onlyChild(status, NS.protocol, 'StatusMessage'));
  const said = [value, subCode].filter(Boolean).map((v) => v!.split(':').pop()).join('/');
  // Second-level AuthnFailed or RequestDenied is how IdPs answer a person who cancelled at their login page.
  const cancelled = subCode === `${STATUS}AuthnFailed` || subCode === `${STATUS}RequestDenied`;
  throw new AppError('saml_status_not_success', `the identity provider answered ${said || 'without a status'}${message ? `: ${message}` : ''}`, cancelled ? { reason: 'cancelled' } : {});
}

function checkIssuer(issuer: Element | undefined, checks: SamlChecks, required: boolean): void {
  if (!issuer) {
    if (required) throw new AppError('saml_issuer_mismatch', 'the assertion names no issuer');
    return;
  }
  const format = attribute(issuer, 'Format');
  // The profile allows an issuer only as an entity id: another Format names something else by the same string.
  if (format !== undefined && format !== ENTITY_FORMAT) {
    throw new AppError('saml_issuer_mismatch', `the issuer's Format is ${format}, not ${ENTITY_FORMAT}`);
  }
  const value = text(issuer);
  if (value !== checks.idpEntityId) {
    throw new AppError('saml_issuer_mismatch', `the issuer is ${value ?? 'empty'}, not this connection's identity provider`);
  }
}

function theAssertion(response: Element): Element {
  const [assertion] = [
    ...childElements(response, NS.assertion, 'Assertion'),
    ...childElements(response, NS.assertion, 'EncryptedAssertion'),
  ];
  if (!assertion) throw new AppError('saml_invalid_signature', 'the assertion is not where the signature covers it');
  return assertion;
}

/**
 * Verifies every `ds:Signature` of a document, wherever it sits: each must be an enveloped
 * signature over its own parent by one of the connection's certificates. One that fails refuses
 * the whole message, even when another signature covers it, since a reader of the document could
 * otherwise trust what that one claims. Returns the elements whose signature verified: each is the
 * only element of the document with its ID, and its canonical form in this DOM is what was digested.
 */
function verifyEverySignature(elements: readonly Element[], checks: SamlChecks): Set<Element> {
  const signed = new Set<Element>();
  const signatures = elements.filter((e) => e.namespaceURI === NS.dsig && e.localName === 'Signature');
  if (signatures.length === 0) return signed;
  const ids = indexIds(elements);
  for (const signature of signatures) {
    const parent = signature.parentNode;
    const carrier = parent && parent.nodeType === parent.ELEMENT_NODE ? (parent as Element) : undefined;
    if (!carrier) throw new AppError('saml_invalid_signature', 'a signature is not inside the element it signs');
    verifySignature(signature, carrier, ids, checks);
    signed.add(carrier);
  }
  return signed;
}

/** Checks one enveloped signature over `carrier`, the element that holds it. */
function verifySignature(signature: Element, carrier: Element, ids: IdIndex, checks: SamlChecks): void {
  const expectedId = attribute(carrier, 'ID');
  const signedInfo = onlyChild(signature, NS.dsig, 'SignedInfo');
  const references = signedInfo ? childElements(signedInfo, NS.dsig, 'Reference') : [];
  if (!signedInfo || references.length !== 1) {
    throw new AppError('saml_invalid_signature', 'the signature must have exactly one reference');
  }
  const reference = references[0]!;
  if (!expectedId || attribute(reference, 'URI') !== `#${expectedId}`) {
    throw new AppError('saml_invalid_signature', 'the signature does not reference the element that carries it');
  }
  const signatureMethod = attribute(onlyChild(signedInfo, NS.dsig, 'SignatureMethod'), 'Algorithm') ?? '';
  const digestMethod = attribute(onlyChild(reference, NS.dsig, 'DigestMethod'), 'Algorithm') ?? '';
  const allowedSignature = SIGNATURE_ALGORITHMS.has(signatureMethod) || (checks.allowSha1 && signatureMethod === SHA1_SIGNATURE);
  const allowedDigest = DIGEST_ALGORITHMS.has(digestMethod) || (checks.allowSha1 && digestMethod === SHA1_DIGEST);
  if (!allowedSignature || !allowedDigest) {
    throw new AppError(
      'saml_invalid_signature',
      `the algorithm ${allowedSignature ? digestMethod : signatureMethod} is not allowed for this connection` +
        (signatureMethod === SHA1_SIGNATURE || digestMethod === SHA1_DIGEST ? ' (SHA-1 needs allowSha1)' : ''),
    );
  }
  const transforms = onlyChild(reference, NS.dsig, 'Transforms');
  const algorithms = (transforms ? childElements(transforms, NS.dsig, 'Transform') : []).map((transform) => attribute(transform, 'Algorithm') ?? '');
  for (const algorithm of algorithms) {
    if (!TRANSFORMS.has(algorithm)) {
      throw new AppError('saml_invalid_signature', `the signature uses the transform ${algorithm || 'without an algorithm'}, which SAML does not need`);
    }
  }
  // A canonicalization before another transform would hand it octets to parse again, a second
  // reading of the signed bytes that no IdP needs: they all send enveloped-signature, then c14n.
  if (algorithms.slice(0, -1).some((algorithm) => algorithm !== ENVELOPED_SIGNATURE)) {
    throw new AppError('saml_invalid_signature', 'the signature applies a canonicalization before its last transform; SAML signatures apply enveloped-signature, then one canonicalization');
  }

  try {
    // KeyInfo is ignored: only the certificates configured for the connection are trusted.
    validateEnvelopedSignature(signature, carrier, expectedId, ids, checks.idpCertificates);
  } catch (error) {
    throw new AppError('saml_invalid_signature', "the signature does not verify with any of the connection's certificates", { cause: error });
  }
}

const UNREADABLE = "the encrypted assertion could not be decrypted and read with this connection's SP key";

async function decryptAssertion(encryptedAssertion: Element, checks: SamlChecks): Promise<Document> {
  if (checks.decryptionKeys.length === 0) {
    throw new AppError('invalid_request', 'the assertion is encrypted, but this connection has no SP decryption key');
  }
  // xml-encryption finds its elements by local name in any namespace, so the checks below must too.
  const named = (localName: string) => Array.from(encryptedAssertion.getElementsByTagNameNS('*', localName));
  const data = named('EncryptedData');
  const keys = named('EncryptedKey');
  const methods = named('EncryptionMethod');
  const inXenc = [...data, ...keys, ...methods].every((e) => e.namespaceURI === NS.xenc);
  const ownMethods = (element: Element | undefined) => methods.filter((m) => element !== undefined && m.parentNode === element);
  const [dataMethods, keyMethods] = [ownMethods(data[0]), ownMethods(keys[0])];
  if (data.length !== 1 || keys.length !== 1 || !inXenc || dataMethods.length !== 1 || keyMethods.length !== 1 || methods.length !== 2) {
    throw new AppError(
      'invalid_request',
      'the assertion is encrypted in a form this service does not accept: it takes one xenc:EncryptedData and one xenc:EncryptedKey, each with one xenc:EncryptionMethod',
    );
  }
  // Checked before any decryption: RSA-1.5 and CBC without the right checks are padding oracles.
  for (const [method, accepted, what] of [
    [dataMethods[0]!, DATA_ENCRYPTION, 'the assertion'],
    [keyMethods[0]!, KEY_TRANSPORT, 'its key'],
  ] as const) {
    const algorithm = attribute(method, 'Algorithm') ?? '';
    if (!accepted.has(algorithm)) {
      throw new AppError(
        'invalid_request',
        `${what} is encrypted with ${algorithm || 'no algorithm'}, which this service does not accept (it accepts ${[...accepted].join(', ')})`,
      );
    }
  }
  try {
    const plain = await decryptWithAny(encryptedAssertion.toString(), checks.decryptionKeys);
    const plainDoc = parseUntrustedXml(plain);
    validateSamlSchema(plain);
    return plainDoc;
  } catch (error) {
    // One answer, with one detail, for every failure from decryption to the plaintext's schema, so
    // that nothing about a forged ciphertext can be learned from the refusal (padding oracles).
    throw new AppError('invalid_request', UNREADABLE, { cause: error });
  }
}

/** The plaintext under the first key that decrypts it; the last key's failure otherwise. */
async function decryptWithAny(xml: string, keys: readonly string[]): Promise<string> {
  let failure: unknown;
  for (const key of keys) {
    try {
      return await new Promise<string>((resolve, reject) => {
        // CBC is what ADFS and Okta send; the allowlist above keeps RSA-1.5 and 3DES out.
        decrypt(xml, { key, disallowDecryptionWithInsecureAlgorithm: false, warnInsecureAlgorithm: false }, (error, result) =>
          error || result === undefined ? reject(error) : resolve(result),
        );
      });
    } catch (error) {
      failure = error;
    }
  }
  throw failure;
}

// xs:dateTime in UTC, as SAML core 1.3.3 requires; an offset or no zone is refused, never read as local time.
const UTC_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?Z$/;
const TIME_ATTRIBUTES = ['IssueInstant', 'NotBefore', 'NotOnOrAfter', 'AuthnInstant', 'SessionNotOnOrAfter'] as const;
const TIME_ATTRIBUTE_NAMES: ReadonlySet<string> = new Set(TIME_ATTRIBUTES);

/**
 * The one parser of SAML times: `YYYY-MM-DDThh:mm:ss(.s+)?Z`, a real calendar instant (hour 24 and
 * leap seconds are refused), fractions beyond milliseconds truncated.
 */
function samlInstant(value: string, what: string): Date {
  const match = UTC_DATE_TIME.exec(value);
  if (match) {
    const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
    const parsed = new Date(Date.UTC(year, month - 1, day, hour, minute, second, Number((match[7] ?? '').padEnd(3, '0').slice(0, 3))));
    if (
      parsed.getUTCFullYear() === year &&
      parsed.getUTCMonth() === month - 1 &&
      parsed.getUTCDate() === day &&
      parsed.getUTCHours() === hour &&
      parsed.getUTCMinutes() === minute &&
      parsed.getUTCSeconds() === second
    ) {
      return parsed;
    }
  }
  throw new AppError('invalid_request', `${what} is ${JSON.stringify(value)}, not a UTC xs:dateTime such as 2024-01-01T00:00:00Z`);
}

function optionalInstant(element: Element | undefined, name: (typeof TIME_ATTRIBUTES)[number], what: string): Date | undefined {
  const value = attribute(element, name);
  return value === undefined ? undefined : samlInstant(value, what);
}

/** Every SAML time attribute of these elements, read or not, must be a UTC instant. */
function checkInstants(elements: readonly Element[]): void {
  for (const element of elements) {
    if (element.namespaceURI !== NS.protocol && element.namespaceURI !== NS.assertion) continue;
    // One pass over each element's attributes, where asking for each name would scan them five times.
    const attributes = element.attributes;
    for (let i = 0; i < attributes.length; i++) {
      const { nodeName, value } = attributes.item(i)!;
      if (TIME_ATTRIBUTE_NAMES.has(nodeName)) samlInstant(value, `${element.localName} ${nodeName}`);
    }
  }
}

/**
 * Reads a signed assertion, in two passes so that a message the profile forbids is refused as such
 * whatever the clock says: first its form (issuer, Conditions with NotOnOrAfter, NameID, bearer
 * confirmations), then the instants, audience and InResponseTo.
 */
function readAssertion(
  assertion: Element,
  response: { readonly inResponseTo: string | undefined; readonly issueInstant: Date; readonly assertionInstantsChecked: boolean },
  checks: SamlChecks,
): VerifiedAssertion {
  const now = checks.now.getTime();
  const skew = checks.clockSkewSeconds * 1000;
  checkIssuer(onlyChild(assertion, NS.assertion, 'Issuer'), checks, true);
  if (!response.assertionInstantsChecked) checkInstants(allElements(assertion));

  const conditions = onlyChild(assertion, NS.assertion, 'Conditions');
  const notBefore = optionalInstant(conditions, 'NotBefore', 'Conditions NotBefore');
  const notOnOrAfter = optionalInstant(conditions, 'NotOnOrAfter', 'Conditions NotOnOrAfter');
  // Without an end, nothing but the replay cache would bound the assertion, and the cache could never let it go.
  if (!conditions || !notOnOrAfter) throw new AppError('invalid_request', 'the assertion has no Conditions with a NotOnOrAfter');

  const subject = onlyChild(assertion, NS.assertion, 'Subject');
  const nameIdElement = subject && onlyChild(subject, NS.assertion, 'NameID');
  // Exactly as signed: judging the subject's form is the provisioning core's.
  const nameId = nameIdElement?.textContent ?? '';
  if (!subject || !nameIdElement || nameId === '') throw new AppError('invalid_request', 'the assertion has no Subject NameID');
  const assertionIssued = samlInstant(attribute(assertion, 'IssueInstant') ?? '', 'Assertion IssueInstant');
  const confirmations = bearerConfirmations(subject, assertionIssued, checks);

  const issueAgeLimit = (checks.maxIssueAgeSeconds ?? DEFAULT_MAX_ISSUE_AGE_SECONDS) * 1000;
  for (const [issued, what] of [
    [response.issueInstant, 'response'],
    [assertionIssued, 'assertion'],
  ] as const) {
    if (now + skew < issued.getTime()) throw new AppError('saml_not_yet_valid', `the ${what} is issued at ${issued.toISOString()}, in the future`);
    if (now - skew >= issued.getTime() + issueAgeLimit) {
      throw new AppError('saml_expired', `the ${what} was issued at ${issued.toISOString()}, longer ago than this connection accepts`);
    }
  }
  if (notBefore && now + skew < notBefore.getTime()) {
    throw new AppError('saml_not_yet_valid', `the assertion is valid from ${notBefore.toISOString()}`);
  }
  if (now - skew >= notOnOrAfter.getTime()) {
    throw new AppError('saml_expired', `the assertion expired at ${notOnOrAfter.toISOString()}`);
  }
  const accepted = confirmations.filter((c) => now - skew < c.notOnOrAfter.getTime());
  if (accepted.length === 0) {
    const latest = Math.max(...confirmations.map((c) => c.notOnOrAfter.getTime()));
    throw new AppError('saml_expired', `the subject confirmation expired at ${new Date(latest).toISOString()}`);
  }

  const restrictions = childElements(conditions, NS.assertion, 'AudienceRestriction');
  if (restrictions.length === 0) throw new AppError('saml_audience_mismatch', 'the assertion names no audience');
  for (const restriction of restrictions) {
    const audiences = childElements(restriction, NS.assertion, 'Audience').map((a) => text(a));
    if (!audiences.includes(checks.spEntityId)) {
      throw new AppError('saml_audience_mismatch', `the assertion is for ${audiences.join(', ')}, not for ${checks.spEntityId}`);
    }
  }

  const answered = new Set(accepted.map((c) => attribute(c.data, 'InResponseTo')).filter((v): v is string => v !== undefined));
  if (response.inResponseTo !== undefined && answered.size > 0) answered.add(response.inResponseTo);
  if (answered.size > 1) throw new AppError('saml_in_response_to_mismatch', 'the response and its assertion answer different requests');

  const authnStatement = childElements(assertion, NS.assertion, 'AuthnStatement')[0];
  // The id must be remembered as long as any accepted confirmation, or the Conditions, could let it in again.
  const horizon = Math.max(notOnOrAfter.getTime(), ...accepted.map((c) => c.notOnOrAfter.getTime()));
  return {
    assertionId: attribute(assertion, 'ID') ?? '',
    issuer: checks.idpEntityId,
    nameId,
    nameIdFormat: attribute(nameIdElement, 'Format'),
    sessionIndex: attribute(authnStatement, 'SessionIndex'),
    inResponseTo: [...answered][0] ?? response.inResponseTo,
    attributes: readAttributes(assertion),
    replayableUntil: new Date(horizon + skew),
  };
}

/**
 * The bearer confirmations addressed to this ACS, each with its NotOnOrAfter. Holder-of-key and
 * sender-vouches confirmations do not count: this SP checks no key and trusts no presenter.
 */
function bearerConfirmations(subject: Element, assertionIssued: Date, checks: SamlChecks): { data: Element; notOnOrAfter: Date }[] {
  const bearers = childElements(subject, NS.assertion, 'SubjectConfirmation')
    .filter((c) => attribute(c, 'Method') === BEARER)
    .map((c) => onlyChild(c, NS.assertion, 'SubjectConfirmationData'))
    .filter((d): d is Element => d !== undefined);
  // SAML profiles 4.1.4.2: a bearer confirmation bounds only when the assertion may be delivered,
  // never from when. One relaxation, for OpenSAML-based IdPs (SecureWorks in the interop corpus):
  // a NotBefore no later than the assertion's IssueInstant restricts nothing, and is let pass.
  const restricting = bearers.find((d) => {
    const notBefore = optionalInstant(d, 'NotBefore', 'SubjectConfirmationData NotBefore');
    return notBefore !== undefined && notBefore.getTime() > assertionIssued.getTime();
  });
  if (restricting) {
    throw new AppError('invalid_request', 'a bearer subject confirmation carries a NotBefore later than the assertion was issued, which the SSO profile forbids');
  }
  const forUs = bearers.filter((d) => attribute(d, 'Recipient') === checks.acsUrl);
  if (forUs.length === 0) {
    const recipients = bearers.map((d) => attribute(d, 'Recipient')).filter(Boolean);
    throw new AppError(
      'saml_recipient_mismatch',
      recipients.length ? `the assertion is for ${recipients.join(', ')}, not for this ACS URL` : 'the assertion has no bearer confirmation with a Recipient',
    );
  }
  return forUs.map((data) => {
    const notOnOrAfter = optionalInstant(data, 'NotOnOrAfter', 'SubjectConfirmationData NotOnOrAfter');
    // The bearer profile requires this bound; without it the replay cache could never let the id go.
    if (!notOnOrAfter) throw new AppError('invalid_request', 'the bearer subject confirmation has no NotOnOrAfter');
    return { data, notOnOrAfter };
  });
}

function readAttributes(assertion: Element): Record<string, string[]> {
  // No prototype: an IdP attribute named "constructor" or "__proto__" is just a name.
  const attributes: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const statement of childElements(assertion, NS.assertion, 'AttributeStatement')) {
    for (const element of childElements(statement, NS.assertion, 'Attribute')) {
      const values = childElements(element, NS.assertion, 'AttributeValue')
        // As signed, untrimmed: an email or subject attribute with stray whitespace is refused, not repaired.
        .map((v) => v.textContent ?? '')
        .filter((v) => v.trim() !== '');
      for (const name of new Set([attribute(element, 'Name'), attribute(element, 'FriendlyName')])) {
        if (name) attributes[name] = [...(attributes[name] ?? []), ...values];
      }
    }
  }
  return attributes;
}
