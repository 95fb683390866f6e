import { createSign } from 'node:crypto';

/** The one signature algorithm requests are signed with. */
export const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';

/**
 * The query string of a signed HTTP-Redirect message (SAML Bindings 3.4.4.1):
 * `SAMLRequest=…&RelayState=…&SigAlg=…&Signature=…`, where the signature is RSA-SHA256 over the
 * exact URL-encoded bytes of the first three parameters in that order, as they appear in the
 * query. The IdP verifies those bytes as it receives them, so the encoding signed is the encoding
 * sent (RelayState is left out when there is none).
 */
export function signedRedirectQuery(message: { samlRequest: string; relayState?: string }, privateKeyPem: string): string {
  const signed = [
    `SAMLRequest=${encodeURIComponent(message.samlRequest)}`,
    ...(message.relayState ? [`RelayState=${encodeURIComponent(message.relayState)}`] : []),
    `SigAlg=${encodeURIComponent(RSA_SHA256)}`,
  ].join('&');
  const signature = createSign('sha256').update(signed, 'utf8').sign(privateKeyPem).toString('base64');
  return `${signed}&Signature=${encodeURIComponent(signature)}`;
}
