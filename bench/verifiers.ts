/**
 * The contenders of the verification race: our `verifySamlResponse`, three peers configured to
 * accept what a correct SP accepts (their clock, audience, certificate), and the floor of a correct
 * check. Each returns a verdict, so the bench shows that every one of them really accepted.
 */
import { createHash, createPublicKey, verify as rsaVerify, type KeyObject } from 'node:crypto';
import { DOMParser } from '@xmldom/xmldom';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import * as boxyhqModule from '@boxyhq/saml20';
import * as samlify from 'samlify';
import { ExclusiveCanonicalization } from 'xml-crypto';
import { validateSamlSchema } from '../functions/core/saml/schema-validator';
import { verifySamlResponse } from '../functions/core/saml/verify-response';

/** What one verification of one response needs to know. */
export interface ResponseCase {
  readonly name: string;
  /** The SAMLResponse form value (base64). */
  readonly samlResponse: string;
  readonly idpEntityId: string;
  readonly idpCertificate: string;
  readonly spEntityId: string;
  readonly acsUrl: string;
  /** The instant to verify at: now for a fresh response, its issue instant for a captured one. */
  readonly at: Date;
  readonly expectedNameId: string;
}

export interface Verdict {
  readonly accepted: boolean;
  /** The subject it read, or why it refused. */
  readonly detail: string;
}

export interface Contender {
  readonly name: string;
  readonly kind: 'ours' | 'peer' | 'floor';
  /** A floor's signatures: the Response's alone (the floor the issue names), or every signature the response holds. */
  readonly signatures?: 'response' | 'every';
  verify(): Promise<Verdict>;
}

const accepted = (nameId: unknown): Verdict => ({ accepted: true, detail: String(nameId) });
const refused = (error: unknown): Verdict => ({ accepted: false, detail: error instanceof Error ? error.message.slice(0, 90) : String(error) });

/**
 * Runs `run` with the wall clock at `at` (peers read `Date` and offer no clock to inject). The bench
 * runs one verification at a time, so nothing else sees the shifted clock.
 */
async function atInstant<T>(at: Date, run: () => Promise<T>): Promise<T> {
  const offset = at.getTime() - Date.now();
  if (Math.abs(offset) < 1000) return run();
  const RealDate = Date;
  class ShiftedDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(RealDate.now() + offset);
      else super(...(args as [string]));
    }
    static override now() {
      return RealDate.now() + offset;
    }
  }
  globalThis.Date = ShiftedDate as DateConstructor;
  try {
    return await run();
  } finally {
    globalThis.Date = RealDate;
  }
}

const pemBody = (pem: string) => pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');

export function ours(c: ResponseCase): Contender {
  const checks = { idpEntityId: c.idpEntityId, idpCertificates: [c.idpCertificate], spEntityId: c.spEntityId, acsUrl: c.acsUrl, clockSkewSeconds: 60, allowSha1: false, decryptionKeys: [], now: c.at };
  return {
    name: 'ours: verifySamlResponse',
    kind: 'ours',
    verify: () => verifySamlResponse(c.samlResponse, checks).then((a) => accepted(a.nameId), refused),
  };
}

let samlifyValidatorSet = false;

export function samlifyPeer(c: ResponseCase): Contender {
  if (!samlifyValidatorSet) {
    // samlify requires a schema validator; ours (libxml2, the official schemas) is the fair one to lend it.
    samlify.setSchemaValidator({ validate: async (xml: string) => (validateSamlSchema(xml), 'valid') });
    samlifyValidatorSet = true;
  }
  const sp = samlify.ServiceProvider({
    entityID: c.spEntityId,
    assertionConsumerService: [{ Binding: samlify.Constants.namespace.binding.post, Location: c.acsUrl }],
    wantAssertionsSigned: false,
    clockDrifts: [-60_000, 60_000],
  });
  const idp = samlify.IdentityProvider({
    entityID: c.idpEntityId,
    signingCert: c.idpCertificate,
    singleSignOnService: [{ Binding: samlify.Constants.namespace.binding.redirect, Location: 'https://idp.invalid/sso' }],
  });
  return {
    name: 'samlify 2 (parseLoginResponse)',
    kind: 'peer',
    verify: () =>
      atInstant(c.at, () => sp.parseLoginResponse(idp, 'post', { body: { SAMLResponse: c.samlResponse } } as never)).then(
        (result) => accepted((result.extract as { nameID?: string }).nameID),
        refused,
      ),
  };
}

export function nodeSamlPeer(c: ResponseCase): Contender {
  const saml = new SAML({
    idpCert: pemBody(c.idpCertificate),
    issuer: c.spEntityId,
    audience: c.spEntityId,
    callbackUrl: c.acsUrl,
    idpIssuer: c.idpEntityId,
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: false,
    acceptedClockSkewMs: 60_000,
    validateInResponseTo: ValidateInResponseTo.never,
  });
  return {
    name: '@node-saml/node-saml 5 (validatePostResponseAsync)',
    kind: 'peer',
    verify: () =>
      atInstant(c.at, () => saml.validatePostResponseAsync({ SAMLResponse: c.samlResponse })).then((r) => accepted(r.profile?.nameID), refused),
  };
}

// A CommonJS module whose `exports.default` is the API: ESM sees it one level down.
const saml20 = ((boxyhqModule as unknown as { default: { default?: typeof boxyhqModule.default } }).default.default ?? boxyhqModule.default) as typeof boxyhqModule.default;

export function boxyhqPeer(c: ResponseCase): Contender {
  const xml = () => Buffer.from(c.samlResponse, 'base64').toString('utf8');
  return {
    name: '@boxyhq/saml20 1 (validate)',
    kind: 'peer',
    verify: () =>
      atInstant(c.at, () => saml20.validate(xml(), { publicKey: c.idpCertificate, audience: c.spEntityId })).then(
        (profile) => accepted((profile as { claims?: Record<string, unknown> }).claims?.['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier'] ?? JSON.stringify(profile).slice(0, 40)),
        refused,
      ),
  };
}

const DSIG = 'http://www.w3.org/2000/09/xmldsig#';

const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';

/** The PrefixList of an exclusive c14n transform or method, which the c14n must render inclusively. */
function prefixList(parent: Element): string[] {
  const inclusive = parent.getElementsByTagNameNS(EXC_C14N, 'InclusiveNamespaces')[0];
  return inclusive?.getAttribute('PrefixList')?.split(/\s+/).filter(Boolean) ?? [];
}

function onlyDsigChild(parent: Element, localName: string): Element {
  for (let node = parent.firstChild; node; node = node.nextSibling) {
    if (node.nodeType === 1 && (node as Element).namespaceURI === DSIG && (node as Element).localName === localName) return node as Element;
  }
  throw new Error(`no ${localName}`);
}

/**
 * The floor of a correct check of the Response's signature: one parse, the exclusive c14n of the
 * signed element without its enveloped signature, one SHA-256 digest compare, one RSA verify of
 * SignedInfo's c14n with a KeyObject made once. Nothing else: no schema, no conditions. With
 * `everySignature`, the same again for the assertion's own signature when it has one (a correct
 * SP verifies every signature: one that fails must not pass because another holds).
 */
export function floor(c: ResponseCase, options: { withSchema?: boolean; everySignature?: boolean } = {}): Contender {
  const key: KeyObject = createPublicKey(c.idpCertificate);
  const c14n = new ExclusiveCanonicalization();
  /** Verifies the enveloped signature of `signed`, then removes it (as the enveloped-signature transform does). */
  const verifyEnveloped = (signed: Element, signature: Element) => {
    const signedInfo = onlyDsigChild(signature, 'SignedInfo');
    const reference = onlyDsigChild(signedInfo, 'Reference');
    if (reference.getAttribute('URI') !== `#${signed.getAttribute('ID')}`) throw new Error('the reference is not the signed element');
    const signedInfoC14n = c14n.process(signedInfo as never, { inclusiveNamespacesPrefixList: prefixList(onlyDsigChild(signedInfo, 'CanonicalizationMethod')) });
    const signatureValue = Buffer.from(onlyDsigChild(signature, 'SignatureValue').textContent ?? '', 'base64');
    signed.removeChild(signature);
    const digest = createHash('sha256')
      .update(c14n.process(signed as never, { inclusiveNamespacesPrefixList: prefixList(onlyDsigChild(reference, 'Transforms')) }))
      .digest('base64');
    if (digest !== onlyDsigChild(reference, 'DigestValue').textContent?.trim()) throw new Error('digest mismatch');
    if (!rsaVerify('sha256', Buffer.from(signedInfoC14n), key, signatureValue)) throw new Error('bad signature');
  };
  const name = `floor${options.everySignature ? ', every signature' : ''}: parse, exc-c14n, SHA-256, RSA verify${options.withSchema ? ' + XSD (libxml2)' : ''}`;
  return {
    name,
    kind: 'floor',
    signatures: options.everySignature ? 'every' : 'response',
    async verify() {
      try {
        const bytes = Buffer.from(c.samlResponse, 'base64');
        const xml = bytes.toString('utf8');
        if (options.withSchema) validateSamlSchema(bytes);
        const doc = new DOMParser().parseFromString(xml, 'text/xml');
        const response = doc.documentElement!;
        verifyEnveloped(response, onlyDsigChild(response, 'Signature'));
        if (options.everySignature) {
          const assertion = childElement(response, SAML_ASSERTION, 'Assertion');
          const own = assertion && optionalDsigChild(assertion, 'Signature');
          if (own) verifyEnveloped(assertion, own);
        }
        return accepted(c.expectedNameId);
      } catch (error) {
        return refused(error);
      }
    },
  };
}

const SAML_ASSERTION = 'urn:oasis:names:tc:SAML:2.0:assertion';

function childElement(parent: Element, namespace: string, localName: string): Element | undefined {
  for (let node = parent.firstChild; node; node = node.nextSibling) {
    if (node.nodeType === 1 && (node as Element).namespaceURI === namespace && (node as Element).localName === localName) return node as Element;
  }
  return undefined;
}

const optionalDsigChild = (parent: Element, localName: string) => childElement(parent, DSIG, localName);

/** Every contender on one response: ours, the three peers, and the floors (the Response's signature, every signature), with and without XSD validation. */
export function contenders(c: ResponseCase): Contender[] {
  return [ours(c), samlifyPeer(c), nodeSamlPeer(c), boxyhqPeer(c), floor(c), floor(c, { withSchema: true }), floor(c, { everySignature: true }), floor(c, { everySignature: true, withSchema: true })];
}
