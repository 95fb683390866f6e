import { randomUUID } from 'node:crypto';
import { SignedXml } from 'xml-crypto';
import { encrypt } from 'xml-encryption';

/**
 * A small SAML identity provider: it issues signed (and optionally encrypted) SAML 2.0 responses
 * with xml-crypto, the way real IdPs do. The development IdP of `npm start` and the tests use it;
 * the tests bend its options to build every kind of bad response the ACS must refuse.
 */
export interface IssueResponseOptions {
  readonly issuer: string;
  readonly audience: string;
  readonly recipient: string;
  /** The Response's Destination; omitted when null. @default recipient */
  readonly destination?: string | null;
  readonly inResponseTo?: string;
  readonly nameId: string;
  readonly nameIdFormat?: string;
  readonly attributes?: Readonly<Record<string, readonly string[]>>;
  readonly issueInstant: Date;
  /** @default 300 */
  readonly lifetimeSeconds?: number;
  /** The Conditions' NotBefore. @default issueInstant - 60 s */
  readonly notBefore?: Date;
  /** @default urn:oasis:names:tc:SAML:2.0:status:Success */
  readonly status?: string;
  /** A second-level status code inside the first (e.g. `…:status:AuthnFailed` when the user cancelled). */
  readonly subStatus?: string;
  readonly statusMessage?: string;
  /** What carries the signature. @default 'assertion' */
  readonly sign?: 'assertion' | 'response' | 'both' | 'none';
  readonly signingKey: string;
  readonly signingCert: string;
  /** @default 'rsa-sha256' */
  readonly algorithm?: 'rsa-sha256' | 'rsa-sha1';
  /** The SP's certificate: when set, the (signed) assertion is encrypted for it. */
  readonly encryptFor?: string;
  /** @default 'http://www.w3.org/2009/xmlenc11#aes256-gcm' */
  readonly encryptionAlgorithm?: string;
  /** @default 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p' */
  readonly keyEncryptionAlgorithm?: string;
  readonly assertionId?: string;
  readonly responseId?: string;
}

const ALGORITHMS = {
  'rsa-sha256': { signature: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', digest: 'http://www.w3.org/2001/04/xmlenc#sha256' },
  'rsa-sha1': { signature: 'http://www.w3.org/2000/09/xmldsig#rsa-sha1', digest: 'http://www.w3.org/2000/09/xmldsig#sha1' },
} as const;

const escapeXml = (value: string) =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);

/** Signs the element with that ID with an enveloped signature placed right after its Issuer. */
export function signElement(xml: string, id: string, options: Pick<IssueResponseOptions, 'signingKey' | 'signingCert' | 'algorithm'>): string {
  const algorithm = ALGORITHMS[options.algorithm ?? 'rsa-sha256'];
  const signer = new SignedXml({
    privateKey: options.signingKey,
    publicCert: options.signingCert,
    signatureAlgorithm: algorithm.signature,
    canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  });
  signer.addReference({
    xpath: `//*[@ID='${id}']`,
    transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
    digestAlgorithm: algorithm.digest,
  });
  signer.computeSignature(xml, {
    prefix: 'ds',
    location: { reference: `//*[@ID='${id}']/*[local-name(.)='Issuer']`, action: 'after' },
  });
  return signer.getSignedXml();
}

async function encryptAssertion(
  assertion: string,
  certificate: string,
  options: Pick<IssueResponseOptions, 'encryptionAlgorithm' | 'keyEncryptionAlgorithm'>,
): Promise<string> {
  const encrypted = await new Promise<string>((resolve, reject) =>
    encrypt(
      assertion,
      {
        rsa_pub: certificate,
        pem: certificate,
        encryptionAlgorithm: options.encryptionAlgorithm ?? 'http://www.w3.org/2009/xmlenc11#aes256-gcm',
        keyEncryptionAlgorithm: options.keyEncryptionAlgorithm ?? 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
        // Tests encrypt as old IdPs do (3DES, RSA-1.5) to prove the SP refuses it.
        disallowEncryptionWithInsecureAlgorithm: false,
        warnInsecureAlgorithm: false,
      },
      (error, result) => (error || result === undefined ? reject(error) : resolve(result)),
    ),
  );
  return `<saml:EncryptedAssertion>${encrypted}</saml:EncryptedAssertion>`;
}

/** The Response XML, before base64. */
export async function issueSamlResponseXml(options: IssueResponseOptions): Promise<string> {
  const issued = options.issueInstant;
  const until = new Date(issued.getTime() + (options.lifetimeSeconds ?? 300) * 1000).toISOString();
  const notBefore = (options.notBefore ?? new Date(issued.getTime() - 60_000)).toISOString();
  const assertionId = options.assertionId ?? `_${randomUUID()}`;
  const responseId = options.responseId ?? `_${randomUUID()}`;
  const sign = options.sign ?? 'assertion';
  const destination = options.destination === undefined ? options.recipient : options.destination;
  const inResponseTo = options.inResponseTo ? ` InResponseTo="${escapeXml(options.inResponseTo)}"` : '';
  const attributes = Object.entries(options.attributes ?? {})
    .map(
      ([name, values]) =>
        `<saml:Attribute Name="${escapeXml(name)}">${values.map((v) => `<saml:AttributeValue>${escapeXml(v)}</saml:AttributeValue>`).join('')}</saml:Attribute>`,
    )
    .join('');

  let assertion =
    `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${assertionId}" Version="2.0" IssueInstant="${issued.toISOString()}">` +
    `<saml:Issuer>${escapeXml(options.issuer)}</saml:Issuer>` +
    `<saml:Subject><saml:NameID Format="${options.nameIdFormat ?? 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'}">${escapeXml(options.nameId)}</saml:NameID>` +
    `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="${until}" Recipient="${escapeXml(options.recipient)}"${inResponseTo}/></saml:SubjectConfirmation></saml:Subject>` +
    `<saml:Conditions NotBefore="${notBefore}" NotOnOrAfter="${until}"><saml:AudienceRestriction><saml:Audience>${escapeXml(options.audience)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
    `<saml:AuthnStatement AuthnInstant="${issued.toISOString()}" SessionIndex="${assertionId}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
    (attributes ? `<saml:AttributeStatement>${attributes}</saml:AttributeStatement>` : '') +
    `</saml:Assertion>`;
  if (sign === 'assertion' || sign === 'both') assertion = signElement(assertion, assertionId, options);
  if (options.encryptFor) assertion = await encryptAssertion(assertion, options.encryptFor, options);

  const response =
    `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${responseId}" Version="2.0" IssueInstant="${issued.toISOString()}"` +
    `${destination === null ? '' : ` Destination="${escapeXml(destination)}"`}${inResponseTo}>` +
    `<saml:Issuer>${escapeXml(options.issuer)}</saml:Issuer>` +
    `<samlp:Status><samlp:StatusCode Value="${options.status ?? 'urn:oasis:names:tc:SAML:2.0:status:Success'}"${options.subStatus ? `><samlp:StatusCode Value="${escapeXml(options.subStatus)}"/></samlp:StatusCode>` : '/>'}` +
    `${options.statusMessage ? `<samlp:StatusMessage>${escapeXml(options.statusMessage)}</samlp:StatusMessage>` : ''}</samlp:Status>` +
    (options.status && !options.status.endsWith(':Success') ? '' : assertion) +
    `</samlp:Response>`;
  return sign === 'response' || sign === 'both' ? signElement(response, responseId, options) : response;
}

/** A SAMLResponse form value: the base64 of the signed Response. */
export async function issueSamlResponse(options: IssueResponseOptions): Promise<string> {
  return Buffer.from(await issueSamlResponseXml(options), 'utf8').toString('base64');
}
