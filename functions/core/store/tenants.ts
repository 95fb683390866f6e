import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DirectoryRoles, Tenant } from '../model';
import { byTenant, key } from './keys';
import { unavailable, type TableAccess } from './table';

export interface TenantStore {
  /** Creates or updates a tenant's name and seat limit; its seat count (and directory roles) are kept. */
  putTenant(tenant: Omit<Tenant, 'seatCount' | 'directoryRoles'>): Promise<void>;
  getTenant(tenantId: string): Promise<Tenant | undefined>;
  /** Sets (or with `undefined` removes) the tenant's mapping of directory (SCIM) groups to roles. */
  setDirectoryRoles(tenantId: string, directoryRoles: DirectoryRoles | undefined): Promise<void>;
  listTenants(): Promise<Tenant[]>;
  /** Removes a tenant item (its connections and users are the caller's to remove first). */
  removeTenant(tenantId: string): Promise<void>;
}

export function tenantStore(table: TableAccess): TenantStore {
  const { TableName, client } = table;
  return {
    async putTenant({ id, name, seatLimit }) {
      try {
        // The seat count belongs to the transactions that create and deactivate users; saving a tenant keeps it.
        await client.send(
          new UpdateCommand({
            TableName,
            Key: key.tenant(id),
            UpdateExpression: `SET id = :id, #name = :name, seatCount = if_not_exists(seatCount, :zero), gsi1pk = :tenants, gsi1sk = :id${seatLimit === undefined ? ' REMOVE seatLimit' : ', seatLimit = :limit'}`,
            ExpressionAttributeNames: { '#name': 'name' },
            ExpressionAttributeValues: { ':id': id, ':name': name, ':zero': 0, ':tenants': byTenant.tenants, ...(seatLimit === undefined ? {} : { ':limit': seatLimit }) },
          }),
        );
      } catch (error) {
        unavailable(error);
      }
    },
    getTenant: (tenantId) => table.get<Tenant>(key.tenant(tenantId)),
    async setDirectoryRoles(tenantId, directoryRoles) {
      try {
        await client.send(
          new UpdateCommand({
            TableName,
            Key: key.tenant(tenantId),
            UpdateExpression: directoryRoles === undefined ? 'REMOVE directoryRoles' : 'SET directoryRoles = :roles',
            ConditionExpression: 'attribute_exists(pk)',
            ...(directoryRoles === undefined ? {} : { ExpressionAttributeValues: { ':roles': directoryRoles } }),
          }),
        );
      } catch (error) {
        unavailable(error);
      }
    },
    listTenants: () => table.queryByTenantIndex<Tenant>(byTenant.tenants),
    async removeTenant(tenantId) {
      await table.remove(key.tenant(tenantId));
    },
  };
}
