/** The demo tenant and connections of `npm start`, created when missing and never overwritten. */
import type { Connection, OidcConnection, SamlConnection } from '../functions/core/model';
import { DEFAULT_ATTRIBUTE_MAPPING } from '../functions/core/provisioning';
import type { Store } from '../functions/core/store/store';

export interface DemoSeed {
  readonly baseUrl: string;
  readonly saml: { readonly entityId: string; readonly ssoUrl: string; readonly certificate: string };
  readonly oidc: { readonly issuer: string; readonly clientId: string; readonly clientSecretName: string };
  /** @default { tenant: 'demo', saml: 'demo-saml', oidc: 'demo-oidc' } */
  readonly ids?: { readonly tenant: string; readonly saml: string; readonly oidc: string };
  /** The policy both connections get when they are created. @default the default mapping, role `member` */
  readonly policy?: Partial<Pick<Connection, 'attributeMapping' | 'roles' | 'allowedEmailDomains' | 'linkByEmail'>>;
}

/**
 * Creates the demo tenant and its two connections where they are missing. Existing ones are
 * kept as they are, so an admin's edits (a policy, a disabled connection) survive a restart;
 * `notes` says which kept connection no longer points at the development IdP it was made for.
 */
export async function seedDemo(store: Store, seed: DemoSeed): Promise<{ created: string[]; notes: string[] }> {
  const ids = seed.ids ?? { tenant: 'demo', saml: 'demo-saml', oidc: 'demo-oidc' };
  const created: string[] = [];
  const notes: string[] = [];
  if (!(await store.getTenant(ids.tenant))) {
    await store.putTenant({ id: ids.tenant, name: 'Demo Inc.' });
    created.push(ids.tenant);
  }
  const common = { tenantId: ids.tenant, enabled: true, attributeMapping: DEFAULT_ATTRIBUTE_MAPPING, roles: { defaults: ['member'] }, returnToAllowlist: [`${seed.baseUrl}/`], ...seed.policy };
  const saml: SamlConnection = {
    ...common,
    id: ids.saml,
    protocol: 'saml',
    displayName: 'Development SAML IdP',
    idpEntityId: seed.saml.entityId,
    idpSsoUrl: seed.saml.ssoUrl,
    idpCertificates: [seed.saml.certificate],
    clockSkewSeconds: 120,
    allowIdpInitiated: false,
    allowSha1: false,
  };
  const oidc: OidcConnection = {
    ...common,
    id: ids.oidc,
    protocol: 'oidc',
    displayName: 'Development OpenID Provider',
    issuer: seed.oidc.issuer,
    clientId: seed.oidc.clientId,
    tokenEndpointAuthMethod: 'client_secret_basic',
    clientSecretName: seed.oidc.clientSecretName,
    scopes: ['openid', 'email', 'profile', 'groups'],
  };
  for (const connection of [saml, oidc]) {
    const existing = await store.getConnection(connection.id);
    if (!existing) {
      await store.putConnection(connection);
      created.push(connection.id);
      continue;
    }
    const points = existing.protocol === 'saml' ? existing.idpSsoUrl : existing.issuer;
    const expected = connection.protocol === 'saml' ? connection.idpSsoUrl : connection.issuer;
    if (points !== expected) notes.push(`connection ${connection.id} points at ${points}, not the development IdP at ${expected}; it is kept as it is (remove it to have it made again)`);
  }
  return { created, notes };
}
