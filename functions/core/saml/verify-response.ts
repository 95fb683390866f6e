import type { Element } from '@xmldom/xmldom';
import { SignedXml } from 'xml-crypto';
import { decrypt } from 'xml-encryption';
import { AppError } from '../errors';
import { validateSamlSchema } from './schema-validator';
import { NS, attribute, certificatePem, childElements, descendants, onlyChild, parseUntrustedXml, text } from './xml';

/** What a SAML response is checked against: the connection's trust settings and the current instant. */
export interface SamlChecks {
  readonly idpEntityId: string;
  /** PEM certificates (or their bare base64 bodies); a signature by any of them is accepted, whatever KeyInfo says. */
  readonly idpCertificates: readonly string[];
  readonly spEntityId: string;
  readonly acsUrl: string;
  readonly clockSkewSeconds: number;
  /** RSA-SHA1 and SHA-1 digests are refused unless the connection opts in. */
  readonly allowSha1: boolean;
  /** The SP's PEM private key for encrypted assertions. */
  readonly decryptionKey?: string;
  readonly now: Date;
}

/** An assertion that passed every check, read only from what a valid signature covers. */
export interface VerifiedAssertion {
  readonly assertionId: string;
  readonly issuer: string;
  readonly nameId: string;
  readonly nameIdFormat: string | undefined;
  readonly sessionIndex: string | undefined;
  /** The AuthnRequest this answers, or undefined for an IdP-initiated response. */
  readonly inResponseTo: string | undefined;
  /** Values by attribute Name, and by FriendlyName where the IdP gives one. */
  readonly attributes: Readonly<Record<string, readonly string[]>>;
  /** Until when this assertion could be replayed: the replay cache keeps its id at least that long. */
  readonly replayableUntil: Date;
}

const SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';
const STATUS = 'urn:oasis:names:tc:SAML:2.0:status:';
const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';

const SIGNATURE_ALGORITHMS = new Set([
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512',
  'http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1',
]);
const DIGEST_ALGORITHMS = new Set(['http://www.w3.org/2001/04/xmlenc#sha256', 'http://www.w3.org/2001/04/xmlenc#sha512']);
const SHA1_SIGNATURE = 'http://www.w3.org/2000/09/xmldsig#rsa-sha1';
const SHA1_DIGEST = 'http://www.w3.org/2000/09/xmldsig#sha1';
const TRANSFORMS = new Set([
  'http://www.w3.org/2000/09/xmldsig#enveloped-signature',
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
 * Verifies a base64 SAMLResponse completely: schema, status, issuer, destination, exactly one
 * assertion, a signature by one of the connection's certificates over the response or the
 * assertion with an allowed algorithm, decryption with the SP key, and the assertion's issuer,
 * time window, audience and bearer subject confirmation (recipient, expiry, InResponseTo).
 * InResponseTo consumption and the replay cache need storage and are the caller's.
 *
 * @throws AppError `invalid_request`, `saml_status_not_success`, `saml_issuer_mismatch`,
 *   `saml_recipient_mismatch`, `saml_invalid_signature`, `saml_expired`, `saml_not_yet_valid`,
 *   `saml_audience_mismatch`, `saml_in_response_to_mismatch`.
 */
export async function verifySamlResponse(samlResponse: string, checks: SamlChecks): Promise<VerifiedAssertion> {
  const xml = decodeSamlResponse(samlResponse);
  const doc = parseUntrustedXml(xml);
  const root = doc.documentElement!;
  if (root.namespaceURI !== NS.protocol || root.localName !== 'Response') {
    throw new AppError('invalid_request', 'the SAMLResponse is not a samlp:Response');
  }
  validateSamlSchema(xml);
  checkStatus(root);
  checkIssuer(onlyChild(root, NS.assertion, 'Issuer'), checks, false);

  // Wrapping attacks hide a second assertion where a careless reader finds it; one is all there may be.
  const assertionCount =
    descendants(doc, NS.assertion, 'Assertion').length + descendants(doc, NS.assertion, 'EncryptedAssertion').length;
  if (assertionCount === 0) throw new AppError('invalid_request', 'the response carries no assertion');
  if (assertionCount > 1) throw new AppError('saml_invalid_signature', 'the response must carry exactly one assertion');

  const responseSignature = onlyChild(root, NS.dsig, 'Signature');
  let response = root;
  let assertionXml: string;
  if (responseSignature) {
    const signedResponse = parseUntrustedXml(verifySignature(xml, responseSignature, attribute(root, 'ID'), checks));
    response = signedResponse.documentElement!;
    const assertion = theAssertion(response);
    assertionXml = assertion.localName === 'EncryptedAssertion' ? await decryptAssertion(assertion, checks) : assertion.toString();
  } else {
    const assertion = theAssertion(root);
    const plainXml = assertion.localName === 'EncryptedAssertion' ? await decryptAssertion(assertion, checks) : xml;
    const plain = assertion.localName === 'EncryptedAssertion' ? parseUntrustedXml(plainXml).documentElement! : assertion;
    const signature = onlyChild(plain, NS.dsig, 'Signature');
    if (!signature) throw new AppError('saml_invalid_signature', 'neither the response nor the assertion is signed');
    assertionXml = verifySignature(plainXml, signature, attribute(plain, 'ID'), checks);
  }

  const destination = attribute(response, 'Destination');
  // The bindings require a signed Response to name where it is sent, so it cannot be posted elsewhere.
  if (responseSignature && destination === undefined) {
    throw new AppError('saml_recipient_mismatch', 'the signed response names no Destination');
  }
  if (destination !== undefined && destination !== checks.acsUrl) {
    throw new AppError('saml_recipient_mismatch', `the response is addressed to ${destination}, not to this ACS URL`);
  }
  const assertionDoc = parseUntrustedXml(assertionXml);
  const assertion = assertionDoc.documentElement!;
  if (
    assertion.namespaceURI !== NS.assertion ||
    assertion.localName !== 'Assertion' ||
    descendants(assertionDoc, NS.assertion, 'Assertion').length !== 1
  ) {
    throw new AppError('saml_invalid_signature', 'the signature does not cover the assertion');
  }
  // An unsigned Response's InResponseTo is anyone's to write: it may not make an IdP-initiated assertion look solicited.
  return readAssertion(assertion, responseSignature ? attribute(response, 'InResponseTo') : undefined, checks);
}

function decodeSamlResponse(samlResponse: string): string {
  const compact = samlResponse.replace(/\s+/g, '');
  if (compact.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.length % 4 !== 0) {
    throw new AppError('invalid_request', 'SAMLResponse is not base64');
  }
  const xml = Buffer.from(compact, 'base64').toString('utf8');
  if (!xml.trimStart().startsWith('<')) throw new AppError('invalid_request', 'SAMLResponse does not decode to XML');
  return xml;
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
  const value = text(issuer);
  if (value === undefined) {
    if (required) throw new AppError('saml_issuer_mismatch', 'the assertion names no issuer');
    return;
  }
  if (value !== checks.idpEntityId) {
    throw new AppError('saml_issuer_mismatch', `the issuer is ${value}, not this connection's identity provider`);
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
 * Checks one enveloped signature and returns the canonical XML it covers: the caller reads only
 * that, never the original document, so nothing unsigned can be slipped in beside it.
 */
function verifySignature(xml: string, signature: Element, expectedId: string | undefined, checks: SamlChecks): string {
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
  for (const transform of transforms ? childElements(transforms, NS.dsig, 'Transform') : []) {
    if (!TRANSFORMS.has(attribute(transform, 'Algorithm') ?? '')) {
      throw new AppError('saml_invalid_signature', 'the signature uses a transform SAML does not need');
    }
  }

  for (const certificate of checks.idpCertificates) {
    // KeyInfo is ignored: only the certificates configured for the connection are trusted.
    const verifier = new SignedXml({ publicCert: certificatePem(certificate), getCertFromKeyInfo: () => null });
    try {
      verifier.loadSignature(signature as unknown as Parameters<SignedXml['loadSignature']>[0]);
      if (verifier.checkSignature(xml)) {
        const [signed] = verifier.getSignedReferences();
        if (signed) return signed;
      }
    } catch {
      // A malformed or mismatched signature is tried against the next certificate, then refused below.
    }
  }
  throw new AppError('saml_invalid_signature', "the signature does not verify with any of the connection's certificates");
}

const UNREADABLE = "the encrypted assertion could not be decrypted and read with this connection's SP key";

async function decryptAssertion(encryptedAssertion: Element, checks: SamlChecks): Promise<string> {
  if (!checks.decryptionKey) {
    throw new AppError('invalid_request', 'the assertion is encrypted, but this connection has no SP decryption key');
  }
  // xml-encryption finds its elements by local name in any namespace, so the allowlist must too.
  const named = (localName: string) => Array.from(encryptedAssertion.getElementsByTagNameNS('*', localName));
  const data = named('EncryptedData');
  const keys = named('EncryptedKey');
  const methods = named('EncryptionMethod');
  const inXenc = (elements: Element[]) => elements.every((e) => e.namespaceURI === NS.xenc);
  const allowed = methods.every((m) => {
    const algorithm = attribute(m, 'Algorithm') ?? '';
    return m.parentNode === data[0] ? DATA_ENCRYPTION.has(algorithm) : KEY_TRANSPORT.has(algorithm);
  });
  if (data.length !== 1 || keys.length !== 1 || !inXenc([...data, ...keys, ...methods]) || !allowed) {
    throw new AppError('invalid_request', 'the assertion is encrypted in a form or with an algorithm this service does not accept');
  }
  const key = checks.decryptionKey;
  try {
    const plain = await new Promise<string>((resolve, reject) => {
      // CBC is what ADFS and Okta send; the allowlist above keeps RSA-1.5 and 3DES out.
      decrypt(encryptedAssertion.toString(), { key, disallowDecryptionWithInsecureAlgorithm: false, warnInsecureAlgorithm: false }, (error, result) =>
        error || result === undefined ? reject(error) : resolve(result),
      );
    });
    parseUntrustedXml(plain);
    validateSamlSchema(plain);
    return plain;
  } catch (error) {
    // One answer, with one detail, for every failure from decryption to the plaintext's schema, so
    // that nothing about a forged ciphertext can be learned from the refusal (padding oracles).
    throw new AppError('invalid_request', UNREADABLE, { cause: error });
  }
}

function instant(value: string | undefined, what: string): Date | undefined {
  if (value === undefined) return undefined;
  const parsed = new Date(value);
  if (Number.isNaN(parsed.getTime())) throw new AppError('invalid_request', `${what} is not a valid instant`);
  return parsed;
}

function readAssertion(assertion: Element, responseInResponseTo: string | undefined, checks: SamlChecks): VerifiedAssertion {
  const now = checks.now.getTime();
  const skew = checks.clockSkewSeconds * 1000;
  checkIssuer(onlyChild(assertion, NS.assertion, 'Issuer'), checks, true);

  const conditions = onlyChild(assertion, NS.assertion, 'Conditions');
  const notBefore = instant(attribute(conditions, 'NotBefore'), 'Conditions NotBefore');
  const notOnOrAfter = instant(attribute(conditions, 'NotOnOrAfter'), 'Conditions NotOnOrAfter');
  if (notBefore && now + skew < notBefore.getTime()) {
    throw new AppError('saml_not_yet_valid', `the assertion is valid from ${notBefore.toISOString()}`);
  }
  if (notOnOrAfter && now - skew >= notOnOrAfter.getTime()) {
    throw new AppError('saml_expired', `the assertion expired at ${notOnOrAfter.toISOString()}`);
  }
  const restrictions = conditions ? childElements(conditions, NS.assertion, 'AudienceRestriction') : [];
  if (restrictions.length === 0) throw new AppError('saml_audience_mismatch', 'the assertion names no audience');
  for (const restriction of restrictions) {
    const audiences = childElements(restriction, NS.assertion, 'Audience').map((a) => text(a));
    if (!audiences.includes(checks.spEntityId)) {
      throw new AppError('saml_audience_mismatch', `the assertion is for ${audiences.join(', ')}, not for ${checks.spEntityId}`);
    }
  }

  const subject = onlyChild(assertion, NS.assertion, 'Subject');
  const nameIdElement = subject && onlyChild(subject, NS.assertion, 'NameID');
  // The subject is matched exactly as signed: nothing is trimmed here (the provisioning core
  // refuses a subject that would need it).
  const nameId = nameIdElement?.textContent ?? undefined;
  if (!subject || !nameId) throw new AppError('invalid_request', 'the assertion has no Subject NameID');
  const confirmation = confirmBearer(subject, checks);

  const assertionInResponseTo = attribute(confirmation.data, 'InResponseTo');
  if (assertionInResponseTo && responseInResponseTo && assertionInResponseTo !== responseInResponseTo) {
    throw new AppError('saml_in_response_to_mismatch', 'the response and its assertion answer different requests');
  }

  const authnStatement = childElements(assertion, NS.assertion, 'AuthnStatement')[0];
  const horizons = [notOnOrAfter, confirmation.notOnOrAfter].filter((d): d is Date => d !== undefined).map((d) => d.getTime());
  return {
    assertionId: attribute(assertion, 'ID') ?? '',
    issuer: checks.idpEntityId,
    nameId,
    nameIdFormat: attribute(nameIdElement, 'Format'),
    sessionIndex: attribute(authnStatement, 'SessionIndex'),
    inResponseTo: assertionInResponseTo ?? responseInResponseTo,
    attributes: readAttributes(assertion),
    replayableUntil: new Date(Math.max(...horizons) + skew),
  };
}

function confirmBearer(subject: Element, checks: SamlChecks): { data: Element; notOnOrAfter: Date } {
  const now = checks.now.getTime();
  const skew = checks.clockSkewSeconds * 1000;
  const bearers = childElements(subject, NS.assertion, 'SubjectConfirmation')
    .filter((c) => attribute(c, 'Method') === BEARER)
    .map((c) => onlyChild(c, NS.assertion, 'SubjectConfirmationData'))
    .filter((d): d is Element => d !== undefined);
  const forUs = bearers.filter((d) => attribute(d, 'Recipient') === checks.acsUrl);
  if (forUs.length === 0) {
    const recipients = bearers.map((d) => attribute(d, 'Recipient')).filter(Boolean);
    throw new AppError(
      'saml_recipient_mismatch',
      recipients.length ? `the assertion is for ${recipients.join(', ')}, not for this ACS URL` : 'the assertion has no bearer confirmation with a Recipient',
    );
  }
  let expired: Date | undefined;
  for (const data of forUs) {
    const notOnOrAfter = instant(attribute(data, 'NotOnOrAfter'), 'SubjectConfirmationData NotOnOrAfter');
    // The bearer profile requires this bound; without it the replay cache could never let the id go.
    if (!notOnOrAfter) throw new AppError('invalid_request', 'the bearer subject confirmation has no NotOnOrAfter');
    if (now - skew >= notOnOrAfter.getTime()) {
      expired = notOnOrAfter;
      continue;
    }
    return { data, notOnOrAfter };
  }
  throw new AppError('saml_expired', `the subject confirmation expired at ${expired!.toISOString()}`);
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
