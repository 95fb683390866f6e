import { randomBytes } from 'node:crypto';
import { auditSetupUse, activateSetupConnection, saveSetupOidc, setupOidcConnection, checkCsrf, isCsrfTokenOf, newCsrfToken, openSetupLink, plannedSamlConnection, saveSetupSamlIdp, setupConnection } from './core/admin/setup-links';
import { issueScimToken } from './core/admin/scim-tokens';
import { secretStoreFromEnvironment, type SecretStore } from './core/admin/secrets';
import { AppError, isAppError } from './core/errors';
import type { SetupLink } from './core/model';
import { runtimeFromEnvironment, type Runtime } from './core/runtime';
import { startOidcSetupTest } from './core/oidc/setup-test';
import { startSetupTest } from './core/saml/setup-test';
import { spEndpoints, spMetadata } from './core/saml/service-provider';
import { acsCookie, callbackCookie, cookieValue, formFields, httpHandler, logger, OIDC_STATE_COOKIE, redirect, SAML_REQUEST_COOKIE, SETUP_RETURN_COOKIE, type HttpEvent, type HttpResult } from './http';
import { instrumentRuntime } from './observability';
import { oidcSetupPage, pickIdpPage, samlSetupPage, scimSetupPage, SETUP_IDPS, type OidcFormState, type SamlFormState, type SetupContext } from './setup-pages';

const CSRF_COOKIE = 'sso_setup_csrf';

/** The self-serve setup pages of a link: `/setup/{token}/...`. The token is the only credential. */
export function createSetupHandler(runtime: Runtime, options: { fetch?: typeof fetch; secretStore?: SecretStore } = {}) {
  // Where an OIDC client secret entered on a page goes: the secret store, never the table.
  const secretStore = () => options.secretStore ?? secretStoreFromEnvironment(process.env);
  const base = runtime.config.publicBaseUrl;
  const secure = base.startsWith('https://') ? '; Secure' : '';

  async function open(event: HttpEvent): Promise<{ link: SetupLink; context: SetupContext; cookies: string[] }> {
    const token = event.pathParameters?.token ?? '';
    const link = await openSetupLink(runtime.store, token, runtime.clock());
    const tenant = await runtime.store.getTenant(link.tenantId);
    const path = `/setup/${token}`;
    const existing = cookieValue(event, CSRF_COOKIE);
    const csrf = existing && isCsrfTokenOf(link, existing) ? existing : newCsrfToken(link);
    // Strict and scoped to the link's own path: a form token of one link never reaches another's pages.
    const cookies = csrf === existing ? [] : [`${CSRF_COOKIE}=${csrf}; HttpOnly${secure}; SameSite=Strict; Path=${path}`];
    return { link, context: { base: path, link, tenantName: tenant?.name ?? link.tenantId, csrf }, cookies };
  }

  function html(status: number, body: string, cookies: string[], nonce = ''): HttpResult {
    return {
      statusCode: status,
      headers: {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        // The URL holds the link's token: it must not travel in a Referer to another site.
        'referrer-policy': 'no-referrer',
        'content-security-policy': `default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-${nonce || 'none'}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
      },
      cookies,
      body,
    };
  }

  const post = (event: HttpEvent, link: SetupLink) => {
    const form = formFields(event, runtime.config.maxBodyBytes);
    checkCsrf(link, form.get('csrf'), cookieValue(event, CSRF_COOKIE));
    return form;
  };
  const only = (link: SetupLink, protocol: SetupLink['protocol']) => {
    if (link.protocol !== protocol) throw new AppError('setup_link_forbidden', `this setup link configures ${link.protocol.toUpperCase()}, not ${protocol.toUpperCase()}`);
  };
  const idpOf = (event: HttpEvent, protocol: 'saml' | 'oidc' = 'saml') => {
    const idp = event.queryStringParameters?.idp ?? `other-${protocol}`;
    return SETUP_IDPS[idp]?.protocol === protocol ? idp : `other-${protocol}`;
  };

  /** `POST /setup/{token}/<protocol>/activate`: turns the link's tested connection on, then back to its page. */
  const activate = (protocol: 'saml' | 'oidc') => async (event: HttpEvent) => {
    const { link, context } = await open(event);
    post(event, link);
    only(link, protocol);
    await activateSetupConnection(runtime, link);
    return redirect(303, `${context.base}/${protocol}?idp=${encodeURIComponent(idpOf(event, protocol))}`);
  };

  async function samlPage(event: HttpEvent, status: number, form?: SamlFormState): Promise<HttpResult> {
    const { link, context, cookies } = await open(event);
    const connection = (await setupConnection(runtime.store, link)) ?? undefined;
    const endpoints = spEndpoints(connection ?? plannedSamlConnection(link), base);
    const nonce = randomBytes(16).toString('base64url');
    const body = samlSetupPage(context, { idp: idpOf(event), sp: { entityId: endpoints.spEntityId, acsUrl: endpoints.acsUrl }, ...(connection ? { connection } : {}), ...(form ? { form } : {}), nonce, maxBytes: runtime.config.maxBodyBytes });
    return html(status, body, cookies, nonce);
  }

  async function oidcPage(event: HttpEvent, status: number, form?: OidcFormState): Promise<HttpResult> {
    const { link, context, cookies } = await open(event);
    const connection = await setupOidcConnection(runtime.store, link);
    const nonce = randomBytes(16).toString('base64url');
    const body = oidcSetupPage(context, { idp: idpOf(event, 'oidc'), redirectUri: `${base}/oidc/${encodeURIComponent(link.connectionId!)}/callback`, ...(connection ? { connection } : {}), ...(form ? { form } : {}), nonce });
    return html(status, body, cookies, nonce);
  }

  return httpHandler({
    'GET /setup/{token}': async (event) => {
      const { link, context, cookies } = await open(event);
      if (link.protocol === 'scim') return redirect(302, `${context.base}/scim`, cookies);
      return html(200, pickIdpPage(context), cookies);
    },

    'GET /setup/{token}/saml': (event) => samlPage(event, 200),

    'POST /setup/{token}/saml': async (event) => {
      const { link, context } = await open(event);
      const form = post(event, link);
      const metadataXml = form.get('metadataXml')?.trim() ?? '';
      const metadataUrl = form.get('metadataUrl')?.trim() ?? '';
      const given = { metadataXml, metadataUrl };
      if (!metadataXml === !metadataUrl) {
        return samlPage(event, 400, { ...given, errors: { form: metadataXml ? 'Give the metadata one way: a URL, or the XML, not both.' : 'Give the metadata: its URL, or paste or upload the XML.' } });
      }
      try {
        if (link.protocol === 'saml') await runtime.store.updateSetupLink(link.hash, { idp: idpOf(event) });
        await saveSetupSamlIdp(runtime, { ...link, idp: idpOf(event) }, metadataUrl ? { metadataUrl } : { metadataXml }, options.fetch);
      } catch (error) {
        if (isAppError(error, 'invalid_request') || isAppError(error, 'service_unavailable')) {
          const message = error.detail ?? error.message;
          return samlPage(event, isAppError(error, 'invalid_request') ? 400 : 502, { ...given, errors: metadataUrl ? { metadataUrl: message } : { metadataXml: message } });
        }
        throw error;
      }
      return redirect(303, `${context.base}/saml?idp=${encodeURIComponent(idpOf(event))}`);
    },

    'GET /setup/{token}/saml/metadata': async (event) => {
      const { link } = await open(event);
      const connection = (await setupConnection(runtime.store, link)) ?? plannedSamlConnection(link);
      return {
        statusCode: 200,
        headers: { 'content-type': 'application/samlmetadata+xml; charset=utf-8', 'content-disposition': `attachment; filename="${connection.id}-sp-metadata.xml"`, 'cache-control': 'no-store' },
        body: await spMetadata(connection, spEndpoints(connection, base)),
      };
    },

    'GET /setup/{token}/saml/test': async (event) => {
      const { link } = await open(event);
      const test = await startSetupTest(runtime, link);
      await auditSetupUse(runtime, link, 'connection.test_started');
      return redirect(302, test.redirectUrl, [
        acsCookie(SAML_REQUEST_COOKIE, test.requestId, test.acsUrl, test.expiresInSeconds, base),
        acsCookie(SETUP_RETURN_COOKIE, event.pathParameters!.token!, test.acsUrl, test.expiresInSeconds, base),
      ]);
    },

    'POST /setup/{token}/saml/activate': activate('saml'),

    'GET /setup/{token}/oidc': (event) => oidcPage(event, 200),

    'POST /setup/{token}/oidc': async (event) => {
      const { link, context } = await open(event);
      const form = post(event, link);
      const given = { issuer: form.get('issuer')?.trim() ?? '', clientId: form.get('clientId')?.trim() ?? '' };
      const clientSecret = form.get('clientSecret') ?? '';
      const idp = idpOf(event, 'oidc');
      try {
        if (link.protocol === 'oidc') await runtime.store.updateSetupLink(link.hash, { idp });
        await saveSetupOidc(runtime, { ...link, idp }, { ...given, clientSecret }, secretStore(), options.fetch);
      } catch (error) {
        if (isAppError(error, 'invalid_request') || isAppError(error, 'service_unavailable')) {
          const message = error.detail ?? error.message;
          const field = /client id/.test(message) ? 'clientId' : /client secret/.test(message) ? 'clientSecret' : 'issuer';
          return oidcPage(event, isAppError(error, 'invalid_request') ? 400 : 502, { ...given, errors: { [field]: message } });
        }
        throw error;
      }
      return redirect(303, `${context.base}/oidc?idp=${encodeURIComponent(idp)}`);
    },

    'GET /setup/{token}/oidc/test': async (event) => {
      const { link } = await open(event);
      const test = await startOidcSetupTest(runtime, link);
      await auditSetupUse(runtime, link, 'connection.test_started');
      return redirect(302, test.redirectUrl, [
        callbackCookie(OIDC_STATE_COOKIE, test.state, test.connectionId, test.expiresInSeconds, base),
        callbackCookie(SETUP_RETURN_COOKIE, event.pathParameters!.token!, test.connectionId, test.expiresInSeconds, base),
      ]);
    },

    'POST /setup/{token}/oidc/activate': activate('oidc'),

    'GET /setup/{token}/scim': async (event) => {
      const { link, context, cookies } = await open(event);
      only(link, 'scim');
      const nonce = randomBytes(16).toString('base64url');
      return html(200, scimSetupPage(context, { baseUrl: `${base}/scim/v2`, nonce }), cookies, nonce);
    },

    'POST /setup/{token}/scim/token': async (event) => {
      const { link, context, cookies } = await open(event);
      post(event, link);
      only(link, 'scim');
      const issued = await issueScimToken(runtime.store, link.tenantId, runtime.clock());
      await auditSetupUse(runtime, link, 'scim_token.issued', { scimTokenId: issued.id });
      const nonce = randomBytes(16).toString('base64url');
      return html(200, scimSetupPage(context, { baseUrl: `${base}/scim/v2`, token: issued.token, nonce }), cookies, nonce);
    },
  }, { appUrl: runtime.config.sessionAudience });
}

export const handler = createSetupHandler(instrumentRuntime(await runtimeFromEnvironment(process.env), logger));
