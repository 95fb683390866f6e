import { homeConnection, normalizeDomain } from '../discovery';
import { AppError } from '../errors';
import type { DomainClaim, Tenant } from '../model';
import type { Store } from '../store/store';
import { requireTenant } from './tenants';

/** What discovery would do for a tenant's domains, for the admin to read. */
export interface DomainReport {
  readonly tenant: Tenant;
  readonly domains: readonly DomainClaim[];
  /** The connection discovery sends these domains to, or `undefined` when it would refuse them. */
  readonly connectionId: string | undefined;
  /** Why discovery would refuse, when it would. */
  readonly warning?: string;
}

async function report(store: Store, tenantId: string): Promise<DomainReport> {
  const tenant = await requireTenant(store, tenantId);
  const [domains, connections] = await Promise.all([store.listDomains(tenantId), store.listConnections(tenantId)]);
  const connection = homeConnection(connections, tenant.defaultConnectionId);
  const enabled = connections.filter((c) => c.enabled).length;
  const warning = connection
    ? undefined
    : enabled === 0
      ? 'the tenant has no enabled connection: discovery refuses its domains (unknown_domain) until it has one'
      : `the tenant has ${enabled} enabled connections and no enabled default: set one with --default-connection, or discovery refuses its domains (unknown_domain)`;
  return { tenant, domains, connectionId: connection?.id, ...(warning ? { warning } : {}) };
}

/**
 * Claims verified email domains for a tenant (the admin vouches that the tenant owns them), and
 * optionally names the tenant's default connection for discovery. A domain another tenant owns
 * is refused, whatever order the claims race in.
 *
 * @throws AppError `not_found` (tenant, or a default connection not the tenant's), `invalid_request`
 *   (not a domain), `domain_in_use`.
 */
export async function addDomains(store: Store, tenantId: string, domains: readonly string[], options: { defaultConnectionId?: string; now: Date }): Promise<DomainReport> {
  await requireTenant(store, tenantId);
  const normalized = domains.map(normalizeDomain);
  if (options.defaultConnectionId !== undefined) await setDefaultConnection(store, tenantId, options.defaultConnectionId);
  await claimDomains(store, tenantId, normalized, options.now);
  return report(store, tenantId);
}

/**
 * Claims normalized domains for a tenant, all or none: when one is refused, the domains this call
 * claimed are released again before the error is thrown, so a refusal never leaves half a list
 * claimed. Domains the tenant owns already stay as they were. The tenant is not looked up (a
 * caller creating it claims its domains first, so a refused domain leaves no tenant behind).
 *
 * @throws AppError `domain_in_use` when another tenant owns one of them, `service_unavailable`.
 */
export async function claimDomains(store: Store, tenantId: string, domains: readonly string[], now: Date): Promise<void> {
  const owned = new Set((await store.listDomains(tenantId)).map((d) => d.domain));
  const claimed: string[] = [];
  try {
    for (const domain of new Set(domains)) {
      if (owned.has(domain)) continue;
      // The conditional put is the guard; the list above only says what to undo.
      await store.claimDomain({ domain, tenantId, claimedAt: now.toISOString() });
      claimed.push(domain);
    }
  } catch (error) {
    for (const domain of claimed) await store.releaseDomain(domain, tenantId).catch(() => undefined);
    throw error;
  }
}

/** A tenant's domains and where discovery sends them. @throws AppError `not_found`. */
export const listDomains = (store: Store, tenantId: string): Promise<DomainReport> => report(store, tenantId);

/** Releases a tenant's domain. @throws AppError `not_found` when the tenant does not own it, `invalid_request`. */
export async function removeDomain(store: Store, tenantId: string, domain: string): Promise<DomainReport> {
  await requireTenant(store, tenantId);
  await store.releaseDomain(normalizeDomain(domain), tenantId);
  return report(store, tenantId);
}

/**
 * Names the connection discovery picks when the tenant has several enabled ones (`none` clears it).
 *
 * @throws AppError `not_found` for an unknown tenant or a connection that is not the tenant's.
 */
export async function setDefaultConnection(store: Store, tenantId: string, connectionId: string): Promise<void> {
  if (connectionId === 'none') return store.setDefaultConnection(tenantId, undefined);
  const connection = await store.getConnection(connectionId);
  if (!connection || connection.tenantId !== tenantId) throw new AppError('not_found', `tenant ${tenantId} has no connection ${connectionId}`);
  await store.setDefaultConnection(tenantId, connectionId);
}
