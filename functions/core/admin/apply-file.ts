import { parse as parseYaml } from 'yaml';
import { AppError } from '../errors';
import { normalizeDomain } from '../discovery';
import type { DirectoryRoles, OidcConnection } from '../model';
import { checkId, parseCertificates, type ConnectionChange, type OidcSettings, type SamlSettings } from './connections';
import { parseDirectoryRoles, parsePolicyMembers, POLICY_FIELDS, read, type Json } from './policy';

/** A tenant as the configuration file declares it; a member left out keeps the tenant's own (or the default for a new one). */
export interface TenantSpec {
  readonly id: string;
  readonly name?: string;
  /** `null`: no limit. */
  readonly seatLimit?: number | null;
  /** The tenant's verified email domains (normalized); with `--prune`, those of the tenant it does not list are released. */
  readonly domains?: readonly string[];
  /** The connection home-realm discovery picks among several; `null`: none. */
  readonly defaultConnection?: string | null;
  /** How its directory (SCIM) groups give roles; `null`: SCIM groups change no roles. */
  readonly directoryRoles?: DirectoryRoles | null;
}

/** A connection as the configuration file declares it: its identity, and the settings it names as a change. */
export interface ConnectionSpec {
  readonly id: string;
  readonly tenantId: string;
  readonly protocol: 'saml' | 'oidc';
  /** Where it is in the file (`connections[2]`), for messages. */
  readonly path: string;
  readonly change: ConnectionChange;
}

/** A configuration file: the tenants (with their domains, default connection and directory roles) and connections it manages. */
export interface Configuration {
  readonly tenants: readonly TenantSpec[];
  readonly connections: readonly ConnectionSpec[];
}

const COMMON_FIELDS = ['id', 'tenantId', 'protocol', 'enabled', 'displayName', ...POLICY_FIELDS] as const;
const SAML_FIELDS = [
  'idpEntityId', 'idpSsoUrl', 'idpCertificates', 'metadataUrl', 'spEntityId', 'acsUrl', 'clockSkewSeconds', 'allowSha1', 'allowIdpInitiated', 'spDecryptionKeySecret', 'spEncryptionCertificate',
  'signAuthnRequests', 'subjectAttribute', 'maxIssueAgeSeconds',
] as const;
const OIDC_FIELDS = ['issuer', 'clientId', 'clientSecretName', 'tokenEndpointAuthMethod', 'scopes', 'idTokenSigningAlgorithms', 'allowedEntraTenants', 'clockToleranceSeconds'] as const;
const AUTH_METHODS: readonly OidcConnection['tokenEndpointAuthMethod'][] = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'];

function wholeNumber(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) return read.bad(path, 'must be a whole number, 0 or more');
  return value;
}

/** An optional member: absent, `null` (removed), or read by `parse`. */
function optional<T>(raw: Json, name: string, path: string, parse: (value: unknown, path: string) => T): T | null | undefined {
  const value = raw[name];
  if (value === undefined) return undefined;
  return value === null ? null : parse(value, `${path}.${name}`);
}

/** A required member: present and read by `parse`, `null` refused. */
function given<T>(raw: Json, name: string, path: string, parse: (value: unknown, path: string) => T): T | undefined {
  const value = raw[name];
  if (value === null) read.bad(`${path}.${name}`, 'may not be null (it has no default to fall back to)');
  return value === undefined ? undefined : parse(value, `${path}.${name}`);
}

function certificates(value: unknown, path: string): string[] {
  return read.strings(value, path, { nonEmpty: true }).flatMap((pem, i) => {
    try {
      return parseCertificates(pem);
    } catch (error) {
      return read.bad(`${path}[${i}]`, error instanceof AppError ? (error.detail ?? error.code) : 'is not a PEM certificate');
    }
  });
}

/** Drops the members a spec leaves out, so the change names only what the file says. */
function present<T extends object>(settings: T): T {
  return Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) as T;
}

function domains(value: unknown, path: string): string[] {
  const list = read.strings(value, path).map((domain, i) => {
    try {
      return normalizeDomain(domain);
    } catch (error) {
      return read.bad(`${path}[${i}]`, error instanceof AppError ? (error.detail ?? error.code) : 'is not an email domain');
    }
  });
  return [...new Set(list)];
}

function directoryRoles(value: unknown, path: string): DirectoryRoles {
  try {
    return parseDirectoryRoles(value);
  } catch (error) {
    // parseDirectoryRoles names its fields from "directoryRoles"; the file's path goes in front.
    if (error instanceof AppError && error.code === 'invalid_request') throw new AppError('invalid_request', `${path.slice(0, -'directoryRoles'.length)}${error.detail ?? ''}`);
    throw error;
  }
}

function tenantSpec(value: unknown, path: string): TenantSpec {
  const raw = read.object(value, path, ['id', 'name', 'seatLimit', 'domains', 'defaultConnection', 'directoryRoles']);
  const id = read.string(raw.id, `${path}.id`);
  try {
    checkId(id, 'the tenant id');
  } catch (error) {
    read.bad(`${path}.id`, error instanceof AppError ? (error.detail ?? '') : 'is not an id');
  }
  return present({
    id,
    name: given(raw, 'name', path, read.string),
    seatLimit: optional(raw, 'seatLimit', path, wholeNumber),
    domains: given(raw, 'domains', path, domains),
    defaultConnection: optional(raw, 'defaultConnection', path, read.string),
    directoryRoles: optional(raw, 'directoryRoles', path, directoryRoles),
  });
}

function connectionSpec(value: unknown, path: string): ConnectionSpec {
  const entry = read.isObject(value) ? value : read.bad(path, 'must be an object');
  const protocol = entry.protocol === 'saml' || entry.protocol === 'oidc' ? entry.protocol : read.bad(`${path}.protocol`, 'must be "saml" or "oidc"');
  const raw = read.object(entry, path, [...COMMON_FIELDS, ...(protocol === 'saml' ? SAML_FIELDS : OIDC_FIELDS)]);
  const id = read.string(raw.id, `${path}.id`);
  try {
    checkId(id, 'the connection id');
  } catch (error) {
    read.bad(`${path}.id`, error instanceof AppError ? (error.detail ?? '') : 'is not an id');
  }
  const policy = parsePolicyMembers(raw, `${path}.`);
  const common = present({
    ...(Object.keys(policy).length ? { policy } : {}),
    enabled: given(raw, 'enabled', path, read.boolean),
    displayName: optional(raw, 'displayName', path, read.string),
  });
  let change: ConnectionChange;
  if (protocol === 'saml') {
    const saml: SamlSettings = present({
      idpEntityId: given(raw, 'idpEntityId', path, read.string),
      idpSsoUrl: given(raw, 'idpSsoUrl', path, read.string),
      idpCertificates: given(raw, 'idpCertificates', path, certificates),
      metadataUrl: optional(raw, 'metadataUrl', path, read.string),
      spEntityId: optional(raw, 'spEntityId', path, read.string),
      acsUrl: optional(raw, 'acsUrl', path, read.string),
      clockSkewSeconds: given(raw, 'clockSkewSeconds', path, wholeNumber),
      allowSha1: given(raw, 'allowSha1', path, read.boolean),
      allowIdpInitiated: given(raw, 'allowIdpInitiated', path, read.boolean),
      spDecryptionKeySecret: optional(raw, 'spDecryptionKeySecret', path, read.string),
      spEncryptionCertificate: optional(raw, 'spEncryptionCertificate', path, (v, p) => certificates([v], p)[0]!),
      signAuthnRequests: given(raw, 'signAuthnRequests', path, read.boolean),
      subjectAttribute: optional(raw, 'subjectAttribute', path, read.string),
      maxIssueAgeSeconds: optional(raw, 'maxIssueAgeSeconds', path, wholeNumber),
    });
    change = { ...common, ...(Object.keys(saml).length ? { saml } : {}) };
  } else {
    const method = (v: unknown, p: string) => AUTH_METHODS.find((m) => m === v) ?? read.bad(p, `must be one of ${AUTH_METHODS.map((m) => `"${m}"`).join(', ')}`);
    const oidc: OidcSettings = present({
      issuer: given(raw, 'issuer', path, read.string),
      clientId: given(raw, 'clientId', path, read.string),
      clientSecretName: given(raw, 'clientSecretName', path, read.string),
      tokenEndpointAuthMethod: given(raw, 'tokenEndpointAuthMethod', path, method),
      scopes: optional(raw, 'scopes', path, (v, p) => read.strings(v, p, { nonEmpty: true })),
      idTokenSigningAlgorithms: optional(raw, 'idTokenSigningAlgorithms', path, (v, p) => read.strings(v, p, { nonEmpty: true })),
      allowedEntraTenants: optional(raw, 'allowedEntraTenants', path, (v, p) => read.strings(v, p, { nonEmpty: true })),
      clockToleranceSeconds: optional(raw, 'clockToleranceSeconds', path, wholeNumber),
    });
    change = { ...common, ...(Object.keys(oidc).length ? { oidc } : {}) };
  }
  return { id, tenantId: read.string(raw.tenantId, `${path}.tenantId`), protocol, path, change };
}

function unique<T extends { id: string }>(items: readonly T[], section: string): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    if (seen.has(item.id)) read.bad(`${section}[${i}].id`, `names "${item.id}" a second time`);
    seen.add(item.id);
  });
}

/**
 * Reads a configuration file's parsed content: `{ tenants: [...], connections: [...] }`, every
 * member checked as the policy file's are, the first wrong one named by its path
 * (`connections[1].roles.defaults must be an array of strings`).
 *
 * @throws AppError `invalid_request` naming the field.
 */
export function parseConfiguration(value: unknown): Configuration {
  const raw = read.object(value, 'file', ['tenants', 'connections']);
  const list = (name: string) => (raw[name] === undefined ? [] : Array.isArray(raw[name]) ? (raw[name] as unknown[]) : read.bad(name, 'must be an array'));
  const tenants = list('tenants').map((t, i) => tenantSpec(t, `tenants[${i}]`));
  const connections = list('connections').map((c, i) => connectionSpec(c, `connections[${i}]`));
  unique(tenants, 'tenants');
  unique(connections, 'connections');
  const owners = new Map<string, string>();
  tenants.forEach((tenant, i) =>
    tenant.domains?.forEach((domain, j) => {
      const owner = owners.get(domain);
      if (owner !== undefined) read.bad(`tenants[${i}].domains[${j}]`, `names ${domain}, which the file gives tenant ${owner} already (a domain belongs to one tenant)`);
      owners.set(domain, tenant.id);
    }),
  );
  return { tenants, connections };
}

/**
 * A configuration file's text as data: JSON for a `.json` file, YAML otherwise (YAML 1.2, of
 * which JSON is a subset; duplicate keys are refused).
 *
 * @throws AppError `invalid_request` saying where the text does not parse.
 */
export function parseConfigurationText(text: string, fileName: string): unknown {
  try {
    return fileName.toLowerCase().endsWith('.json') ? (JSON.parse(text) as unknown) : (parseYaml(text, { uniqueKeys: true }) as unknown);
  } catch (error) {
    throw new AppError('invalid_request', `not ${fileName.toLowerCase().endsWith('.json') ? 'JSON' : 'YAML'} (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`);
  }
}
