import { X509Certificate } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { AppError } from '../errors';
import { RECORD_ID, type Connection, type OidcConnection, type SamlConnection } from '../model';
import { DEFAULT_ATTRIBUTE_MAPPING } from '../provisioning';
import { parseIdpMetadata, refreshFromMetadata, type IdpMetadata } from '../saml/idp-metadata';
import { fetchMetadata } from '../saml/metadata-refresh';
import type { Store } from '../store/store';
import { trustedUrl } from '../trusted-url';
import { applyPolicy, parseReturnTarget, type ConnectionPolicy } from './policy';


/** @throws AppError `invalid_request` naming what is wrong with the id. */
export function checkId(id: string, what: string): string {
  if (!RECORD_ID.test(id)) throw new AppError('invalid_request', `${what} "${id}" must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  return id;
}


/**
 * The PEM certificates in a file's text, each checked to parse as X.509.
 * @throws AppError `invalid_request` when there is none or one does not parse.
 */
export function parseCertificates(pemText: string): string[] {
  const blocks = pemText.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new AppError('invalid_request', 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  return blocks.map((block, i) => {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw new AppError('invalid_request', `certificate ${i + 1} does not parse as X.509`, { cause: error });
    }
    return `${block}\n`;
  });
}

/** Where a SAML connection's IdP settings come from: its metadata, fetched or read, or given one by one. */
export type IdpSource = { readonly metadataUrl: string } | { readonly metadataXml: string } | { readonly idp: IdpMetadata };

/**
 * The IdP settings of a source: metadata is fetched (https) or parsed, explicit settings checked.
 * @throws AppError `invalid_request` for metadata that lacks what a connection needs, `service_unavailable` when it cannot be fetched.
 */
export async function resolveIdp(source: IdpSource, fetchImpl: typeof fetch = fetch): Promise<{ idp: IdpMetadata; metadataUrl?: string }> {
  if ('idp' in source) {
    trustedUrl(source.idp.ssoUrl, 'the SSO URL');
    return { idp: source.idp };
  }
  if ('metadataXml' in source) return { idp: parseIdpMetadata(source.metadataXml) };
  const url = trustedUrl(source.metadataUrl, 'the metadata URL');
  return { idp: parseIdpMetadata(await fetchMetadata(url.href, fetchImpl)), metadataUrl: url.href };
}

export interface NewSamlConnection {
  readonly id: string;
  readonly tenantId: string;
  readonly displayName?: string;
  readonly idp: IdpMetadata;
  readonly metadataUrl?: string;
  readonly spEntityId?: string;
  readonly acsUrl?: string;
  readonly allowSha1?: boolean;
  readonly allowIdpInitiated?: boolean;
  readonly clockSkewSeconds?: number;
  readonly maxIssueAgeSeconds?: number;
  readonly subjectAttribute?: string;
  readonly enabled?: boolean;
  readonly policy?: ConnectionPolicy;
}

/** A SAML connection with the service's defaults (default attribute mapping, role `member`, 120 s skew, SHA-1 and IdP-initiated off) under the policy given. */
export function newSamlConnection(input: NewSamlConnection): SamlConnection {
  const connection: SamlConnection = {
    id: checkId(input.id, 'the connection id'),
    tenantId: input.tenantId,
    protocol: 'saml',
    enabled: input.enabled ?? true,
    ...(input.displayName ? { displayName: input.displayName } : {}),
    idpEntityId: input.idp.entityId,
    idpSsoUrl: input.idp.ssoUrl,
    idpCertificates: [...input.idp.certificates],
    ...(input.metadataUrl ? { metadataUrl: input.metadataUrl } : {}),
    ...(input.idp.wantAuthnRequestsSigned ? { idpWantsAuthnRequestsSigned: true } : {}),
    ...(input.spEntityId ? { spEntityId: input.spEntityId } : {}),
    ...(input.acsUrl ? { acsUrl: input.acsUrl } : {}),
    clockSkewSeconds: input.clockSkewSeconds ?? 120,
    ...(input.subjectAttribute ? { subjectAttribute: input.subjectAttribute } : {}),
    ...(input.maxIssueAgeSeconds === undefined ? {} : { maxIssueAgeSeconds: input.maxIssueAgeSeconds }),
    allowIdpInitiated: input.allowIdpInitiated ?? false,
    allowSha1: input.allowSha1 ?? false,
    attributeMapping: DEFAULT_ATTRIBUTE_MAPPING,
    roles: { defaults: ['member'] },
    returnToAllowlist: [],
  };
  return applyPolicy(connection, input.policy ?? {});
}

/** What the CLI takes from an issuer's discovery document. */
export interface DiscoveredIssuer {
  /** The issuer to store: the document's own, or the one given for an Entra ID `{tenantid}` template. */
  readonly issuer: string;
  /** Set for Entra ID's multi-tenant template issuer, which needs `allowedEntraTenants`. */
  readonly entraTemplate: boolean;
  readonly tokenEndpointAuthMethods?: readonly string[];
  readonly idTokenSigningAlgorithms?: readonly string[];
}

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringList(value: unknown): string[] | undefined {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : undefined;
}

const ASYMMETRIC = /^(RS|PS|ES)(256|384|512)$|^EdDSA$|^Ed25519$/;

/**
 * Reads `<issuer>/.well-known/openid-configuration` and checks it names the issuer, the
 * authorization, token and JWKS endpoints. The issuer stored is the document's (an issuer typed
 * with a trailing slash takes the document's spelling); an issuer that differs otherwise is
 * refused, since every login would fail its `iss` check, except Entra ID's multi-tenant template.
 *
 * @throws AppError `invalid_request` for a bad URL or document, `service_unavailable` when it cannot be fetched.
 */
export async function discoverIssuer(issuer: string, fetchImpl: typeof fetch = fetch): Promise<DiscoveredIssuer> {
  const url = trustedUrl(issuer, 'the issuer');
  const location = `${url.href.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  let document: unknown;
  try {
    const response = await fetchImpl(location, { signal: AbortSignal.timeout(10_000), headers: { accept: 'application/json' } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    document = await response.json();
  } catch (error) {
    throw new AppError('service_unavailable', `the discovery document at ${location} could not be read (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
  if (!isRecord(document)) throw new AppError('invalid_request', `the discovery document at ${location} is not a JSON object`);
  const missing = ['issuer', 'authorization_endpoint', 'token_endpoint', 'jwks_uri'].find((member) => typeof document[member] !== 'string');
  if (missing) throw new AppError('invalid_request', `the discovery document at ${location} has no ${missing}`);
  const named = document.issuer as string;
  const entraTemplate = named.includes('{tenantid}');
  if (!entraTemplate && named.replace(/\/+$/, '') !== issuer.replace(/\/+$/, '')) {
    throw new AppError('invalid_request', `the discovery document at ${location} names the issuer ${named}; use that as --issuer`);
  }
  const methods = stringList(document.token_endpoint_auth_methods_supported);
  const algorithms = stringList(document.id_token_signing_alg_values_supported);
  return {
    issuer: entraTemplate ? issuer : named,
    entraTemplate,
    ...(methods ? { tokenEndpointAuthMethods: methods } : {}),
    ...(algorithms ? { idTokenSigningAlgorithms: algorithms } : {}),
  };
}

export interface NewOidcConnection {
  readonly id: string;
  readonly tenantId: string;
  readonly displayName?: string;
  readonly discovered: DiscoveredIssuer;
  readonly clientId: string;
  readonly clientSecretName: string;
  readonly tokenEndpointAuthMethod?: OidcConnection['tokenEndpointAuthMethod'];
  readonly scopes?: readonly string[];
  readonly idTokenSigningAlgorithms?: readonly string[];
  readonly allowedEntraTenants?: readonly string[];
  readonly clockToleranceSeconds?: number;
  readonly enabled?: boolean;
  readonly policy?: ConnectionPolicy;
}

/**
 * The connection checked against its provider's discovery document: the authentication method
 * must be one the provider supports (`client_secret_basic` when it says nothing, per OIDC
 * Discovery); the ID token algorithms are the connection's own (asymmetric, and offered by the
 * provider), else RS256, or the provider's asymmetric ones when it does not offer RS256.
 */
function fitToProvider(connection: OidcConnection, discovered: DiscoveredIssuer): OidcConnection {
  const method = connection.tokenEndpointAuthMethod;
  const supported = discovered.tokenEndpointAuthMethods ?? ['client_secret_basic'];
  if (!supported.includes(method)) {
    throw new AppError('invalid_request', `the provider does not support ${method} (it offers ${supported.join(', ') || 'none'})`);
  }
  if (discovered.entraTemplate && !connection.allowedEntraTenants?.length) {
    throw new AppError('invalid_request', 'this is a multi-tenant Entra ID issuer ({tenantid}): name the directories that may sign in with --entra-tenant');
  }
  const offered = discovered.idTokenSigningAlgorithms ?? ['RS256'];
  let algorithms = connection.idTokenSigningAlgorithms;
  if (algorithms) {
    // A symmetric algorithm would let the provider's public key serve as an HMAC secret.
    const symmetric = algorithms.find((alg) => !ASYMMETRIC.test(alg));
    if (symmetric !== undefined) throw new AppError('invalid_request', `the ID token algorithm ${symmetric} is not an asymmetric one (RS*, PS*, ES*, EdDSA)`);
    const unoffered = discovered.idTokenSigningAlgorithms && algorithms.find((alg) => !offered.includes(alg));
    if (unoffered) throw new AppError('invalid_request', `the provider does not sign ID tokens with ${unoffered} (it offers ${offered.join(', ')})`);
  } else if (!offered.includes('RS256')) {
    algorithms = offered.filter((alg) => ASYMMETRIC.test(alg));
    if (algorithms.length === 0) throw new AppError('invalid_request', `the provider signs ID tokens with ${offered.join(', ')}, none of them asymmetric`);
  }
  return { ...connection, issuer: discovered.issuer, ...(algorithms ? { idTokenSigningAlgorithms: [...algorithms] } : {}) };
}

/**
 * An OIDC connection from its discovered issuer, checked against the provider (see the
 * authentication method and ID token algorithms it offers).
 *
 * @throws AppError `invalid_request`.
 */
export function newOidcConnection(input: NewOidcConnection): OidcConnection {
  if (input.scopes && !input.scopes.includes('openid')) throw new AppError('invalid_request', 'the scopes must include openid');
  const connection: OidcConnection = {
    id: checkId(input.id, 'the connection id'),
    tenantId: input.tenantId,
    protocol: 'oidc',
    enabled: input.enabled ?? true,
    ...(input.displayName ? { displayName: input.displayName } : {}),
    issuer: input.discovered.issuer,
    clientId: input.clientId,
    tokenEndpointAuthMethod: input.tokenEndpointAuthMethod ?? 'client_secret_basic',
    clientSecretName: input.clientSecretName,
    ...(input.scopes ? { scopes: [...input.scopes] } : {}),
    ...(input.idTokenSigningAlgorithms?.length ? { idTokenSigningAlgorithms: [...input.idTokenSigningAlgorithms] } : {}),
    ...(input.allowedEntraTenants?.length ? { allowedEntraTenants: [...input.allowedEntraTenants] } : {}),
    ...(input.clockToleranceSeconds === undefined ? {} : { clockToleranceSeconds: input.clockToleranceSeconds }),
    attributeMapping: DEFAULT_ATTRIBUTE_MAPPING,
    roles: { defaults: ['member'] },
    returnToAllowlist: [],
  };
  return applyPolicy(fitToProvider(connection, input.discovered), input.policy ?? {});
}

/**
 * Saves a new connection of an existing tenant.
 * @throws AppError `not_found` for an unknown tenant, `invalid_request` for an id in use.
 */
export async function addConnection(store: Store, connection: Connection): Promise<Connection> {
  if (!(await store.getTenant(connection.tenantId))) throw new AppError('not_found', `there is no tenant ${connection.tenantId}`);
  // Read-then-write: two admins adding the same id at once is not a race worth a transaction.
  if (await store.getConnection(connection.id)) throw new AppError('invalid_request', `connection ${connection.id} exists already (use connections update, or remove it first)`);
  await store.putConnection(connection);
  return connection;
}

/** @throws AppError `not_found`. */
export async function requireConnection(store: Store, connectionId: string): Promise<Connection> {
  const connection = await store.getConnection(connectionId);
  if (!connection) throw new AppError('not_found', `there is no connection ${connectionId}`);
  return connection;
}

/** SAML settings of a change; each member present replaces the connection's own, `null` removes an optional one. */
export interface SamlSettings {
  readonly idpEntityId?: string;
  readonly idpSsoUrl?: string;
  readonly idpCertificates?: readonly string[];
  readonly metadataUrl?: string | null;
  readonly spEntityId?: string | null;
  readonly acsUrl?: string | null;
  readonly clockSkewSeconds?: number;
  readonly maxIssueAgeSeconds?: number | null;
  readonly allowSha1?: boolean;
  readonly allowIdpInitiated?: boolean;
  readonly spDecryptionKeySecret?: string | null;
  readonly spEncryptionCertificate?: string | null;
  /** Sign AuthnRequests (refused without an SP signing key). */
  readonly signAuthnRequests?: boolean;
  /** The IdP attribute that identifies users instead of the NameID; `null` goes back to the NameID. */
  readonly subjectAttribute?: string | null;
}

/** OIDC settings of a change; each member present replaces the connection's own, `null` removes an optional one. */
export interface OidcSettings {
  readonly issuer?: string;
  readonly clientId?: string;
  readonly clientSecretName?: string;
  readonly tokenEndpointAuthMethod?: OidcConnection['tokenEndpointAuthMethod'];
  readonly scopes?: readonly string[] | null;
  readonly idTokenSigningAlgorithms?: readonly string[] | null;
  readonly allowedEntraTenants?: readonly string[] | null;
  readonly clockToleranceSeconds?: number | null;
}

/** A change to an existing connection; each member present replaces the connection's own. */
export interface ConnectionChange {
  readonly policy?: ConnectionPolicy;
  readonly enabled?: boolean;
  readonly displayName?: string | null;
  /** SAML only: new IdP settings; new certificates are added beside the old (a rotation overlap). */
  readonly idp?: { idp: IdpMetadata; metadataUrl?: string };
  readonly saml?: SamlSettings;
  readonly oidc?: OidcSettings;
}

/** The connection with each setting present in place of its own; `null` removes the member. */
function assign<C extends Connection>(connection: C, settings: object): C {
  const next: Record<string, unknown> = { ...connection };
  for (const [name, value] of Object.entries(settings)) {
    if (value === null) delete next[name];
    else if (value !== undefined) next[name] = value;
  }
  return next as C;
}

const SECONDS_LIMIT = 3600;

function checkSeconds(value: number | null | undefined, what: string): void {
  if (value !== undefined && value !== null && (!Number.isSafeInteger(value) || value < 0 || value > SECONDS_LIMIT)) {
    throw new AppError('invalid_request', `${what} must be a whole number of seconds from 0 to ${SECONDS_LIMIT} (got ${value})`);
  }
}

function checkSaml(current: SamlConnection, settings: SamlSettings): void {
  for (const name of ['idpEntityId', 'idpSsoUrl', 'metadataUrl', 'spEntityId', 'acsUrl', 'spDecryptionKeySecret'] as const) {
    if (typeof settings[name] === 'string' && settings[name].trim() === '') throw new AppError('invalid_request', `${name} must not be empty`);
  }
  if (settings.idpSsoUrl !== undefined) trustedUrl(settings.idpSsoUrl, 'the SSO URL');
  if (settings.metadataUrl) trustedUrl(settings.metadataUrl, 'the metadata URL');
  if (settings.acsUrl) parseReturnTarget(settings.acsUrl, 'the ACS URL');
  if (settings.idpCertificates !== undefined) {
    if (settings.idpCertificates.length === 0) throw new AppError('invalid_request', `connection ${current.id} needs at least one IdP certificate`);
    settings.idpCertificates.forEach((pem) => parseCertificates(pem));
  }
  checkSeconds(settings.clockSkewSeconds, 'the clock skew');
  checkSeconds(settings.maxIssueAgeSeconds, 'the maximum issue age');
  if (typeof settings.subjectAttribute === 'string' && settings.subjectAttribute.trim() === '') throw new AppError('invalid_request', 'subjectAttribute must not be empty');
  if (settings.signAuthnRequests) requireSigningKey(current);
}

/** @throws AppError `invalid_request` when the connection has no SP signing key to sign AuthnRequests with, naming the command that makes one. */
export function requireSigningKey(connection: SamlConnection): void {
  if (!connection.spKeys?.some((key) => key.use === 'signing')) {
    throw new AppError('invalid_request', `connection ${connection.id} has no SP signing key: generate one first with npm run admin -- connections sp-keys --id ${connection.id} --generate --use signing`);
  }
}

/**
 * The connection as a change would leave it, checked as `add-saml`/`add-oidc` check a new one:
 * a changed metadata URL is fetched (its certificates join the old), a changed issuer,
 * authentication method, Entra tenants or ID token algorithms are checked against the provider's
 * discovery document. Writes nothing; the network is used only for what changed.
 *
 * @throws AppError `invalid_request` (settings of the other protocol, a bad value, a provider that does not fit), `service_unavailable` (metadata or discovery unreadable).
 */
export async function changedConnection(current: Connection, change: ConnectionChange, fetchImpl: typeof fetch = fetch): Promise<Connection> {
  let next: Connection = applyPolicy(current, change.policy ?? {});
  if (change.enabled !== undefined) next = { ...next, enabled: change.enabled };
  if (change.displayName !== undefined) next = assign(next, { displayName: change.displayName });
  const other = next.protocol === 'saml' ? (change.oidc && 'OIDC') : ((change.saml || change.idp) && 'SAML');
  if (other) throw new AppError('invalid_request', `connection ${current.id} is ${next.protocol === 'saml' ? 'a SAML' : 'an OIDC'} connection; these settings are for ${other} ones`);
  if (next.protocol === 'saml') {
    if (change.saml) {
      checkSaml(next, change.saml);
      next = assign(next, change.saml);
    }
    if (next.metadataUrl && next.metadataUrl !== (current as SamlConnection).metadataUrl) {
      next = refreshFromMetadata(next, (await resolveIdp({ metadataUrl: next.metadataUrl }, fetchImpl)).idp).connection;
    }
    if (change.idp) {
      const refreshed = refreshFromMetadata(next, change.idp.idp).connection;
      next = change.idp.metadataUrl ? { ...refreshed, metadataUrl: change.idp.metadataUrl } : refreshed;
    }
    return next;
  }
  if (change.oidc) {
    const settings = change.oidc;
    for (const name of ['issuer', 'clientId', 'clientSecretName'] as const) {
      if (typeof settings[name] === 'string' && settings[name].trim() === '') throw new AppError('invalid_request', `${name} must not be empty`);
    }
    if (settings.scopes && !settings.scopes.includes('openid')) throw new AppError('invalid_request', 'the scopes must include openid');
    checkSeconds(settings.clockToleranceSeconds, 'the clock tolerance');
    next = assign(next, settings);
    const before = current as OidcConnection;
    const provider = (['issuer', 'tokenEndpointAuthMethod', 'allowedEntraTenants', 'idTokenSigningAlgorithms'] as const).some((name) => !isDeepStrictEqual(next[name as keyof typeof next], before[name]));
    if (provider) next = fitToProvider(next, await discoverIssuer(next.issuer, fetchImpl));
  }
  return next;
}

/** The members in which two versions of a connection differ (the version itself aside), sorted. */
export function changedFields(current: Connection, next: Connection): string[] {
  const names = new Set([...Object.keys(current), ...Object.keys(next)]);
  names.delete('version');
  const a = current as unknown as Readonly<Record<string, unknown>>;
  const b = next as unknown as Readonly<Record<string, unknown>>;
  return [...names].filter((name) => !isDeepStrictEqual(a[name], b[name])).sort();
}
