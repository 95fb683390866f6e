import { readFileSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import { DEV_PERSONAS } from './dev-personas';
import { issueSamlResponse } from './saml-idp';

/**
 * The development SAML IdP of `npm start`: it answers an AuthnRequest (HTTP-Redirect) with a page
 * asking who to be (a persona, anyone, or Cancel), then posts a response signed with the committed
 * test key to the ACS; Cancel answers Responder/AuthnFailed as real IdPs do. For local use only:
 * its key is public.
 */
export interface DevSamlIdp {
  readonly entityId: string;
  readonly ssoUrl: string;
  readonly certificate: string;
  /** Where its IdP metadata XML is served, so it can be pasted, uploaded or fetched by URL. */
  readonly metadataUrl: string;
  /** Its IdP metadata XML: entity id, HTTP-Redirect SSO URL, signing certificate. */
  metadata(): string;
  /** Handles GET and POST on the SSO URL, returning an HTML page. */
  handle(method: string, url: URL, form: URLSearchParams): Promise<{ status: number; html: string }>;
}

const escapeHtml = (value: string) =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const page = (title: string, body: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>` +
  `<style>body{font:16px system-ui;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222}label{display:block;margin:.6rem 0}input[type=text],input:not([type]){width:100%;padding:.4rem;box-sizing:border-box}` +
  `.persona{display:block;width:100%;text-align:left;padding:.6rem .8rem;margin:.4rem 0;border:1px solid #ccd;border-radius:8px;background:#f7f8fb;font:inherit;cursor:pointer}.persona small{display:block;color:#666}` +
  `.banner{background:#fff4d6;border:1px solid #e8c96a;padding:.5rem .8rem;border-radius:8px}details{margin:1rem 0}</style></head><body>${body}</body></html>`;

/** Far more than any AuthnRequest; a deflate bomb stops here. */
const MAX_AUTHN_REQUEST_BYTES = 64 * 1024;

/** The id and ACS URL of a `SAMLRequest` (HTTP-Redirect: base64 of raw deflate), or `undefined` for anything that is not one. */
function readAuthnRequest(samlRequest: string | null): { requestId: string; acsUrl: string } | undefined {
  let request: string;
  try {
    request = inflateRawSync(Buffer.from(samlRequest ?? '', 'base64'), { maxOutputLength: MAX_AUTHN_REQUEST_BYTES }).toString('utf8');
  } catch {
    return undefined;
  }
  const requestId = /\sID="([^"]+)"/.exec(request)?.[1];
  const acsUrl = /AssertionConsumerServiceURL="([^"]+)"/.exec(request)?.[1];
  return requestId && acsUrl ? { requestId, acsUrl } : undefined;
}

export function createDevSamlIdp(options: { baseUrl: string; keyFile: URL; certFile: URL; spEntityId: (acsUrl: string) => string }): DevSamlIdp {
  const entityId = `${options.baseUrl}/dev/saml-idp`;
  const ssoUrl = `${entityId}/sso`;
  const signingKey = readFileSync(options.keyFile, 'utf8');
  const signingCert = readFileSync(options.certFile, 'utf8');

  const metadataUrl = `${entityId}/metadata`;
  const certBase64 = signingCert.replace(/-----[A-Z ]+-----|\s+/g, '');

  return {
    entityId,
    ssoUrl,
    certificate: signingCert,
    metadataUrl,
    metadata: () =>
      `<?xml version="1.0" encoding="UTF-8"?>\n<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="${escapeHtml(entityId)}">` +
      `<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>${certBase64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
      `<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${escapeHtml(ssoUrl)}"/></md:IDPSSODescriptor></md:EntityDescriptor>\n`,
    async handle(method, url, form) {
      if (method === 'GET') {
        const authnRequest = readAuthnRequest(url.searchParams.get('SAMLRequest'));
        if (!authnRequest?.acsUrl.startsWith(options.baseUrl)) return { status: 400, html: page('Bad request', '<p>That is not an AuthnRequest from this service.</p>') };
        const hidden = { ...authnRequest, relayState: url.searchParams.get('RelayState') ?? '' };
        return {
          status: 200,
          html: page(
            'Development IdP',
            `<h1>Development SAML IdP</h1><p class="banner">For local development only: anyone can be anyone here.</p><p>Who are you?</p><form method="post" action="${escapeHtml(ssoUrl)}">` +
              Object.entries(hidden).map(([name, value]) => `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`).join('') +
              DEV_PERSONAS.map((p) => `<button class="persona" type="submit" name="persona" value="${escapeHtml(p.id)}">${escapeHtml(`${p.givenName} ${p.familyName}`)} <span>${escapeHtml(p.email ?? '(no email)')}</span><small>${escapeHtml(p.role)}</small></button>`).join('') +
              `<p><button type="submit" name="cancel" value="1">Cancel</button></p>` +
              `<details><summary>Someone else</summary><label>Email <input name="email" value=""></label><label>First name <input name="firstName" value=""></label>` +
              `<label>Last name <input name="lastName" value=""></label><label>Groups (comma-separated) <input name="groups" value=""></label>` +
              `<button type="submit" name="persona" value="">Sign in as this person</button></details></form>`,
          ),
        };
      }
      const acsUrl = form.get('acsUrl') ?? '';
      if (!acsUrl.startsWith(options.baseUrl)) return { status: 400, html: page('Bad request', '<p>Unknown ACS URL.</p>') };
      const persona = DEV_PERSONAS.find((p) => p.id === form.get('persona'));
      const email = persona ? persona.email : form.get('email') ?? '';
      const base = { issuer: entityId, audience: options.spEntityId(acsUrl), recipient: acsUrl, inResponseTo: form.get('requestId') ?? undefined, issueInstant: new Date(), signingKey, signingCert };
      const response = form.get('cancel')
        ? await issueSamlResponse({ ...base, nameId: '', status: 'urn:oasis:names:tc:SAML:2.0:status:Responder', subStatus: 'urn:oasis:names:tc:SAML:2.0:status:AuthnFailed', statusMessage: 'The user cancelled the sign-in', sign: 'response' })
        : await issueSamlResponse({
            ...base,
            nameId: email || `${persona?.id ?? 'anonymous'}-persistent-id`,
            nameIdFormat: email ? 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress' : 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
            attributes: {
              ...(email ? { email: [email] } : {}),
              firstName: [persona?.givenName ?? form.get('firstName') ?? ''],
              lastName: [persona?.familyName ?? form.get('lastName') ?? ''],
              groups: persona ? [...persona.groups] : (form.get('groups') ?? '').split(',').map((g) => g.trim()).filter(Boolean),
            },
            sign: 'both',
          });
      return {
        status: 200,
        html: page(
          'Signing in…',
          `<form method="post" action="${escapeHtml(acsUrl)}"><input type="hidden" name="SAMLResponse" value="${response}">` +
            `<input type="hidden" name="RelayState" value="${escapeHtml(form.get('relayState') ?? '')}"><noscript><button>Continue</button></noscript></form>` +
            `<script>document.forms[0].submit()</script>`,
        ),
      };
    },
  };
}
