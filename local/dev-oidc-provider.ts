import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import { DEV_PERSONAS, DEMO_DOMAIN, type DevPersona } from './dev-personas';

/**
 * The development OpenID Provider of `npm start`: the npm `oidc-provider` on its own localhost
 * port, with a page that asks who you are at every login (a persona, any login name, or Cancel,
 * which answers `access_denied`). It never signs anyone back in silently: the provider's session
 * cookie is dropped from every authorization request. For local use only.
 */
export interface DevOidcProvider {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  stop(): Promise<void>;
}

interface InteractionDetails {
  readonly uid: string;
  readonly prompt: { readonly name: string; readonly details: { readonly missingOIDCScope?: string[]; readonly missingOIDCClaims?: string[] } };
  readonly params: Readonly<Record<string, unknown>>;
  readonly session?: { readonly accountId?: string };
  readonly grantId?: string;
}

interface Grant {
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  save(): Promise<string>;
}

interface Provider {
  callback(): RequestListener;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
  interactionFinished(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, options: { mergeWithLastSubmission: boolean }): Promise<void>;
  Grant: { new (init: { accountId: string | undefined; clientId: string }): Grant; find(id: string): Promise<Grant | undefined> };
}

type ProviderConstructor = new (issuer: string, configuration: Record<string, unknown>) => Provider;

const escapeHtml = (value: string) =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function claimsOf(id: string): Record<string, unknown> {
  const persona: DevPersona | undefined = DEV_PERSONAS.find((p) => p.id === id);
  if (persona) {
    return {
      sub: persona.id,
      ...(persona.email ? { email: persona.email, email_verified: true } : {}),
      name: `${persona.givenName} ${persona.familyName}`,
      given_name: persona.givenName,
      family_name: persona.familyName,
      groups: [...persona.groups],
    };
  }
  const email = id.includes('@') ? id : `${id}@${DEMO_DOMAIN}`;
  const name = email.split('@')[0]!;
  return { sub: id, email, email_verified: true, name, given_name: name, family_name: 'Demo', groups: ['engineering'] };
}

function loginPage(uid: string): string {
  const action = `/interaction/${encodeURIComponent(uid)}`;
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Development OpenID Provider</title>` +
    `<style>body{font:16px system-ui;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222}.persona{display:block;width:100%;text-align:left;padding:.6rem .8rem;margin:.4rem 0;border:1px solid #ccd;border-radius:8px;background:#f4f8f4;font:inherit;cursor:pointer}` +
    `.persona small{display:block;color:#666}.banner{background:#e8f4ff;border:1px solid #9cc7ee;padding:.5rem .8rem;border-radius:8px}input{padding:.4rem}</style></head><body>` +
    `<h1>Development OpenID Provider</h1><p class="banner">For local development only. It asks at every sign-in: nobody is signed back in silently.</p><p>Who are you?</p>` +
    `<form method="post" action="${action}">` +
    DEV_PERSONAS.map((p) => `<button class="persona" type="submit" name="persona" value="${escapeHtml(p.id)}">${escapeHtml(`${p.givenName} ${p.familyName}`)} <span>${escapeHtml(p.email ?? '(no email)')}</span><small>${escapeHtml(p.role)}</small></button>`).join('') +
    `<p><button type="submit" name="cancel" value="1">Cancel</button></p></form>` +
    `<form method="post" action="${action}"><p><label>Or any login name <input name="login" required></label> <button type="submit">Sign in</button></p></form></body></html>`
  );
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export async function startDevOidcProvider(options: { port: number; redirectUris: string[] }): Promise<DevOidcProvider> {
  // oidc-provider ships no type declarations; only what is used here is typed above.
  const specifier: string = 'oidc-provider';
  const { Provider } = (await import(specifier)) as { Provider: ProviderConstructor };
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const issuer = `http://localhost:${options.port}`;
  const client = { clientId: 'sso-local', clientSecret: 'sso-local-development-secret' };
  const provider = new Provider(issuer, {
    clients: [{ client_id: client.clientId, client_secret: client.clientSecret, redirect_uris: options.redirectUris }],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'dev-1', use: 'sig', alg: 'RS256' }] },
    findAccount: (_ctx: unknown, id: string) => ({ accountId: id, claims: () => claimsOf(id) }),
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'given_name', 'family_name'], groups: ['groups'] },
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    cookies: { keys: ['sso-local-development-cookie-key'] },
    ttl: { AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, Interaction: 3600, Session: 86400, Grant: 86400 },
  });
  const handle = provider.callback();

  async function interaction(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === 'consent') {
      // A development provider consents on the user's behalf: the question adds nothing locally.
      const { missingOIDCScope, missingOIDCClaims } = details.prompt.details;
      const grant = (details.grantId ? await provider.Grant.find(details.grantId) : undefined) ?? new provider.Grant({ accountId: details.session?.accountId, clientId: String(details.params.client_id) });
      if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
      if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
      await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(loginPage(details.uid));
      return;
    }
    const form = await readForm(req);
    if (form.get('cancel')) {
      await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'End-User aborted interaction' }, { mergeWithLastSubmission: false });
      return;
    }
    const accountId = (form.get('persona') || form.get('login') || '').trim();
    if (!accountId) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end('choose a persona or type a login name');
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
  }

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', issuer).pathname;
    if (path.startsWith('/interaction/')) {
      interaction(req, res).catch((error: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`development provider: ${error instanceof Error ? error.message : String(error)}`);
      });
      return;
    }
    // Every authorization asks who you are: without its session cookie the provider cannot reuse a login.
    if (path === '/auth' && req.headers.cookie) {
      req.headers.cookie = req.headers.cookie.split(';').filter((c) => !c.trim().startsWith('_session')).join(';');
    }
    handle(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, 'localhost', resolve);
  });
  return {
    issuer,
    ...client,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
