import { readFileSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import { issueSamlResponse } from './saml-idp';

/**
 * The development SAML IdP of `npm start`: it answers an AuthnRequest (HTTP-Redirect) with a form
 * asking who to be, then posts a response signed with the committed test key to the ACS. For
 * local use only: its key is public.
 */
export interface DevSamlIdp {
  readonly entityId: string;
  readonly ssoUrl: string;
  readonly certificate: string;
  /** Handles GET and POST on the SSO URL, returning an HTML page. */
  handle(method: string, url: URL, form: URLSearchParams): Promise<{ status: number; html: string }>;
}

const escapeHtml = (value: string) =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const page = (title: string, body: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>` +
  `<style>body{font:16px system-ui;max-width:34rem;margin:3rem auto}label{display:block;margin:.6rem 0}input{width:100%;padding:.4rem}</style></head><body>${body}</body></html>`;

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

  return {
    entityId,
    ssoUrl,
    certificate: signingCert,
    async handle(method, url, form) {
      if (method === 'GET') {
        const authnRequest = readAuthnRequest(url.searchParams.get('SAMLRequest'));
        if (!authnRequest?.acsUrl.startsWith(options.baseUrl)) return { status: 400, html: page('Bad request', '<p>That is not an AuthnRequest from this service.</p>') };
        const hidden = { ...authnRequest, relayState: url.searchParams.get('RelayState') ?? '' };
        return {
          status: 200,
          html: page(
            'Development IdP',
            `<h1>Development SAML IdP</h1><p>Sign in as anyone: this IdP is for local development only.</p><form method="post" action="${escapeHtml(ssoUrl)}">` +
              Object.entries(hidden).map(([name, value]) => `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`).join('') +
              `<label>Email <input name="email" value="ada@demo.example" required></label><label>First name <input name="firstName" value="Ada"></label>` +
              `<label>Last name <input name="lastName" value="Lovelace"></label><label>Groups (comma-separated) <input name="groups" value="engineering"></label>` +
              `<button type="submit">Sign in</button></form>`,
          ),
        };
      }
      const acsUrl = form.get('acsUrl') ?? '';
      if (!acsUrl.startsWith(options.baseUrl)) return { status: 400, html: page('Bad request', '<p>Unknown ACS URL.</p>') };
      const email = form.get('email') ?? '';
      const response = await issueSamlResponse({
        issuer: entityId,
        audience: options.spEntityId(acsUrl),
        recipient: acsUrl,
        inResponseTo: form.get('requestId') ?? undefined,
        nameId: email,
        attributes: {
          email: [email],
          firstName: [form.get('firstName') ?? ''],
          lastName: [form.get('lastName') ?? ''],
          groups: (form.get('groups') ?? '').split(',').map((g) => g.trim()).filter(Boolean),
        },
        issueInstant: new Date(),
        sign: 'both',
        signingKey,
        signingCert,
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
