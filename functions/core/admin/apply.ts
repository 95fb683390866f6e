import { AppError } from '../errors';
import type { Connection, DirectoryRoles, Tenant } from '../model';
import type { Runtime } from '../runtime';
import type { Configuration, ConnectionSpec, TenantSpec } from './apply-file';
import { changedConnection, changedFields, discoverIssuer, newOidcConnection, newSamlConnection, resolveIdp } from './connections';
import { policyWarnings } from './policy';
import { claimDomains, removeDomain, setDefaultConnection } from './domains';
import { setupLinkInfo, type SetupLinkInfo } from './setup-links';
import { checkSeatLimit } from './tenants';

/** One line of a plan: what applying the file does to one tenant or connection. */
export interface PlanStep {
  readonly kind: 'tenant' | 'connection';
  readonly id: string;
  readonly action: 'create' | 'update' | 'unchanged' | 'remove';
  /** For an update: the members that change. */
  readonly fields?: readonly string[];
  /** For a tenant whose domains change: those claimed, and those released (with `prune`). */
  readonly domains?: { readonly claim: readonly string[]; readonly release: readonly string[] };
}

/** What a configuration would change, and the writes that make it so. */
export interface Plan {
  readonly steps: readonly PlanStep[];
  /** Settings that would make logins fail (an empty allowlist, a secret that cannot be read…). */
  readonly warnings: readonly string[];
  /**
   * The setup links of the file's tenants as stored (id, protocol, status, validity, never a
   * token or hash): shown, never declared, created or removed by a file.
   */
  readonly setupLinks: readonly SetupLinkInfo[];
  /**
   * Writes the plan: the domains to claim first (all or none, so a domain another tenant took
   * since the plan refuses the whole apply before anything else is written), then tenants, then
   * connections, then default connections and released domains; an update is refused if its
   * connection changed since the plan read it.
   */
  apply(): Promise<void>;
}

function inFile(path: string, error: unknown): never {
  if (error instanceof AppError && error.code === 'invalid_request') throw new AppError('invalid_request', `${path}: ${error.detail ?? error.code}`, { cause: error });
  throw error;
}

function tenantChange(current: Tenant | undefined, spec: TenantSpec): { next: Omit<Tenant, 'seatCount'>; fields: string[] } {
  const seatLimit = spec.seatLimit === undefined ? current?.seatLimit : spec.seatLimit === null ? undefined : checkSeatLimit(spec.seatLimit);
  const next = { id: spec.id, name: spec.name ?? current?.name ?? spec.id, ...(seatLimit === undefined ? {} : { seatLimit }) };
  const fields = current ? (['name', 'seatLimit'] as const).filter((name) => current[name] !== next[name]) : [];
  return { next, fields: [...fields] };
}

/** Directory roles as one comparable value: group order does not matter, role order does. */
function canonicalRoles(roles: DirectoryRoles | undefined): string {
  if (!roles) return '';
  return JSON.stringify([Object.entries(roles.groupRoles).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)), roles.defaults]);
}

/** A new connection from its spec, as add-saml/add-oidc would make it. */
async function newConnection(spec: ConnectionSpec, fetchImpl: typeof fetch): Promise<Connection> {
  const { change } = spec;
  if (spec.protocol === 'saml') {
    const saml = change.saml ?? {};
    let source;
    if (saml.metadataUrl) source = { metadataUrl: saml.metadataUrl };
    else if (saml.idpEntityId && saml.idpSsoUrl && saml.idpCertificates) source = { idp: { entityId: saml.idpEntityId, ssoUrl: saml.idpSsoUrl, certificates: saml.idpCertificates } };
    else throw new AppError('invalid_request', 'a new SAML connection needs metadataUrl, or idpEntityId, idpSsoUrl and idpCertificates');
    const base = newSamlConnection({ id: spec.id, tenantId: spec.tenantId, ...(await resolveIdp(source, fetchImpl)) });
    return changedConnection(base, change, fetchImpl);
  }
  const oidc = change.oidc ?? {};
  if (!oidc.issuer || !oidc.clientId || !oidc.clientSecretName) throw new AppError('invalid_request', 'a new OIDC connection needs issuer, clientId and clientSecretName');
  const base = newOidcConnection({
    id: spec.id,
    tenantId: spec.tenantId,
    discovered: await discoverIssuer(oidc.issuer, fetchImpl),
    clientId: oidc.clientId,
    clientSecretName: oidc.clientSecretName,
    ...(oidc.tokenEndpointAuthMethod ? { tokenEndpointAuthMethod: oidc.tokenEndpointAuthMethod } : {}),
    ...(oidc.scopes ? { scopes: oidc.scopes } : {}),
    ...(oidc.idTokenSigningAlgorithms ? { idTokenSigningAlgorithms: oidc.idTokenSigningAlgorithms } : {}),
    ...(oidc.allowedEntraTenants ? { allowedEntraTenants: oidc.allowedEntraTenants } : {}),
    ...(typeof oidc.clockToleranceSeconds === 'number' ? { clockToleranceSeconds: oidc.clockToleranceSeconds } : {}),
  });
  // The provider settings were checked against discovery just now; the rest applies as a change.
  const { oidc: _checked, ...rest } = change;
  return changedConnection(base, rest, fetchImpl);
}

/** The names of the secrets a connection reads. */
function secretNames(connection: Connection): string[] {
  if (connection.protocol === 'oidc') return [connection.clientSecretName];
  return connection.spDecryptionKeySecret ? [connection.spDecryptionKeySecret] : [];
}

/**
 * Compares a configuration with the table and plans the writes that make the table say what the
 * file says; writes nothing until `apply()`. A member a spec leaves out is left as it is, so a
 * file applied twice plans nothing the second time (and no version moves). Connections are
 * removed only with `prune`, and only those of the file's `tenants` the file does not list;
 * tenants are never removed. A connection never moves to another tenant. A tenant's `domains`
 * are claimed as `tenants domains add` claims them; with `prune` the file's tenants' domains it
 * does not list are released (never without). A domain another tenant owns refuses the whole
 * file, at planning and again, all or none, when applying. The plan lists the stored tenants'
 * setup links, which a file never declares.
 *
 * @throws AppError `invalid_request` naming the file's entry (a bad value, a tenant that exists nowhere, a connection of another tenant or protocol, a default connection not the tenant's), `domain_in_use`, `service_unavailable`.
 */
export async function planConfiguration(runtime: Runtime, configuration: Configuration, options: { prune?: boolean; fetch?: typeof fetch } = {}): Promise<Plan> {
  const { store } = runtime;
  const fetchImpl = options.fetch ?? fetch;
  const steps: PlanStep[] = [];
  const warnings: string[] = [];
  const writes: (() => Promise<unknown>)[] = [];
  const connectionWrites: (() => Promise<unknown>)[] = [];

  const claims: { tenantId: string; domains: string[] }[] = [];
  const roleWrites: (() => Promise<unknown>)[] = [];
  const finalWrites: (() => Promise<unknown>)[] = [];
  const now = runtime.clock();
  const tenantIds = new Set<string>();
  const setupLinks: SetupLinkInfo[] = [];
  for (const [i, spec] of configuration.tenants.entries()) {
    const path = `tenants[${i}]`;
    const current = await store.getTenant(spec.id);
    const { next, fields } = (() => {
      try {
        return tenantChange(current, spec);
      } catch (error) {
        return inFile(path, error);
      }
    })();
    const nameOrSeats = fields.length > 0;
    tenantIds.add(spec.id);

    if (spec.directoryRoles !== undefined && canonicalRoles(spec.directoryRoles ?? undefined) !== canonicalRoles(current?.directoryRoles)) {
      const roles = spec.directoryRoles ?? undefined;
      if (current || roles) {
        fields.push('directoryRoles');
        roleWrites.push(() => store.setDirectoryRoles(spec.id, roles));
      }
    }

    if (spec.defaultConnection !== undefined && (spec.defaultConnection ?? undefined) !== current?.defaultConnectionId) {
      const connectionId = spec.defaultConnection;
      if (connectionId !== null) {
        const listed = configuration.connections.find((c) => c.id === connectionId);
        const stored = listed ? undefined : await store.getConnection(connectionId);
        if ((listed ? listed.tenantId : stored?.tenantId) !== spec.id) {
          throw new AppError('invalid_request', `${path}.defaultConnection names ${connectionId}, which is not a connection of tenant ${spec.id} (in the file or the table)`);
        }
        if (!listed && options.prune) throw new AppError('invalid_request', `${path}.defaultConnection names ${connectionId}, which --prune removes (list it in the file's connections)`);
      }
      if (current || connectionId !== null) {
        fields.push('defaultConnection');
        // After the connections: the default may be one this file creates.
        finalWrites.push(() => setDefaultConnection(store, spec.id, connectionId ?? 'none'));
      }
    }

    let domains: PlanStep['domains'];
    if (spec.domains !== undefined || (options.prune && current)) {
      const owned = current ? (await store.listDomains(spec.id)).map((d) => d.domain) : [];
      const claim = (spec.domains ?? []).filter((d) => !owned.includes(d));
      const release = options.prune ? owned.filter((d) => !(spec.domains ?? []).includes(d)) : [];
      for (const domain of claim) {
        const owner = await store.getDomain(domain);
        // Checked here so that a plan (and a dry run) says so; the conditional claim at apply time is the guard.
        if (owner && owner.tenantId !== spec.id) throw new AppError('domain_in_use', `${path}.domains: ${domain} belongs to another tenant`);
      }
      if (claim.length || release.length) {
        fields.push('domains');
        domains = { claim, release };
        if (claim.length) claims.push({ tenantId: spec.id, domains: claim });
        for (const domain of release) finalWrites.push(() => removeDomain(store, spec.id, domain));
      }
    }

    if (current) setupLinks.push(...(await store.listSetupLinks(spec.id)).map((link) => setupLinkInfo(link, now)));

    if (!current) {
      steps.push({ kind: 'tenant', id: spec.id, action: 'create', ...(domains ? { domains } : {}) });
      writes.push(() => store.putTenant(next));
    } else if (fields.length) {
      steps.push({ kind: 'tenant', id: spec.id, action: 'update', fields, ...(domains ? { domains } : {}) });
      if (nameOrSeats) writes.push(() => store.putTenant(next));
    } else {
      steps.push({ kind: 'tenant', id: spec.id, action: 'unchanged' });
    }
  }

  const listed = new Set(configuration.connections.map((c) => c.id));
  for (const spec of configuration.connections) {
    try {
      if (!tenantIds.has(spec.tenantId) && !(await store.getTenant(spec.tenantId))) {
        throw new AppError('invalid_request', `tenantId names ${spec.tenantId}, which is neither in the file's tenants nor in the table`);
      }
      const current = await store.getConnection(spec.id);
      if (current && current.tenantId !== spec.tenantId) {
        throw new AppError('invalid_request', `connection ${spec.id} belongs to tenant ${current.tenantId}; a connection never moves to another tenant (remove it, then add it under ${spec.tenantId})`);
      }
      if (current && current.protocol !== spec.protocol) {
        throw new AppError('invalid_request', `connection ${spec.id} is a ${current.protocol.toUpperCase()} connection; the protocol of a connection does not change`);
      }
      const next = current ? await changedConnection(current, spec.change, fetchImpl) : await newConnection(spec, fetchImpl);
      const fields = current ? changedFields(current, next) : [];
      if (!current) {
        steps.push({ kind: 'connection', id: spec.id, action: 'create' });
        connectionWrites.push(() => store.putConnection(next));
      } else if (fields.length) {
        steps.push({ kind: 'connection', id: spec.id, action: 'update', fields });
        connectionWrites.push(() => store.updateConnection(next));
      } else {
        steps.push({ kind: 'connection', id: spec.id, action: 'unchanged' });
      }
      if (!current || fields.length) {
        warnings.push(...policyWarnings(next).map((warning) => `connection ${spec.id}: ${warning}`));
        const before = current ? secretNames(current) : [];
        for (const name of secretNames(next).filter((n) => !before.includes(n))) {
          // Only a check: the login functions read the secret, and an admin may lack the right to.
          await runtime.secrets.read(name).catch(() => warnings.push(`connection ${spec.id}: the secret ${name} could not be read; create it before the first login`));
        }
      }
    } catch (error) {
      inFile(`${spec.path} (${spec.id})`, error);
    }
  }

  if (options.prune) {
    for (const tenantId of tenantIds) {
      for (const connection of await store.listConnections(tenantId)) {
        if (listed.has(connection.id)) continue;
        steps.push({ kind: 'connection', id: connection.id, action: 'remove' });
        const link = setupLinks.find((l) => l.connectionId === connection.id);
        if (link) warnings.push(`connection ${connection.id}: made through setup link ${link.id} (${link.status}); --prune removes it, list it in the file to keep it`);
        connectionWrites.push(() => store.removeConnection(connection.id));
      }
    }
  }

  return {
    steps,
    warnings,
    setupLinks,
    async apply() {
      const claimed: typeof claims = [];
      try {
        for (const claim of claims) {
          await claimDomains(store, claim.tenantId, claim.domains, now);
          claimed.push(claim);
        }
      } catch (error) {
        for (const { tenantId, domains } of claimed) for (const domain of domains) await store.releaseDomain(domain, tenantId).catch(() => undefined);
        throw error;
      }
      for (const write of [...writes, ...roleWrites, ...connectionWrites, ...finalWrites]) await write();
    },
  };
}
