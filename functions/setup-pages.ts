/**
 * The pages of a self-serve setup link, in the house template of `pages.ts`. Everything that
 * comes from a request, the link or the IdP's metadata is escaped here.
 */
import type { SamlConnection, SetupLink, SetupTestResult } from './core/model';
import { escapeHtml as e, page } from './pages';

/** The IdPs the first page offers, with the steps that differ per IdP. */
export const SETUP_IDPS: Readonly<Record<string, { readonly name: string; readonly protocol: 'saml' | 'oidc'; readonly steps: string }>> = {
  okta: { name: 'Okta', protocol: 'saml', steps: 'In the Okta Admin Console: Applications \u2192 Create App Integration \u2192 SAML 2.0. Paste the ACS URL as "Single sign-on URL" and the entity id as "Audience URI". Then, under Sign On, copy the "Metadata URL" or download the metadata.' },
  entra: { name: 'Microsoft Entra ID', protocol: 'saml', steps: 'In Entra ID: Enterprise applications \u2192 New application \u2192 Create your own \u2192 Non-gallery. Under Single sign-on choose SAML; set "Identifier (Entity ID)" and "Reply URL (ACS URL)". Then copy the "App Federation Metadata Url".' },
  google: { name: 'Google Workspace', protocol: 'saml', steps: 'In the Google Admin console: Apps \u2192 Web and mobile apps \u2192 Add custom SAML app. Download the IdP metadata on the second screen, then paste the ACS URL and entity id on the third; map "Primary email" to email.' },
  jumpcloud: { name: 'JumpCloud', protocol: 'saml', steps: 'In JumpCloud: SSO Applications \u2192 Add New Application \u2192 Custom SAML App. Set the SP Entity ID and ACS URL, add an attribute "email", save, then export the metadata.' },
  adselfservice: { name: 'ADSelfService Plus', protocol: 'saml', steps: 'In ADSelfService Plus: Configuration \u2192 Password Sync/Single Sign On \u2192 Add Application \u2192 Custom Application. Enter the ACS URL and entity id, then download the IdP metadata file.' },
  'other-saml': { name: 'Another SAML 2.0 identity provider', protocol: 'saml', steps: 'Create a SAML 2.0 application with the values below, releasing the user\u2019s email address (as NameID or an "email" attribute), then give us its metadata.' },
  'okta-oidc': { name: 'Okta (OpenID Connect)', protocol: 'oidc', steps: 'In the Okta Admin Console: Applications \u2192 Create App Integration \u2192 OIDC \u2192 Web Application. Add the redirect URI below as "Sign-in redirect URI". The issuer is https://<your-org>.okta.com.' },
  'entra-oidc': { name: 'Microsoft Entra ID (OpenID Connect)', protocol: 'oidc', steps: 'In Entra ID: App registrations \u2192 New registration, platform Web, with the redirect URI below; then Certificates & secrets \u2192 New client secret. The issuer is https://login.microsoftonline.com/<tenant id>/v2.0.' },
  'google-oidc': { name: 'Google (OpenID Connect)', protocol: 'oidc', steps: 'In the Google Cloud console: APIs & Services \u2192 Credentials \u2192 Create OAuth client ID \u2192 Web application, with the redirect URI below. The issuer is https://accounts.google.com.' },
  'other-oidc': { name: 'Another OpenID Connect provider', protocol: 'oidc', steps: 'Register a web application with the redirect URI below, then give us its issuer, client id and client secret.' },
};

export const SETUP_STYLE =
  'main{max-width:46rem}h2{font-size:1.05rem;margin:1.6rem 0 .4rem}ul.idps{list-style:none;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(13rem,1fr));gap:.6rem}' +
  'ul.idps a{display:block;padding:.7rem .9rem;border:1px solid var(--line);border-radius:8px;text-decoration:none;color:var(--fg)}ul.idps a:hover{border-color:var(--accent)}' +
  'dl.values{display:grid;grid-template-columns:max-content 1fr max-content;gap:.4rem .8rem;align-items:center}dl.values dt{color:var(--muted)}dl.values dd{margin:0;overflow-wrap:anywhere}' +
  'textarea,input[type=url],input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem .7rem;border:1px solid var(--line);border-radius:8px;font:inherit;background:var(--card);color:var(--fg)}' +
  'textarea{min-height:8rem;font-family:ui-monospace,monospace;font-size:.8rem}.error{color:#c62828;margin:.3rem 0}.ok{color:#2e7d32}.copy{padding:.2rem .6rem;font-size:.8rem}' +
  'table.result{border-collapse:collapse;width:100%}table.result td,table.result th{text-align:left;border-bottom:1px solid var(--line);padding:.3rem .4rem;vertical-align:top;overflow-wrap:anywhere}';

/** Copy buttons and the upload that fills the metadata field, under the page's nonce (no inline handlers). */
export const SETUP_SCRIPT =
  "document.querySelectorAll('button[data-copy]').forEach(function(b){b.addEventListener('click',function(){navigator.clipboard&&navigator.clipboard.writeText(document.getElementById(b.dataset.copy).textContent);b.textContent='Copied';});});" +
  "var f=document.getElementById('metadataFile');if(f){f.addEventListener('change',function(){var file=f.files[0];if(!file)return;if(file.size>" +
  '%MAX%' +
  "){document.getElementById('metadataFileError').textContent='This file is larger than we accept.';return;}file.text().then(function(t){document.getElementById('metadataXml').value=t;});});}";

export interface SetupContext {
  readonly base: string;
  readonly link: SetupLink;
  readonly tenantName: string;
  readonly csrf: string;
}

const header = (c: SetupContext) =>
  `<p class="ref" style="margin-top:0;padding-top:0;border:0">Single sign-on setup for <strong>${e(c.tenantName)}</strong> \u00b7 this link works until ${e(c.link.validUntil.slice(0, 16).replace('T', ' '))} UTC</p>`;

/** The first page: pick the identity provider. */
export function pickIdpPage(c: SetupContext): string {
  const offered = Object.entries(SETUP_IDPS).filter(([, idp]) => idp.protocol === c.link.protocol);
  return page(
    'Set up single sign-on',
    header(c) +
      `<h1>Connect your identity provider</h1><p>Which identity provider does your organization use?</p>` +
      `<ul class="idps">${offered.map(([id, idp]) => `<li><a data-idp="${e(id)}" href="${e(`${c.base}/${c.link.protocol}?idp=${encodeURIComponent(id)}`)}">${e(idp.name)}</a></li>`).join('')}</ul>`,
    { style: SETUP_STYLE },
  );
}

function copyRow(id: string, label: string, value: string): string {
  return `<dt>${e(label)}</dt><dd><code id="${e(id)}">${e(value)}</code></dd><dd><button type="button" class="button secondary copy" data-copy="${e(id)}">Copy</button></dd>`;
}

/** What a field of the metadata form says back: the value given, and its error. */
export interface SamlFormState {
  readonly metadataXml?: string;
  readonly metadataUrl?: string;
  readonly errors?: { readonly metadataXml?: string; readonly metadataUrl?: string; readonly form?: string };
}

/** The SAML page: the values to paste, the IdP's metadata back, then test and activate. */
export function samlSetupPage(
  c: SetupContext,
  input: { idp: string; sp: { entityId: string; acsUrl: string }; connection?: SamlConnection; form?: SamlFormState; nonce: string; maxBytes: number },
): string {
  const idp = SETUP_IDPS[input.idp] ?? SETUP_IDPS['other-saml']!;
  const form = input.form ?? {};
  const q = `?idp=${encodeURIComponent(input.idp)}`;
  const err = (text: string | undefined, field: string) => (text ? `<p class="error" data-error="${e(field)}">${e(text)}</p>` : '');
  const connection = input.connection;
  const step3 = connection
    ? `<p>We trust <code data-field="idp-entity-id">${e(connection.idpEntityId)}</code>, signing in at <code>${e(connection.idpSsoUrl)}</code>.</p>` + testAndActivate(c, { protocol: 'saml', idpName: idp.name, q, enabled: connection.enabled })
    : '<p>Give us your identity provider\u2019s metadata first.</p>';
  return page(
    `Set up ${idp.name}`,
    header(c) +
      `<h1>Connect ${e(idp.name)}</h1><p><a href="${e(c.base)}">\u2190 Another identity provider</a></p>` +
      `<h2>1. Create the application in ${e(idp.name)}</h2><p>${e(idp.steps)}</p>` +
      `<dl class="values">${copyRow('acs-url', 'ACS URL (Reply URL)', input.sp.acsUrl)}${copyRow('entity-id', 'Entity ID (Audience)', input.sp.entityId)}` +
      `${copyRow('name-id', 'NameID format', 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress')}${copyRow('attr-email', 'Attribute: email', 'email')}` +
      `${copyRow('attr-name', 'Attribute: name', 'name')}${copyRow('attr-groups', 'Attribute: groups (optional)', 'groups')}</dl>` +
      `<p><a id="sp-metadata" href="${e(`${c.base}/saml/metadata`)}" download>Download our SP metadata (XML)</a></p>` +
      `<h2>2. Give us ${e(idp.name)}\u2019s metadata</h2>` +
      `<form method="post" action="${e(`${c.base}/saml${q}`)}"><input type="hidden" name="csrf" value="${e(c.csrf)}">${err(form.errors?.form, 'form')}` +
      `<p><label for="metadataUrl">Metadata URL (https)</label></p><input type="url" id="metadataUrl" name="metadataUrl" value="${e(form.metadataUrl ?? '')}" placeholder="https://">${err(form.errors?.metadataUrl, 'metadataUrl')}` +
      `<p><label for="metadataXml">or paste the metadata XML</label> (or <label for="metadataFile">upload the file</label>: <input type="file" id="metadataFile" accept=".xml,application/xml,text/xml">)</p>` +
      `<p class="error" id="metadataFileError"></p><textarea id="metadataXml" name="metadataXml" spellcheck="false">${e(form.metadataXml ?? '')}</textarea>${err(form.errors?.metadataXml, 'metadataXml')}` +
      `<div class="actions"><button class="button" id="save" type="submit">Save the metadata</button></div></form>` +
      `<h2>3. Test, then activate</h2>${step3}`,
    { style: SETUP_STYLE, script: { nonce: input.nonce, code: SETUP_SCRIPT.replace('%MAX%', String(input.maxBytes)) } },
  );
}

/**
 * Step 3 of a SAML or OIDC page, once the IdP's settings are saved: "Test the connection" (a real
 * sign-in through the IdP, evaluated, creating nothing), the last test's result, then "Activate"
 * once a test passed, or the connection's status.
 */
function testAndActivate(c: SetupContext, input: { protocol: 'saml' | 'oidc'; idpName: string; q: string; enabled: boolean }): string {
  const test = c.link.test;
  const passed = test !== undefined && test.outcome !== 'refused';
  return (
    `<p>Sign in through your identity provider once: we show what a real sign-in would do, without creating an account.</p>` +
    `<div class="actions"><a class="button${passed ? ' secondary' : ''}" id="test" href="${e(`${c.base}/${input.protocol}/test${input.q}`)}">Test the connection</a></div>` +
    (test ? testResult(test) : '') +
    (input.enabled
      ? `<p class="ok" data-field="status"><strong>Active.</strong> People of ${e(c.tenantName)} can now sign in through ${e(input.idpName)}.</p>`
      : passed
        ? `<form method="post" action="${e(`${c.base}/${input.protocol}/activate${input.q}`)}"><input type="hidden" name="csrf" value="${e(c.csrf)}"><p>The test passed. Turn the connection on for everyone of ${e(c.tenantName)}:</p><div class="actions"><button class="button" id="activate" type="submit">Activate</button></div></form>`
        : `<p data-field="status">The connection is <strong>not active</strong> yet: activate it once a test passes.</p>`)
  );
}

const OUTCOMES: Readonly<Record<string, string>> = {
  create: 'A new account would be created for this person.',
  link: 'This sign-in would be joined to the existing account of the same email.',
  update: 'This person\u2019s existing account would be updated.',
  keep: 'This person\u2019s existing account would be used as it is.',
  refused: 'This sign-in would be refused.',
};

/** What the test login showed: the mapped user, roles, and a refusal in words. */
export function testResult(test: SetupTestResult): string {
  const rows: [string, string][] = [
    ['Subject', test.subject],
    ['Email', test.email ?? '(none)'],
    ['Name', test.name ?? '(none)'],
    ['Roles', test.roles.length ? test.roles.join(', ') : '(none)'],
    ...Object.entries(test.attributes).map(([name, value]): [string, string] => [`Attribute ${name}`, value]),
  ];
  return (
    `<div id="test-result" data-outcome="${e(test.outcome)}"><p class="${test.outcome === 'refused' ? 'error' : 'ok'}"><strong>${test.outcome === 'refused' ? 'Test failed.' : 'Test passed.'}</strong> ${e(OUTCOMES[test.outcome] ?? test.outcome)} (no account was created by this test, at ${e(test.at)})</p>` +
    (test.refusal ? `<p class="error">Why: <code data-field="refusal-code">${e(test.refusal.code)}</code> ${e(test.refusal.detail ?? '')}</p>` : '') +
    `<table class="result">${rows.map(([k, v]) => `<tr><th>${e(k)}</th><td>${e(v)}</td></tr>`).join('')}</table></div>`
  );
}

/** The SCIM page: the base URL, the token shown once, and the IdP's steps. */
export function scimSetupPage(c: SetupContext, input: { baseUrl: string; token?: string; nonce: string }): string {
  return page(
    'Set up SCIM provisioning',
    header(c) +
      `<h1>Provision users with SCIM</h1><p>Your identity provider can create, update and deactivate ${e(c.tenantName)}\u2019s accounts here. In Okta: the app\u2019s Provisioning tab \u2192 SCIM 2.0; in Entra ID: Provisioning \u2192 Automatic; in JumpCloud: Identity Management \u2192 SCIM. Give it the base URL and the token below (HTTP header "Authorization: Bearer").</p>` +
      `<dl class="values">${copyRow('scim-base-url', 'SCIM base URL', input.baseUrl)}${input.token ? copyRow('scim-token', 'Bearer token', input.token) : ''}</dl>` +
      (input.token
        ? `<p class="error"><strong>This is the only time the token is shown.</strong> Paste it into your identity provider now.</p>`
        : `<form method="post" action="${e(`${c.base}/scim/token`)}"><input type="hidden" name="csrf" value="${e(c.csrf)}"><div class="actions"><button class="button" id="issue-token" type="submit">Issue the SCIM token</button></div></form>`),
    { style: SETUP_STYLE, script: { nonce: input.nonce, code: SETUP_SCRIPT.replace('%MAX%', '0') } },
  );
}

/** What the OIDC form says back: the values given (never the secret), and each field's error. */
export interface OidcFormState {
  readonly issuer?: string;
  readonly clientId?: string;
  readonly errors?: { readonly issuer?: string; readonly clientId?: string; readonly clientSecret?: string };
}

/** The OIDC page: the redirect URI to register, then the issuer, client id and secret back. */
export function oidcSetupPage(
  c: SetupContext,
  input: { idp: string; redirectUri: string; connection?: { issuer: string; clientId: string; enabled: boolean }; form?: OidcFormState; nonce: string },
): string {
  const idp = SETUP_IDPS[input.idp] ?? SETUP_IDPS['other-oidc']!;
  const form = input.form ?? {};
  const err = (text: string | undefined, field: string) => (text ? `<p class="error" data-error="${e(field)}">${e(text)}</p>` : '');
  const q = `?idp=${encodeURIComponent(input.idp)}`;
  const saved = input.connection;
  return page(
    `Set up ${idp.name}`,
    header(c) +
      `<h1>Connect ${e(idp.name)}</h1><p><a href="${e(c.base)}">\u2190 Another identity provider</a></p>` +
      `<h2>1. Register the application</h2><p>${e(idp.steps)}</p>` +
      `<dl class="values">${copyRow('redirect-uri', 'Redirect URI', input.redirectUri)}${copyRow('scopes', 'Scopes', 'openid email profile')}</dl>` +
      `<h2>2. Give us its issuer, client id and secret</h2>` +
      `<form method="post" action="${e(`${c.base}/oidc${q}`)}"><input type="hidden" name="csrf" value="${e(c.csrf)}">` +
      `<p><label for="issuer">Issuer (https)</label></p><input type="url" id="issuer" name="issuer" value="${e(form.issuer ?? saved?.issuer ?? '')}">${err(form.errors?.issuer, 'issuer')}` +
      `<p><label for="clientId">Client id</label></p><input type="text" id="clientId" name="clientId" value="${e(form.clientId ?? saved?.clientId ?? '')}">${err(form.errors?.clientId, 'clientId')}` +
      `<p><label for="clientSecret">Client secret</label>${saved ? ' (stored; leave empty to keep it)' : ''}</p><input type="password" id="clientSecret" name="clientSecret" autocomplete="off" value="">${err(form.errors?.clientSecret, 'clientSecret')}` +
      `<div class="actions"><button class="button" id="save" type="submit">Save</button></div></form>` +
      `<h2>3. Test, then activate</h2>` +
      (saved
        ? `<p>We trust <code data-field="issuer">${e(saved.issuer)}</code> for client <code>${e(saved.clientId)}</code>; the secret is stored as a secret and is never shown again.</p>` + testAndActivate(c, { protocol: 'oidc', idpName: idp.name, q, enabled: saved.enabled })
        : '<p>Give us the issuer, client id and secret first.</p>'),
    { style: SETUP_STYLE, script: { nonce: input.nonce, code: SETUP_SCRIPT.replace('%MAX%', '0') } },
  );
}
