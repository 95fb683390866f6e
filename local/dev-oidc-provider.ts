import { createServer, type RequestListener } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';

/**
 * The development OpenID Provider of `npm start`: the npm `oidc-provider` with its built-in
 * development login form (any login name and password sign in), on its own localhost port.
 * For local use only.
 */
export interface DevOidcProvider {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  stop(): Promise<void>;
}

type ProviderConstructor = new (issuer: string, configuration: Record<string, unknown>) => { callback(): RequestListener };

export async function startDevOidcProvider(options: { port: number; redirectUris: string[] }): Promise<DevOidcProvider> {
  // oidc-provider ships no type declarations; only its constructor and callback are used here.
  const specifier: string = 'oidc-provider';
  const { Provider } = (await import(specifier)) as { Provider: ProviderConstructor };
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const issuer = `http://localhost:${options.port}`;
  const client = { clientId: 'sso-local', clientSecret: 'sso-local-development-secret' };
  const provider = new Provider(issuer, {
    clients: [{ client_id: client.clientId, client_secret: client.clientSecret, redirect_uris: options.redirectUris }],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'dev-1', use: 'sig', alg: 'RS256' }] },
    findAccount: (_ctx: unknown, id: string) => ({
      accountId: id,
      claims: () => {
        const email = id.includes('@') ? id : `${id}@demo.example`;
        const name = email.split('@')[0]!;
        return { sub: id, email, email_verified: true, name, given_name: name, family_name: 'Demo', groups: ['engineering'] };
      },
    }),
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'given_name', 'family_name'], groups: ['groups'] },
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['sso-local-development-cookie-key'] },
    ttl: { AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, Interaction: 3600, Session: 86400, Grant: 86400 },
  });
  const server = createServer(provider.callback());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, 'localhost', resolve);
  });
  return { issuer, ...client, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
