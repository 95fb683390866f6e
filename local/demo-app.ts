/**
 * The demo SaaS page `npm start` serves at `/`: what a customer's front end would do with this
 * service. Signed out, it offers the three ways in (SAML, OIDC, and "my work email" through
 * home-realm discovery); signed in, it shows who you are as the front end reads `GET /session`,
 * the session token's claims, and Log out. Nothing here is part of a deployment.
 */
import { escapeHtml, page } from '../functions/pages';

export interface DemoApp {
  /** The page for a request to `/`, given its Cookie header. */
  home(cookieHeader: string | undefined): string;
}

/** The payload of the session cookie's JWT, decoded only to show it (the page's data comes from GET /session). */
function tokenClaims(cookieHeader: string | undefined): Record<string, unknown> | undefined {
  const token = cookieHeader?.split(';').map((c) => c.trim()).find((c) => c.startsWith('sso_session='))?.slice('sso_session='.length);
  const payload = token?.split('.')[1];
  if (!payload) return undefined;
  try {
    return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** JSON that may sit inside a <script> element: no `<` can close it. */
const scriptJson = (value: unknown) => JSON.stringify(value ?? null).replace(/</g, '\\u003c');

const SCRIPT = `
const claims = JSON.parse(document.getElementById('claims-data').textContent);
const show = (id, on) => { document.getElementById(id).hidden = !on; };
fetch('/session', { headers: { accept: 'application/json' } }).then(async (response) => {
  const body = await response.json();
  if (response.status !== 200) {
    show('signed-out', true);
    document.getElementById('status').textContent = 'Not signed in (GET /session answered ' + response.status + ' ' + body.code + ')';
    return;
  }
  const { user, session } = body;
  const rows = [['Name', user.name], ['Email', user.email], ['Roles', (user.roles || []).join(', ')], ['Tenant', user.tenantId],
    ['Signed in with', session.amr.join(', ').toUpperCase() + ' through ' + session.connectionId], ['Session ends', new Date(session.expiresAt).toLocaleString()]];
  const table = document.getElementById('who');
  for (const [label, value] of rows) {
    const tr = table.insertRow();
    const th = document.createElement('th'); th.textContent = label; tr.appendChild(th);
    tr.insertCell().textContent = value ?? '-';
  }
  document.getElementById('greeting').textContent = 'Signed in as ' + (user.name || user.email);
  document.getElementById('status').textContent = 'GET /session answered 200: this is what your front end reads.';
  document.getElementById('session-json').textContent = JSON.stringify(body, null, 2);
  document.getElementById('claims').textContent = claims ? JSON.stringify(claims, null, 2) : '(no session cookie)';
  show('signed-in', true);
});`;

const EXTRA_STYLE =
  '<style>main{max-width:44rem}table{border-collapse:collapse;width:100%;margin:.8rem 0}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line)}th{width:9rem;color:var(--muted);font-weight:500}' +
  'pre{background:var(--bg);padding:.8rem;border-radius:8px;overflow:auto;font-size:.8rem}.ways{display:grid;gap:.7rem;margin:1.2rem 0}.ways form{display:flex;gap:.5rem}.ways input{flex:1}' +
  'footer{margin-top:1.5rem;color:var(--muted);font-size:.85rem}</style>';

export function createDemoApp(options: { baseUrl: string; samlConnectionId: string; oidcConnectionId: string }): DemoApp {
  const returnTo = encodeURIComponent(`${options.baseUrl}/`);
  return {
    home(cookieHeader) {
      const body =
        `<h1 id="greeting">Demo SaaS app</h1><p id="status" class="muted">Checking GET /session…</p>` +
        `<section id="signed-out" hidden><p>This is what your customers' users would see. Sign in one of three ways:</p><div class="ways">` +
        `<a class="button" id="sign-in-saml" href="/saml/${encodeURIComponent(options.samlConnectionId)}/login?return_to=${returnTo}">Sign in with SAML</a>` +
        `<a class="button" id="sign-in-oidc" href="/oidc/${encodeURIComponent(options.oidcConnectionId)}/login?return_to=${returnTo}">Sign in with OIDC</a>` +
        `<form method="get" action="/login"><input type="email" name="email" placeholder="you@demo.example" aria-label="Work email" required>` +
        `<input type="hidden" name="return_to" value="${escapeHtml(`${options.baseUrl}/`)}"><button class="button" id="sign-in-email" type="submit">Sign in with my work email</button></form></div></section>` +
        `<section id="signed-in" hidden><table id="who"></table>` +
        `<form method="post" action="/session/logout?return_to=${returnTo}"><button class="button" id="log-out" type="submit">Log out</button></form>` +
        `<h2>GET /session</h2><pre id="session-json"></pre><h2>The session token's claims (decoded)</h2><pre id="claims"></pre></section>` +
        `<footer>Local demo only. <a href="/saml/${encodeURIComponent(options.samlConnectionId)}/metadata">SP metadata</a> · <a href="/.well-known/jwks.json">JWKS</a> · <a href="/login">GET /login</a></footer>` +
        `<script type="application/json" id="claims-data">${scriptJson(tokenClaims(cookieHeader))}</script><script>${SCRIPT}</script>`;
      return page('Demo SaaS app', body).replace('</head>', `${EXTRA_STYLE}</head>`);
    },
  };
}
