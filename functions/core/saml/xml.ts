import { DOMParser } from '@xmldom/xmldom';
import { AppError } from '../errors';

export const NS = {
  protocol: 'urn:oasis:names:tc:SAML:2.0:protocol',
  assertion: 'urn:oasis:names:tc:SAML:2.0:assertion',
  dsig: 'http://www.w3.org/2000/09/xmldsig#',
  xenc: 'http://www.w3.org/2001/04/xmlenc#',
} as const;

/**
 * Parses XML that an outside party sent. A DOCTYPE is refused outright: SAML never needs one, and
 * it is the door to entity expansion and external entity attacks.
 *
 * @throws AppError `invalid_request` when the text is not well-formed XML or declares a DOCTYPE.
 */
export function parseUntrustedXml(xml: string): Document {
  if (/<!DOCTYPE/i.test(xml)) throw new AppError('invalid_request', 'the XML declares a DOCTYPE, which SAML never needs');
  try {
    const errors: string[] = [];
    // Every error the parser reports refuses the message, not only those it cannot continue past.
    const options = { errorHandler: (level: string, message: string) => void (level !== 'warning' && errors.push(message)) };
    const doc = new DOMParser(options as ConstructorParameters<typeof DOMParser>[0]).parseFromString(xml, 'text/xml');
    if (errors.length > 0) throw new Error(errors[0]);
    if (!doc.documentElement) throw new Error('no root element');
    refuseProcessingInstructions(doc);
    return doc;
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new AppError('invalid_request', 'the SAML message is not well-formed XML', { cause: error });
  }
}

/**
 * SAML never needs a processing instruction, and one inside signed content is a wrapping attack:
 * the canonicalizers digest its data as text, while the DOM's textContent, which the checks read,
 * leaves it out (so `admin@corp.com<?x .evil.example?>` would be signed as one value and read as
 * another). Only the XML declaration, the document's first node, may stand.
 *
 * @throws AppError `invalid_request`.
 */
function refuseProcessingInstructions(doc: Document): void {
  const pending: Node[] = [doc];
  while (pending.length > 0) {
    const node = pending.pop()!;
    for (let child = node.firstChild; child; child = child.nextSibling) {
      const declaration = node === doc && child === doc.firstChild && child.nodeName === 'xml';
      if (child.nodeType === child.PROCESSING_INSTRUCTION_NODE && !declaration) {
        throw new AppError('invalid_request', 'the SAML message carries a processing instruction, which SAML never needs');
      }
      if (child.hasChildNodes()) pending.push(child);
    }
  }
}

/** The element children of `parent` with the given namespace and local name, in document order. */
export function childElements(parent: Element, namespace: string, localName: string): Element[] {
  const found: Element[] = [];
  for (let node = parent.firstChild; node; node = node.nextSibling) {
    if (node.nodeType === node.ELEMENT_NODE) {
      const element = node as Element;
      if (element.namespaceURI === namespace && element.localName === localName) found.push(element);
    }
  }
  return found;
}

/** The only child element of that name, or undefined; more than one is a malformed message. */
export function onlyChild(parent: Element, namespace: string, localName: string): Element | undefined {
  const found = childElements(parent, namespace, localName);
  if (found.length > 1) throw new AppError('invalid_request', `the SAML message has more than one ${localName} where one is allowed`);
  return found[0];
}

/** Every element of that name below `root`: an element's descendants, or a document's elements, its root included. */
export function descendants(root: Document | Element, namespace: string, localName: string): Element[] {
  return Array.from(root.getElementsByTagNameNS(namespace, localName));
}

/** `root` and every element under it, in document order: one walk that several checks then share. */
export function allElements(root: Element): Element[] {
  const found: Element[] = [];
  const visit = (element: Element) => {
    found.push(element);
    for (let node = element.firstChild; node; node = node.nextSibling) {
      if (node.nodeType === node.ELEMENT_NODE) visit(node as Element);
    }
  };
  visit(root);
  return found;
}

export function text(element: Element | undefined): string | undefined {
  const value = element?.textContent?.trim();
  return value ? value : undefined;
}

export function attribute(element: Element | undefined, name: string): string | undefined {
  return element?.hasAttribute(name) ? (element.getAttribute(name) ?? undefined) : undefined;
}

/** A certificate as PEM, from PEM or from the bare base64 body that metadata and KeyInfo carry. */
export function certificatePem(certificate: string): string {
  if (certificate.includes('-----BEGIN')) return certificate;
  const body = certificate.replace(/\s+/g, '').match(/.{1,64}/g)?.join('\n') ?? '';
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}
