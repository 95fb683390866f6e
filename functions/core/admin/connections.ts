import { X509Certificate } from 'node:crypto';
import { AppError } from '../errors';
import { RECORD_ID, type Connection, type OidcConnection, type SamlConnection } from '../model';
import { DEFAULT_ATTRIBUTE_MAPPING } from '../provisioning';
import { parseIdpMetadata, refreshFromMetadata, type IdpMetadata } from '../saml/idp-metadata';
import { fetchMetadata } from '../saml/metadata-refresh';
import type { Store } from '../store';
import { trustedUrl } from '../trusted-url';
import { applyPolicy, type ConnectionPolicy } from './policy';


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
    ...(input.spEntityId ? { spEntityId: input.spEntityId } : {}),
    ...(input.acsUrl ? { acsUrl: input.acsUrl } : {}),
    clockSkewSeconds: input.clockSkewSeconds ?? 120,
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
  readonly allowedEntraTenants?: readonly string[];
  readonly enabled?: boolean;
  readonly policy?: ConnectionPolicy;
}

/**
 * An OIDC connection from its discovered issuer. The authentication method must be one the
 * provider supports (`client_secret_basic` when it says nothing, per OIDC Discovery); the ID token
 * algorithms are RS256, or the provider's asymmetric ones when it does not offer RS256.
 *
 * @throws AppError `invalid_request`.
 */
export function newOidcConnection(input: NewOidcConnection): OidcConnection {
  const { discovered } = input;
  const method = input.tokenEndpointAuthMethod ?? 'client_secret_basic';
  const supported = discovered.tokenEndpointAuthMethods ?? ['client_secret_basic'];
  if (!supported.includes(method)) {
    throw new AppError('invalid_request', `the provider does not support ${method} (it offers ${supported.join(', ') || 'none'})`);
  }
  if (discovered.entraTemplate && !input.allowedEntraTenants?.length) {
    throw new AppError('invalid_request', 'this is a multi-tenant Entra ID issuer ({tenantid}): name the directories that may sign in with --entra-tenant');
  }
  const offered = discovered.idTokenSigningAlgorithms ?? ['RS256'];
  const algorithms = offered.includes('RS256') ? undefined : offered.filter((alg) => ASYMMETRIC.test(alg));
  if (algorithms?.length === 0) throw new AppError('invalid_request', `the provider signs ID tokens with ${offered.join(', ')}, none of them asymmetric`);
  const connection: OidcConnection = {
    id: checkId(input.id, 'the connection id'),
    tenantId: input.tenantId,
    protocol: 'oidc',
    enabled: input.enabled ?? true,
    ...(input.displayName ? { displayName: input.displayName } : {}),
    issuer: discovered.issuer,
    clientId: input.clientId,
    tokenEndpointAuthMethod: method,
    clientSecretName: input.clientSecretName,
    ...(input.scopes ? { scopes: [...input.scopes] } : {}),
    ...(algorithms ? { idTokenSigningAlgorithms: algorithms } : {}),
    ...(input.allowedEntraTenants?.length ? { allowedEntraTenants: [...input.allowedEntraTenants] } : {}),
    attributeMapping: DEFAULT_ATTRIBUTE_MAPPING,
    roles: { defaults: ['member'] },
    returnToAllowlist: [],
  };
  return applyPolicy(connection, input.policy ?? {});
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

/** A change to an existing connection; each member present replaces the connection's own. */
export interface ConnectionChange {
  readonly policy?: ConnectionPolicy;
  readonly enabled?: boolean;
  readonly displayName?: string;
  /** SAML only: new IdP settings; new certificates are added beside the old (a rotation overlap). */
  readonly idp?: { idp: IdpMetadata; metadataUrl?: string };
}

/**
 * Applies a change as the connection's next version; fails rather than overwrite a change made
 * since it was read.
 *
 * @throws AppError `not_found`, `invalid_request` (IdP settings for an OIDC connection, or a concurrent change).
 */
export async function updateConnection(store: Store, connectionId: string, change: ConnectionChange): Promise<Connection> {
  const current = await requireConnection(store, connectionId);
  let next: Connection = applyPolicy(current, change.policy ?? {});
  if (change.enabled !== undefined) next = { ...next, enabled: change.enabled };
  if (change.displayName !== undefined) next = { ...next, displayName: change.displayName };
  if (change.idp) {
    if (next.protocol !== 'saml') throw new AppError('invalid_request', `connection ${connectionId} is an OIDC connection; IdP metadata is for SAML ones`);
    const refreshed = refreshFromMetadata(next, change.idp.idp).connection;
    next = change.idp.metadataUrl ? { ...refreshed, metadataUrl: change.idp.metadataUrl } : refreshed;
  }
  return store.updateConnection(next);
}
