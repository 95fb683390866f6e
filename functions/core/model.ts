/** The domain's records, as the core sees them; how they sit in DynamoDB is the store's business. */

export interface Tenant {
  readonly id: string;
  readonly name: string;
  /** The most active users the tenant may have; undefined means no limit. */
  readonly seatLimit?: number;
  /** Active users, counted in the same transaction that creates or deactivates one. */
  readonly seatCount: number;
}

/**
 * Where each app attribute comes from: the first IdP attribute of its list that is present.
 * `$nameId` stands for the SAML NameID (or the OIDC `sub`).
 */
export interface AttributeMapping {
  readonly sources: Readonly<Record<string, readonly string[]>>;
  /** App attributes a login must carry; one missing is `missing_required_attribute`. */
  readonly required: readonly string[];
}

/** What every connection has, whatever its protocol. */
interface ConnectionBase {
  readonly id: string;
  readonly tenantId: string;
  readonly enabled: boolean;
  readonly displayName?: string;
  readonly attributeMapping: AttributeMapping;
  readonly defaultRoles: readonly string[];
  /** URL prefixes that `return_to` and `RelayState` may point into. */
  readonly returnToAllowlist: readonly string[];
  /**
   * Whether a new identity may join the tenant's existing user of the same email. Only ever when
   * the IdP vouches for the email (OIDC: `email_verified`, Entra `xms_edov`) and its domain is one
   * of `allowedEmailDomains`.
   */
  readonly linkByEmail?: boolean;
  /** The email domains this IdP may vouch for when linking by email. */
  readonly allowedEmailDomains?: readonly string[];
}

export interface SamlConnection extends ConnectionBase {
  readonly protocol: 'saml';
  readonly idpEntityId: string;
  readonly idpSsoUrl: string;
  /** PEM certificates; several during a rotation. */
  readonly idpCertificates: readonly string[];
  /** Overrides the derived SP entity id, so a customer can move here from another SP without touching the IdP. */
  readonly spEntityId?: string;
  /** Overrides the derived ACS URL, for the same reason. */
  readonly acsUrl?: string;
  readonly clockSkewSeconds: number;
  readonly allowIdpInitiated: boolean;
  /** RSA-SHA1 signatures and SHA-1 digests are refused unless this is set. */
  readonly allowSha1: boolean;
  /** The name of the secret that holds the SP's PEM private key for encrypted assertions. */
  readonly spDecryptionKeySecret?: string;
  /** The SP certificate published in metadata for encryption. */
  readonly spEncryptionCertificate?: string;
}

export interface OidcConnection extends ConnectionBase {
  readonly protocol: 'oidc';
  /** The issuer URL; discovery reads `<issuer>/.well-known/openid-configuration`. */
  readonly issuer: string;
  readonly clientId: string;
  readonly tokenEndpointAuthMethod: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
  /** The name of the secret that holds the client secret, or for private_key_jwt the private JWK (JSON). */
  readonly clientSecretName: string;
  /** @default ['openid', 'email', 'profile'] */
  readonly scopes?: readonly string[];
  /** The ID token algorithms accepted. @default ['RS256'] */
  readonly idTokenSigningAlgorithms?: readonly string[];
  /** Entra ID multi-tenant apps (issuer `…/{tenantid}/v2.0`): the directory ids (`tid`) that may sign in. */
  readonly allowedEntraTenants?: readonly string[];
  /** Leeway for `exp` and `iat`, in seconds. @default 60 */
  readonly clockToleranceSeconds?: number;
}

export type Connection = SamlConnection | OidcConnection;

export interface User {
  readonly id: string;
  readonly tenantId: string;
  /** Normalized: trimmed, Unicode NFC, lowercase. */
  readonly email?: string;
  readonly name?: string;
  readonly roles: readonly string[];
  /** Mapped attributes beyond email and name. */
  readonly attributes: Readonly<Record<string, string | readonly string[]>>;
  readonly status: 'active' | 'deactivated';
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** An IdP's word for who someone is: the connection and the subject it asserted. */
export interface IdentityLink {
  readonly connectionId: string;
  readonly subject: string;
}

export interface Session {
  readonly id: string;
  readonly userId: string;
  readonly tenantId: string;
  readonly connectionId: string;
  readonly amr: 'saml' | 'oidc';
  readonly createdAt: string;
  /** Epoch seconds, as the token's `exp`; DynamoDB's TTL removes the item some time after. */
  readonly expiresAt: number;
  readonly revokedAt?: string;
}

export interface AuditEvent {
  readonly tenantId: string;
  readonly type: string;
  readonly at: string;
  readonly connectionId?: string;
  readonly userId?: string;
  /** The refusal code, for refused logins. */
  readonly code?: string;
  readonly detail?: Readonly<Record<string, unknown>>;
}
