/** The domain's records, as the core sees them; how they sit in DynamoDB is the store's business. */

/**
 * The shape of tenant and connection ids: they travel in URLs (`/saml/{connectionId}/acs`) and in
 * the table's keys, so letters, digits, `.`, `_` and `-` only, at most 64.
 */
export const RECORD_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface Tenant {
  readonly id: string;
  readonly name: string;
  /** The most active users the tenant may have; undefined means no limit. */
  readonly seatLimit?: number;
  /** Active users, counted in the same transaction that creates or deactivates one. */
  readonly seatCount: number;
  /** The connection home-realm discovery picks when the tenant has several enabled ones. */
  readonly defaultConnectionId?: string;
  /** How the tenant's directory (SCIM) groups give roles; without it SCIM groups change no roles. */
  readonly directoryRoles?: DirectoryRoles;
}

/**
 * The tenant's mapping of directory groups (SCIM Groups, by `displayName`) to app roles. When a
 * SCIM change of a group's members touches a user, the user's roles become the roles of all its
 * SCIM groups, or `defaults` when none maps.
 */
export interface DirectoryRoles {
  readonly groupRoles: Readonly<Record<string, readonly string[]>>;
  readonly defaults: readonly string[];
}

/** A verified email domain and the one tenant that owns it (home-realm discovery). */
export interface DomainClaim {
  /** Lowercase, IDNA ASCII (punycode). */
  readonly domain: string;
  readonly tenantId: string;
  readonly claimedAt: string;
}

/** Whether a login may change a value the user already has. */
export type UpdatePolicy = 'always' | 'on-create' | 'never';

/** A change applied to each value: `{ split: ',' }` turns one value into several. */
export type Transform = 'trim' | 'lowercase' | 'uppercase' | { readonly split: string };

/**
 * How one app attribute gets its value at login, in this order: a `constant`; else the parts of
 * `join`, each the first present of its IdP attribute names, joined; else the first present IdP
 * attribute of `from` (`$nameId` is the SAML NameID or the OIDC `sub`); else `default`. Then the
 * `transforms`, in order.
 */
export interface AttributeRule {
  readonly from?: readonly string[];
  readonly join?: { readonly parts: readonly (readonly string[])[]; readonly separator?: string };
  readonly constant?: string | readonly string[];
  readonly default?: string | readonly string[];
  readonly transforms?: readonly Transform[];
  /** Keep every value (e.g. groups); otherwise the first. @default false */
  readonly multiValued?: boolean;
  /** @default 'always' */
  readonly update?: UpdatePolicy;
}

/**
 * The app attributes a login produces. `email` and `name` have their place on the user (an
 * `email` that is not an address is dropped); every other attribute is kept as a custom attribute.
 */
export interface AttributeMapping {
  readonly attributes: Readonly<Record<string, AttributeRule>>;
  /** App attributes a login must carry; one missing is `missing_required_attribute`. */
  readonly required: readonly string[];
}

/** Which roles a user gets: the roles of its mapped groups, or the defaults when none maps. */
export interface RolePolicy {
  readonly defaults: readonly string[];
  /** The app attribute that holds the user's groups. @default 'groups' */
  readonly groupsAttribute?: string;
  /** IdP group (a name, a DN of memberOf, an Entra object id) to app roles. */
  readonly groupRoles?: Readonly<Record<string, readonly string[]>>;
  /** @default 'always' */
  readonly update?: UpdatePolicy;
}

/** What every connection has, whatever its protocol. */
interface ConnectionBase {
  readonly id: string;
  readonly tenantId: string;
  readonly enabled: boolean;
  readonly displayName?: string;
  /** Bumped by every change, so an admin's update cannot overwrite another's unseen. */
  readonly version?: number;
  /** Just-in-time creation of users at login. Off: only users that exist already may log in. @default true */
  readonly jit?: boolean;
  readonly attributeMapping: AttributeMapping;
  readonly roles: RolePolicy;
  /** URL prefixes that `return_to` and `RelayState` may point into. */
  readonly returnToAllowlist: readonly string[];
  /**
   * Whether a new identity may join the tenant's existing user of the same email. Only ever when
   * the IdP vouches for the email (OIDC: `email_verified`, Entra `xms_edov`) and its domain is one
   * of `allowedEmailDomains`.
   */
  readonly linkByEmail?: boolean;
  /** The email domains this IdP may vouch for: a login with an email outside them is `domain_not_allowed`. */
  readonly allowedEmailDomains?: readonly string[];
  /**
   * Whether a login's subject joins the tenant's user whom SCIM provisioned with that `externalId`
   * or `userName` (the IdP that logs users in is the one that provisions them). @default none
   */
  readonly scimSubject?: 'externalId' | 'userName';
}

export interface SamlConnection extends ConnectionBase {
  readonly protocol: 'saml';
  readonly idpEntityId: string;
  readonly idpSsoUrl: string;
  /** PEM certificates; several during a rotation. */
  readonly idpCertificates: readonly string[];
  /** Where the IdP publishes its metadata: refreshed on a schedule, new certificates added beside the old. */
  readonly metadataUrl?: string;
  /** Overrides the derived SP entity id, so a customer can move here from another SP without touching the IdP. */
  readonly spEntityId?: string;
  /** Overrides the derived ACS URL, for the same reason. */
  readonly acsUrl?: string;
  readonly clockSkewSeconds: number;
  /**
   * How old a Response's or Assertion's IssueInstant may be (the skew is added): an IdP's
   * response is meant to be posted at once, whatever lifetime its conditions allow.
   * @default 300
   */
  readonly maxIssueAgeSeconds?: number;
  readonly allowIdpInitiated: boolean;
  /** RSA-SHA1 signatures and SHA-1 digests are refused unless this is set. */
  readonly allowSha1: boolean;
  /**
   * The IdP attribute whose one value identifies a user at every login (Entra's
   * `http://schemas.microsoft.com/identity/claims/objectidentifier`, an eduPersonPrincipalName, an
   * employee id), instead of the NameID. Needed when the IdP sends a transient NameID.
   * @default the NameID
   */
  readonly subjectAttribute?: string;
  /** The name of the secret that holds the SP's PEM private key for encrypted assertions (one key set by hand; `spKeys` are the CLI's). */
  readonly spDecryptionKeySecret?: string;
  /** The SP certificate published in metadata for encryption, beside `spKeys`. */
  readonly spEncryptionCertificate?: string;
  /** The SP's own keys (`connections sp-keys`): several of a use during a rotation, the newest last. */
  readonly spKeys?: readonly SpKey[];
  /** Sign AuthnRequests (HTTP-Redirect binding) with the newest signing key. @default false */
  readonly signAuthnRequests?: boolean;
  /** The IdP's metadata says `WantAuthnRequestsSigned="true"`: requests are signed whatever `signAuthnRequests` says. */
  readonly idpWantsAuthnRequestsSigned?: boolean;
}

/** An SP key pair of a SAML connection: the certificate published in the SP metadata, the private key a secret. */
export interface SpKey {
  /** `<use>-<yyyymmdd>-<random>`, unique within the connection. */
  readonly id: string;
  readonly use: 'encryption' | 'signing';
  /** The self-signed PEM certificate. */
  readonly certificate: string;
  /** The secret holding the PEM private key (PKCS#8). */
  readonly secretName: string;
  readonly createdAt: string;
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
  /** Bumped by every write; SCIM's ETag. Absent on users stored before versions existed. */
  readonly version?: number;
  /** SCIM `userName`: unique per tenant without regard to case. */
  readonly userName?: string;
  /** SCIM `externalId`: the provisioning IdP's id, unique per tenant. */
  readonly externalId?: string;
  /** The SCIM attributes the IdP sent beyond those above (name, emails, the enterprise extension…), as JSON. */
  readonly scim?: Readonly<Record<string, unknown>>;
}

/** A SCIM group of a tenant and its members (user ids). */
export interface ScimGroup {
  readonly id: string;
  readonly tenantId: string;
  readonly displayName: string;
  readonly externalId?: string;
  readonly members: readonly { readonly value: string; readonly display?: string }[];
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A SCIM bearer token as stored: never its value, only its SHA-256. */
export interface ScimToken {
  readonly id: string;
  readonly tenantId: string;
  readonly hash: string;
  readonly createdAt: string;
}

/** What a setup link lets its holder configure. */
export type SetupProtocol = 'saml' | 'oidc' | 'scim';

/** A test login made through a setup link, as its ACS or callback evaluated it (nothing provisioned). */
export interface SetupTestResult {
  readonly at: string;
  /** The evaluation's outcome: `create`, `link`, `update`, `keep` or `refused`. */
  readonly outcome: string;
  readonly subject: string;
  readonly email?: string;
  readonly name?: string;
  readonly roles: readonly string[];
  readonly attributes: Readonly<Record<string, string>>;
  readonly refusal?: { readonly code: string; readonly detail?: string };
}

/**
 * A self-serve setup link as stored: never its token, only the token's SHA-256. It configures
 * exactly one connection (`connectionId`, fixed when the link is made) of one tenant.
 */
export interface SetupLink {
  readonly id: string;
  readonly tenantId: string;
  readonly protocol: SetupProtocol;
  readonly hash: string;
  /** The connection the link creates and configures (SAML and OIDC links). */
  readonly connectionId?: string;
  readonly createdAt: string;
  /** ISO instant after which the link is refused. */
  readonly validUntil: string;
  readonly revokedAt?: string;
  /** The IdP the admin picked on the first page. */
  readonly idp?: string;
  /** The return targets the link's connection allows (set by the SaaS company, never by the link's holder). */
  readonly returnToAllowlist?: readonly string[];
  /** The last test login, cleared whenever the connection's IdP settings change. */
  readonly test?: SetupTestResult;
  readonly activatedAt?: string;
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
