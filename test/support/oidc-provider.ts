import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';

/** An end user of the test OpenID Provider; every member but `sub` is an optional claim. */
export interface TestAccount {
  sub: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
  given_name?: string;
  family_name?: string;
  groups?: string[];
  [claim: string]: unknown;
}

/** A client registered statically with the test OpenID Provider (RFC 7591 metadata names). */
export interface TestClient {
  client_id: string;
  client_secret?: string;
  redirect_uris: string[];
  token_endpoint_auth_method?: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
  jwks?: { keys: JWK[] };
  /** Where the provider fetches the client's public keys (private_key_jwt); works where `jwks` trips Jest's module realm. */
  jwks_uri?: string;
  id_token_signed_response_alg?: string;
}

/** A real OpenID Provider (npm `oidc-provider`) on 127.0.0.1 whose login and consent complete by themselves. */
export interface TestProvider {
  /** The issuer identifier, `http://127.0.0.1:PORT` (no trailing slash). */
  readonly issuer: string;
  /** Who the next login signs in as (the interaction is completed automatically as this account). */
  signInAs(account: TestAccount): void;
  /**
   * Follows an authorization URL through the provider's login and consent like a browser (a fresh
   * cookie jar per call, `redirect: 'manual'`) and returns the URL the provider finally redirects
   * to on the client's redirect_uri (with code, state, iss, or an error). Never follows that last
   * redirect. Throws when the provider answers with anything but a redirect (e.g. an unknown client).
   */
  authorize(authorizationUrl: string): Promise<URL>;
  /** Replaces the signing key with a fresh RS256 key (new kid); the old key is no longer published. Issuer, port and stored grants are kept. */
  rotateSigningKey(): Promise<{ kid: string }>;
  /** The current signing key's kid. */
  currentKid(): string;
  /** The private signing JWK currently in use, so a test can forge a token with the right kid. */
  signingKey(): JWK;
  /** How many times the JWKS endpoint was fetched since the provider started. */
  jwksFetches(): number;
  /** The next successful token response carries this string as its id_token instead of the real one; `undefined` cancels. */
  replaceNextIdToken(idToken: string | undefined): void;
  /**
   * Claims merged into the next ID token the provider issues, signed with its real key. They override
   * the account's claims and nonce, auth_time, iat, acr, amr, sid; iss, aud, exp and sub are always set
   * by the provider (forge those with `signingKey()` and `replaceNextIdToken`). `{}` cancels.
   */
  setExtraClaims(claims: Record<string, unknown>): void;
  stop(): Promise<void>;
}

/** Starts a provider on 127.0.0.1 (an ephemeral port unless `port` is given) with these clients registered. */
export async function startTestProvider(options: { clients: TestClient[]; port?: number }): Promise<TestProvider> {
  const Provider = await loadProvider();
  const adapter = createSharedAdapter();
  const accounts = new Map<string, TestAccount>();
  let currentAccount: TestAccount | undefined;
  let signing = await generateSigningKey();
  let jwksFetchCount = 0;
  let nextIdToken: string | undefined;
  let extraClaims: Record<string, unknown> = {};
  let provider: OidcProvider;
  let handle: RequestListener;

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (path.startsWith('/interaction/')) {
      completeInteraction(req, res).catch((error: unknown) => {
        res.statusCode = 500;
        res.end(`test provider interaction failed: ${error instanceof Error ? error.message : String(error)}`);
      });
      return;
    }
    handle(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  function createProvider(): OidcProvider {
    const instance = new Provider(issuer, {
      adapter,
      clients: options.clients.map((client) => ({ ...client })),
      jwks: { keys: [structuredClone(signing.privateJwk)] },
      findAccount: (_ctx: unknown, id: string) => {
        const account = accounts.get(id);
        return account && { accountId: id, claims: () => ({ ...account }) };
      },
      claims: {
        openid: ['sub'],
        email: ['email', 'email_verified'],
        profile: ['name', 'given_name', 'family_name'],
        groups: ['groups'],
      },
      // Scope-requested claims go into the ID token, not only the userinfo response.
      conformIdTokenClaims: false,
      responseTypes: ['code'],
      // S256 is the only method v9 accepts; require it of confidential clients too.
      pkce: { required: () => true },
      enabledJWA: { idTokenSigningAlgValues: ['RS256', 'HS256'] },
      features: { devInteractions: { enabled: false } },
      interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
      cookies: { keys: ['oidc-provider-harness-cookie-key-1', 'oidc-provider-harness-cookie-key-2'] },
      // The package defaults, stated so that it does not print a notice for each.
      ttl: { AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, Interaction: 3600, Session: 1209600, Grant: 1209600, RefreshToken: 1209600 },
      renderError: (ctx: KoaContext, out: Record<string, unknown>) => {
        ctx.type = 'json';
        ctx.body = out;
      },
    });

    const jwksPath = instance.pathFor('jwks');
    const tokenPath = instance.pathFor('token');
    instance.use(async (ctx, next) => {
      if (ctx.method === 'GET' && ctx.path === jwksPath) jwksFetchCount += 1;
      await next();
      if (nextIdToken !== undefined && ctx.path === tokenPath && ctx.status === 200 && isRecord(ctx.body) && typeof ctx.body.id_token === 'string') {
        ctx.body.id_token = nextIdToken;
        nextIdToken = undefined;
      }
    });

    const { issue } = instance.IdToken.prototype;
    instance.IdToken.prototype.issue = function issueWithExtraClaims(this: IdTokenInstance, issueOptions: { use: string }) {
      if (issueOptions.use === 'idtoken') {
        for (const [claim, value] of Object.entries(extraClaims)) this.set(claim, value);
        extraClaims = {};
      }
      return issue.call(this, issueOptions);
    };
    return instance;
  }

  async function completeInteraction(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === 'login') {
      if (!currentAccount) throw new Error('no account to sign in as: call signInAs(account) before authorize()');
      await provider.interactionFinished(req, res, { login: { accountId: currentAccount.sub } }, { mergeWithLastSubmission: false });
      return;
    }
    if (details.prompt.name === 'consent') {
      const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = details.prompt.details;
      const grant = (details.grantId ? await provider.Grant.find(details.grantId) : undefined)
        ?? new provider.Grant({ accountId: details.session?.accountId, clientId: String(details.params.client_id) });
      if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
      if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      return;
    }
    throw new Error(`unexpected prompt ${details.prompt.name}`);
  }

  function install(): void {
    provider = createProvider();
    handle = provider.callback();
  }
  install();

  return {
    issuer,
    signInAs(account) {
      accounts.set(account.sub, { ...account });
      currentAccount = account;
    },
    async authorize(authorizationUrl) {
      const jar = new CookieJar();
      let url = new URL(authorizationUrl);
      if (url.origin !== new URL(issuer).origin) throw new Error(`${url.href} is not on the test provider ${issuer}`);
      for (let hop = 0; hop < 20; hop += 1) {
        const response = await fetch(url, { redirect: 'manual', headers: { cookie: jar.headerFor(url) } });
        jar.store(response.headers.getSetCookie());
        const location = response.headers.get('location');
        if (response.status < 300 || response.status >= 400 || !location) {
          throw new Error(`test provider answered ${response.status} at ${url.pathname}: ${await response.text()}`);
        }
        url = new URL(location, url);
        // The provider only ever leaves its own origin for the client's redirect_uri.
        if (url.origin !== new URL(issuer).origin) return url;
      }
      throw new Error('test provider redirected more than 20 times');
    },
    async rotateSigningKey() {
      // oidc-provider keeps its keystore private, so a new Provider instance takes over behind the
      // same server; the shared adapter keeps sessions, grants and codes across the rotation.
      signing = await generateSigningKey();
      install();
      return { kid: signing.kid };
    },
    currentKid: () => signing.kid,
    signingKey: () => structuredClone(signing.privateJwk),
    jwksFetches: () => jwksFetchCount,
    replaceNextIdToken(idToken) {
      nextIdToken = idToken;
    },
    setExtraClaims(claims) {
      extraClaims = { ...claims };
    },
    async stop() {
      const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
      server.closeAllConnections();
      await closed;
    },
  };
}

async function generateSigningKey(): Promise<{ kid: string; privateJwk: JWK }> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, privateJwk: { ...jwk, kid, use: 'sig', alg: 'RS256' } };
}

/**
 * A storage adapter (oidc-provider's documented adapter interface) shared by every Provider
 * instance of one test provider, so that rotating the key does not forget what was issued.
 */
function createSharedAdapter(): new (model: string) => object {
  const entries = new Map<string, { payload: Record<string, unknown>; expiresAt: number }>();
  const byUid = new Map<string, string>();
  const byUserCode = new Map<string, string>();
  const byGrant = new Map<string, Set<string>>();
  const read = (key: string) => {
    const entry = entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      entries.delete(key);
      return undefined;
    }
    return entry.payload;
  };

  return class SharedAdapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: Record<string, unknown>, expiresIn?: number): Promise<void> {
      const key = `${this.model}:${id}`;
      entries.set(key, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
      if (typeof payload.uid === 'string') byUid.set(payload.uid, id);
      if (typeof payload.userCode === 'string') byUserCode.set(payload.userCode, id);
      if (typeof payload.grantId === 'string') {
        const members = byGrant.get(payload.grantId) ?? new Set<string>();
        byGrant.set(payload.grantId, members.add(key));
      }
    }

    async find(id: string): Promise<Record<string, unknown> | undefined> {
      return read(`${this.model}:${id}`);
    }

    async findByUid(uid: string): Promise<Record<string, unknown> | undefined> {
      const id = byUid.get(uid);
      return id === undefined ? undefined : this.find(id);
    }

    async findByUserCode(userCode: string): Promise<Record<string, unknown> | undefined> {
      const id = byUserCode.get(userCode);
      return id === undefined ? undefined : this.find(id);
    }

    async consume(id: string): Promise<void> {
      const payload = read(`${this.model}:${id}`);
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id: string): Promise<void> {
      entries.delete(`${this.model}:${id}`);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      for (const key of byGrant.get(grantId) ?? []) entries.delete(key);
      byGrant.delete(grantId);
    }
  };
}

/** Just enough of a browser's cookie store for the provider's session and interaction cookies. */
class CookieJar {
  readonly #cookies = new Map<string, { name: string; value: string; path: string }>();

  store(setCookies: string[]): void {
    for (const header of setCookies) {
      const [pair = '', ...attributes] = header.split(';').map((part) => part.trim());
      const separator = pair.indexOf('=');
      const name = pair.slice(0, separator);
      const value = pair.slice(separator + 1);
      let path = '/';
      let expired = value === '';
      for (const attribute of attributes) {
        const [key = '', attributeValue = ''] = attribute.split('=');
        if (key.toLowerCase() === 'path') path = attributeValue;
        if (key.toLowerCase() === 'expires' && Date.parse(attributeValue) <= Date.now()) expired = true;
        if (key.toLowerCase() === 'max-age' && Number(attributeValue) <= 0) expired = true;
      }
      const id = `${path} ${name}`;
      if (expired) this.#cookies.delete(id);
      else this.#cookies.set(id, { name, value, path });
    }
  }

  headerFor(url: URL): string {
    return [...this.#cookies.values()]
      .filter(({ path }) => url.pathname === path || url.pathname.startsWith(path.endsWith('/') ? path : `${path}/`))
      .map(({ name, value }) => `${name}=${value}`)
      .join('; ');
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

// oidc-provider ships no type declarations (and @types/oidc-provider is not installed): it is
// imported by a computed specifier, which tsc types as `any`, and used through the members below.
type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

interface KoaContext {
  method: string;
  path: string;
  status: number;
  type: string;
  body: unknown;
}

interface IdTokenInstance {
  set(claim: string, value: unknown): void;
}

interface GrantInstance {
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  addResourceScope(indicator: string, scope: string): void;
  save(): Promise<string>;
}

interface InteractionDetails {
  prompt: {
    name: string;
    details: { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
  };
  params: Record<string, unknown>;
  session?: { accountId: string };
  grantId?: string;
}

interface OidcProvider {
  callback(): RequestListener;
  use(middleware: (ctx: KoaContext, next: () => Promise<void>) => Promise<void>): void;
  pathFor(route: string): string;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
  interactionFinished(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, options: { mergeWithLastSubmission: boolean }): Promise<void>;
  readonly Grant: { new (properties: { accountId: string | undefined; clientId: string }): GrantInstance; find(id: string): Promise<GrantInstance | undefined> };
  readonly IdToken: { prototype: IdTokenInstance & { issue(this: IdTokenInstance, options: { use: string }): Promise<string> } };
}

type ProviderConstructor = new (issuer: string, configuration: Record<string, unknown>) => OidcProvider;

let providerModule: Promise<ProviderConstructor> | undefined;

function loadProvider(): Promise<ProviderConstructor> {
  const specifier: string = 'oidc-provider';
  providerModule ??= import(specifier).then((module: { Provider: ProviderConstructor }) => module.Provider);
  return providerModule;
}
