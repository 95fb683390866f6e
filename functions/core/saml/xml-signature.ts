import { constants, createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { C14nCanonicalization, ExclusiveCanonicalization } from 'xml-crypto';
import { NS, certificatePem } from './xml';

/**
 * XML-DSig core validation of one enveloped signature on the document the caller parsed, with
 * xml-crypto's canonicalizers applied to that very DOM: the reference is resolved by ID in the
 * document (exactly one element may carry it), its transforms and the SignedInfo canonicalization
 * follow xml-crypto's `SignedXml.checkSignature` step for step, and the RSA key of each
 * certificate is imported once per container. Nothing is serialized to be parsed again, so the
 * element the caller reads next is the one whose canonical form was digested.
 */

const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';
const C14N = 'http://www.w3.org/TR/2001/REC-xml-c14n-20010315';
/** The canonicalizations SignedInfo may name: exclusive and inclusive c14n 1.0, without comments. */
const CANONICALIZATIONS = new Set(['http://www.w3.org/2001/10/xml-exc-c14n#', C14N]);
const XMLNS = 'http://www.w3.org/2000/xmlns/';

interface Canonicalizer {
  process(node: never, options: never): unknown;
}

/** The transforms applied, the ones SAML needs; the comment-keeping canonicalizations are none of them. */
const CANONICALIZERS: Readonly<Record<string, () => Canonicalizer>> = {
  [C14N]: () => new C14nCanonicalization(),
  'http://www.w3.org/2001/10/xml-exc-c14n#': () => new ExclusiveCanonicalization(),
  [ENVELOPED]: () => ({ process: (node: never, options: never) => removeEnvelopedSignature(node, options) }),
};

const HASHES: Readonly<Record<string, string>> = {
  'http://www.w3.org/2000/09/xmldsig#sha1': 'sha1',
  'http://www.w3.org/2001/04/xmlenc#sha256': 'sha256',
  'http://www.w3.org/2001/04/xmlenc#sha512': 'sha512',
};

const SIGNATURES: Readonly<Record<string, { hash: string; pss: boolean }>> = {
  'http://www.w3.org/2000/09/xmldsig#rsa-sha1': { hash: 'RSA-SHA1', pss: false },
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256': { hash: 'RSA-SHA256', pss: false },
  'http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1': { hash: 'RSA-SHA256', pss: true },
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512': { hash: 'RSA-SHA512', pss: false },
};

/** What xml-crypto's canonicalizers take; `signatureNode` is the one the enveloped transform removes. */
interface TransformOptions {
  inclusiveNamespacesPrefixList?: string[];
  ancestorNamespaces: { prefix: string; namespaceURI: string }[];
  defaultNs?: string;
  defaultNsForPrefix: Record<string, string>;
  signatureNode: Node | null;
}

const DEFAULT_NS_FOR_PREFIX = { ds: NS.dsig };

const keys = new Map<string, KeyObject>();

/** The public key of a certificate, imported once per container (a bad certificate throws each time). */
function publicKeyOf(certificate: string): KeyObject {
  const pem = certificatePem(certificate);
  let key = keys.get(pem);
  if (!key) {
    key = createPublicKey(pem);
    keys.set(pem, key);
  }
  return key;
}

const ID_ATTRIBUTES = new Set(['Id', 'ID', 'id']);

/** For each ID value, the elements of the document that carry it as an `Id`, `ID` or `id` attribute (any namespace). */
export type IdIndex = ReadonlyMap<string, readonly Element[]>;

/** Indexes the ID attributes of every element once, where xml-crypto evaluated an XPath over the document per lookup. */
export function indexIds(elements: readonly Element[]): IdIndex {
  const index = new Map<string, Element[]>();
  for (const element of elements) {
    const attributes = element.attributes;
    for (let i = 0; i < attributes.length; i++) {
      const attr = attributes.item(i)!;
      // Namespace declarations are not attributes in the XPath data model xml-crypto queried.
      if (attr.namespaceURI === XMLNS || attr.nodeName === 'xmlns' || !ID_ATTRIBUTES.has(attr.localName ?? attr.nodeName)) continue;
      const list = index.get(attr.value) ?? [];
      // An element carrying the same value twice (ID and Id) counts twice, as in xml-crypto's three queries.
      list.push(element);
      index.set(attr.value, list);
    }
  }
  return index;
}

function elementChildren(parent: Node, localName: string): Element[] {
  const found: Element[] = [];
  for (let node = parent.firstChild; node; node = node.nextSibling) {
    if (node.nodeType === node.ELEMENT_NODE && (node as Element).localName === localName) found.push(node as Element);
  }
  return found;
}

/** The namespaces declared on the ancestors of `node` that c14n must import, nearest first (xml-crypto's findAncestorNsForElement). */
function ancestorNamespaces(node: Element): { prefix: string; namespaceURI: string }[] {
  const seen = new Set<string>();
  const found: { prefix: string; namespaceURI: string }[] = [];
  for (let parent = node.parentNode; parent && parent.nodeType === parent.ELEMENT_NODE; parent = parent.parentNode) {
    const attributes = (parent as Element).attributes;
    for (let i = 0; i < attributes.length; i++) {
      const attr = attributes.item(i)!;
      if (attr.nodeName.search(/^xmlns:?/) === -1) continue;
      const prefix = attr.nodeName.replace(/^xmlns:?/, '');
      if (seen.has(prefix)) continue;
      seen.add(prefix);
      found.push({ prefix, namespaceURI: attr.nodeValue || '' });
    }
  }
  const own = new Set<string>([node.prefix || '']);
  for (let i = 0; i < node.attributes.length; i++) {
    const name = node.attributes.item(i)!.nodeName;
    if (name === 'xmlns' || name.startsWith('xmlns:')) own.add(name.replace(/^xmlns:?/, ''));
  }
  return found.filter((ns) => ns.namespaceURI !== '' && !own.has(ns.prefix));
}

function isDescendantOf(node: Node, ancestor: Node): boolean {
  for (let current = node.parentNode; current; current = current.parentNode) if (current === ancestor) return true;
  return false;
}

function removeEnvelopedSignature(node: Node, options: TransformOptions): Node {
  const signature = options.signatureNode;
  if (signature && isDescendantOf(signature, node) && signature.parentNode) signature.parentNode.removeChild(signature);
  return node;
}

/** The text of the signature's one SignatureValue child (nowhere else in the signature, e.g. not in its KeyInfo or Object). */
function signatureValueOf(signature: Element): string | undefined {
  const [element, ...more] = elementChildren(signature, 'SignatureValue');
  return element && more.length === 0 ? (element.textContent ?? undefined) : undefined;
}

/**
 * xml-crypto's `SignedXml.canonicalize`. It worked on a deep copy; copying the whole Response is a
 * quarter of a verification with xmldom, so the copy is made only where a step would change the
 * node (exclusive c14n declaring an InclusiveNamespaces prefix of an ancestor on it). Otherwise
 * the enveloped signature is detached for the canonicalization and put back where it was: the
 * document the caller reads is the one that was digested, as parsed.
 */
function canonicalize(transforms: readonly string[], node: Element, signature: Element, base: Omit<TransformOptions, 'signatureNode' | 'defaultNsForPrefix'>): string {
  // Exclusive c14n declares on the node itself the namespaces its ancestors declare for the
  // prefixes of its InclusiveNamespaces list (or, without a list, of the node's own
  // CanonicalizationMethod's): only that changes the node. A Response is the root and has no
  // ancestors, and an assertion's listed prefixes are rarely its ancestors'.
  const listed = base.inclusiveNamespacesPrefixList ?? [];
  const mutates =
    listed.length > 0
      ? listed.some((prefix) => base.ancestorNamespaces?.some((ns) => ns.prefix === prefix))
      : elementChildren(node, 'CanonicalizationMethod').some((method) => elementChildren(method, 'InclusiveNamespaces').length > 0);
  if (!mutates) {
    const detach = transforms.includes(ENVELOPED) && signature.parentNode !== null && isDescendantOf(signature, node);
    const parent = signature.parentNode;
    const next = signature.nextSibling;
    if (detach) parent!.removeChild(signature);
    try {
      return runTransforms(transforms, node, { ...base, defaultNsForPrefix: DEFAULT_NS_FOR_PREFIX, signatureNode: null });
    } finally {
      if (detach) parent!.insertBefore(signature, next);
    }
  }
  const copy = node.cloneNode(true) as Element;
  let signatureNode: Node | null = signature;
  if (transforms.includes(ENVELOPED)) {
    const path: number[] = [];
    let ancestor: Node = signature;
    while (ancestor.parentNode && ancestor !== node) {
      path.push(Array.from(ancestor.parentNode.childNodes).indexOf(ancestor as never));
      ancestor = ancestor.parentNode;
    }
    if (ancestor === node) signatureNode = path.reverse().reduce<Node>((n, i) => n.childNodes.item(i)!, copy);
  }
  return runTransforms(transforms, copy, { ...base, defaultNsForPrefix: DEFAULT_NS_FOR_PREFIX, signatureNode });
}

/** Applies the transforms in turn; only the last may be a canonicalization, so every one reads the DOM. */
function runTransforms(transforms: readonly string[], node: Element, options: TransformOptions): string {
  let current: unknown = node;
  for (const name of transforms) {
    const canonicalizer = CANONICALIZERS[name];
    if (!canonicalizer) throw new Error(`the transform ${name} is not supported`);
    current = canonicalizer().process(current as never, options as never);
  }
  return String(current);
}

/**
 * Core validation of an enveloped `ds:Signature` whose one Reference names `#id`: the element
 * carrying that ID (it must be the only one in the document, and must be `signed`) digests, after
 * its transforms, to the DigestValue, and the canonical SignedInfo verifies under one of the
 * certificates. KeyInfo is never read. Algorithms are the caller's to allow beforehand, and so is
 * the order of the transforms: a canonicalization only as the last one, since every transform here
 * reads the DOM and none parses octets again (one that is handed octets throws).
 *
 * @throws Error saying why it does not validate; the caller turns every failure into one refusal.
 */
export function validateEnvelopedSignature(
  signature: Element,
  signed: Element,
  id: string,
  ids: IdIndex,
  certificates: readonly string[],
): void {
  if (id.includes("'")) throw new Error('the reference URI has a quote');
  const carriers = ids.get(id) ?? [];
  if (carriers.length !== 1 || carriers[0] !== signed) throw new Error('the reference does not resolve to exactly the signed element');

  const [signedInfo, ...more] = elementChildren(signature, 'SignedInfo');
  if (!signedInfo || more.length > 0) throw new Error('the signature must have one SignedInfo');
  // Both algorithms are SignedInfo's own children, nowhere else in the signature.
  const [canonicalizationMethod, ...moreCanonicalizations] = elementChildren(signedInfo, 'CanonicalizationMethod');
  const [signatureMethodElement, ...moreSignatureMethods] = elementChildren(signedInfo, 'SignatureMethod');
  const canonicalization = canonicalizationMethod?.getAttribute('Algorithm');
  const signatureMethod = signatureMethodElement?.getAttribute('Algorithm');
  if (!canonicalization || !signatureMethod || moreCanonicalizations.length > 0 || moreSignatureMethods.length > 0) {
    throw new Error('the SignedInfo names no single canonicalization and signature algorithm');
  }
  if (!CANONICALIZATIONS.has(canonicalization)) throw new Error(`the canonicalization ${canonicalization} is not accepted`);

  const [reference, ...others] = elementChildren(signedInfo, 'Reference');
  if (!reference || others.length > 0) throw new Error('the signature must have one reference');
  const digestMethod = elementChildren(reference, 'DigestMethod')[0]?.getAttribute('Algorithm');
  const digestValues = elementChildren(reference, 'DigestValue');
  const digestValue = digestValues[0]?.textContent;
  if (!digestMethod || digestValues.length !== 1 || !digestValue) throw new Error('the reference has no single DigestMethod and DigestValue');
  // In the dsig namespace only, as the caller read them to allow their algorithms and order.
  const inDsig = (element: Element) => element.namespaceURI === NS.dsig;
  const transformElements = elementChildren(reference, 'Transforms').filter(inDsig).flatMap((t) => elementChildren(t, 'Transform').filter(inDsig));
  const transforms = transformElements.map((t) => t.getAttribute('Algorithm')).filter((a): a is string => Boolean(a));
  const last = transformElements[transformElements.length - 1];
  const inclusiveNamespacesPrefixList = last
    ? elementChildren(last, 'InclusiveNamespaces').flatMap((n) => (n.getAttribute('PrefixList') ?? '').split(' ')).filter((p) => p.length > 0)
    : [];
  // A same-document reference ending in a node-set is turned into octets by inclusive c14n (XML-DSig 4.4.3.2).
  if (transforms.length === 0 || transforms[transforms.length - 1] === ENVELOPED) transforms.push(C14N);

  const hash = HASHES[digestMethod];
  if (!hash) throw new Error(`the digest ${digestMethod} is not supported`);
  const canonical = canonicalize(transforms, signed, signature, { inclusiveNamespacesPrefixList, ancestorNamespaces: ancestorNamespaces(signed) });
  if (!createHash(hash).update(canonical, 'utf8').digest().equals(Buffer.from(digestValue, 'base64'))) {
    throw new Error('the digest of the referenced element does not match');
  }

  const method = SIGNATURES[signatureMethod];
  if (!method) throw new Error(`the signature algorithm ${signatureMethod} is not supported`);
  const signedInfoCanonical = canonicalize([canonicalization], signedInfo, signature, { ancestorNamespaces: ancestorNamespaces(signedInfo) });
  if (!signedInfoCanonical) throw new Error('the canonical SignedInfo is empty');
  const value = (signatureValueOf(signature) ?? '').replace(/\r?\n/g, '');
  const signedInfoOctets = Buffer.from(signedInfoCanonical, 'utf8');
  const signatureBytes = Buffer.from(value, 'base64');
  for (const certificate of certificates) {
    try {
      const key = publicKeyOf(certificate);
      const verified = verify(
        method.hash,
        signedInfoOctets,
        method.pss ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST } : key,
        signatureBytes,
      );
      if (verified) return;
    } catch {
      // A certificate that cannot be read, or a value of the wrong form, is just not a match.
    }
  }
  throw new Error("the signature does not verify with any of the connection's certificates");
}
