import {
  ParseOption,
  XmlBufferInputProvider,
  XmlDocument,
  XsdValidator,
  xmlRegisterInputProvider,
} from 'libxml2-wasm';
import { AppError } from '../errors';
import { ASSERTION_XSD, PROTOCOL_XSD, XENC_XSD, XMLDSIG_XSD } from './saml-xsd';

/**
 * Relaxations of the official schemas, each for a real IdP whose signed responses break the
 * letter of the schema and that a production SP must still accept. Every other rule stands.
 */
const RELAXATIONS: readonly { readonly why: string; readonly schema: 'protocol' | 'assertion'; readonly from: string; readonly to: string }[] = [
  {
    why: 'SecureWorks and other OpenSAML-style IdPs issue response IDs that start with a digit, which xs:ID forbids',
    schema: 'protocol',
    from: '<attribute name="ID" type="ID" use="required"/>',
    to: '<attribute name="ID" type="string" use="required"/>',
  },
  {
    why: 'the same IdPs number their assertions the same way',
    schema: 'assertion',
    from: '<attribute name="ID" type="ID" use="required"/>',
    to: '<attribute name="ID" type="string" use="required"/>',
  },
  {
    why: 'Auth0 places the Response signature after the assertions instead of after the Issuer',
    schema: 'protocol',
    from: '<extension base="samlp:StatusResponseType">\n<choice minOccurs="0" maxOccurs="unbounded">\n<element ref="saml:Assertion"/>\n<element ref="saml:EncryptedAssertion"/>\n</choice>',
    to: '<extension base="samlp:StatusResponseType"><sequence>\n<choice minOccurs="0" maxOccurs="unbounded">\n<element ref="saml:Assertion"/>\n<element ref="saml:EncryptedAssertion"/>\n</choice>\n<element ref="ds:Signature" minOccurs="0"/></sequence>',
  },
];

function relax(text: string, schema: 'protocol' | 'assertion'): string {
  let result = text;
  for (const relaxation of RELAXATIONS.filter((r) => r.schema === schema)) {
    if (!result.includes(relaxation.from)) {
      throw new Error(`SAML schema relaxation no longer applies: ${relaxation.why}`);
    }
    result = result.split(relaxation.from).join(relaxation.to);
  }
  return result;
}

let validator: XsdValidator | undefined;

/** Compiles the schema set once per container; later calls reuse it. */
function compiledValidator(): XsdValidator {
  if (validator) return validator;
  const encoder = new TextEncoder();
  xmlRegisterInputProvider(
    new XmlBufferInputProvider({
      'saml-xsd:/saml-schema-assertion-2.0.xsd': encoder.encode(relax(ASSERTION_XSD, 'assertion')),
      'saml-xsd:/xmldsig-core-schema.xsd': encoder.encode(XMLDSIG_XSD),
      'saml-xsd:/xenc-schema.xsd': encoder.encode(XENC_XSD),
    }),
  );
  const schema = XmlDocument.fromString(relax(PROTOCOL_XSD, 'protocol'), {
    url: 'saml-xsd:/saml-schema-protocol-2.0.xsd',
  });
  try {
    validator = XsdValidator.fromDoc(schema);
  } finally {
    schema.dispose();
  }
  return validator;
}

/**
 * Validates a SAML message (a samlp:Response, or a decrypted saml:Assertion) against the SAML 2.0
 * protocol and assertion schemas with libxml2. Never resolves external entities or the network.
 * Octets are read as UTF-8 whatever their XML declaration says, as the DOM parser reads them
 * (invalid UTF-8 is refused); passing the octets spares encoding the text again.
 *
 * @throws AppError `invalid_request` when the XML is not well-formed or breaks the schema.
 */
export function validateSamlSchema(xml: string | Uint8Array): void {
  const schemaValidator = compiledValidator();
  let doc: XmlDocument;
  try {
    const options = { option: ParseOption.XML_PARSE_NONET, encoding: 'utf-8' };
    doc = typeof xml === 'string' ? XmlDocument.fromString(xml, options) : XmlDocument.fromBuffer(xml, options);
  } catch (error) {
    throw new AppError('invalid_request', 'the SAML message is not well-formed XML', { cause: error });
  }
  try {
    schemaValidator.validate(doc);
  } catch (error) {
    const first = error instanceof Error ? error.message.split('\n')[0] : 'schema violation';
    throw new AppError('invalid_request', `the SAML message does not match the SAML 2.0 schema: ${first}`, { cause: error });
  } finally {
    doc.dispose();
  }
}
