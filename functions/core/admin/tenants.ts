import { AppError } from '../errors';
import type { Tenant } from '../model';
import type { Store } from '../store/store';
import { checkId } from './connections';

/** @throws AppError `invalid_request` unless the limit is a whole number of seats, 0 or more. */
export function checkSeatLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new AppError('invalid_request', `a seat limit must be a whole number, 0 or more (got ${limit})`);
  return limit;
}

/** @throws AppError `not_found`. */
export async function requireTenant(store: Store, tenantId: string): Promise<Tenant> {
  const tenant = await store.getTenant(tenantId);
  if (!tenant) throw new AppError('not_found', `there is no tenant ${tenantId}`);
  return tenant;
}

/**
 * Creates a tenant with no users.
 * @throws AppError `invalid_request` for a malformed id or one in use.
 */
export async function addTenant(store: Store, tenant: { id: string; name: string; seatLimit?: number }): Promise<Tenant> {
  checkId(tenant.id, 'the tenant id');
  if (tenant.seatLimit !== undefined) checkSeatLimit(tenant.seatLimit);
  if (await store.getTenant(tenant.id)) throw new AppError('invalid_request', `tenant ${tenant.id} exists already (use tenants update)`);
  await store.putTenant(tenant);
  return requireTenant(store, tenant.id);
}

/**
 * Renames a tenant or changes its seat limit (`null` removes the limit). A limit below the seats
 * in use stops new users and reactivations; nobody is deactivated by it.
 *
 * @throws AppError `not_found`, `invalid_request`.
 */
export async function updateTenant(store: Store, tenantId: string, change: { name?: string; seatLimit?: number | null }): Promise<Tenant> {
  const current = await requireTenant(store, tenantId);
  const seatLimit = change.seatLimit === undefined ? current.seatLimit : change.seatLimit === null ? undefined : checkSeatLimit(change.seatLimit);
  await store.putTenant({ id: tenantId, name: change.name ?? current.name, ...(seatLimit === undefined ? {} : { seatLimit }) });
  return requireTenant(store, tenantId);
}

/**
 * Removes a tenant that has no connections and no users left: removing those is a decision of
 * its own, never a side effect.
 *
 * @throws AppError `not_found`; `invalid_request` while connections or users remain.
 */
export async function removeTenant(store: Store, tenantId: string): Promise<void> {
  await requireTenant(store, tenantId);
  const [connections, users] = await Promise.all([store.listConnections(tenantId), store.listUsers(tenantId)]);
  if (connections.length || users.length) {
    throw new AppError('invalid_request', `tenant ${tenantId} still has ${connections.length} connection(s) and ${users.length} user(s); remove them first`);
  }
  await store.removeTenant(tenantId);
}
