import { DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { AppError } from '../errors';
import type { DirectoryRoles, DomainClaim, Tenant } from '../model';
import { TABLE_KEYS } from '../table';
import { byTenant, key } from './keys';
import { ConditionalCheckFailedException, unavailable, type TableAccess } from './table';

export interface TenantStore {
  /** Creates or updates a tenant's name and seat limit; its seat count (and directory roles) are kept. */
  putTenant(tenant: Omit<Tenant, 'seatCount' | 'directoryRoles'>): Promise<void>;
  getTenant(tenantId: string): Promise<Tenant | undefined>;
  /** Sets (or with `undefined` removes) the tenant's mapping of directory (SCIM) groups to roles. */
  setDirectoryRoles(tenantId: string, directoryRoles: DirectoryRoles | undefined): Promise<void>;
  listTenants(): Promise<Tenant[]>;
  /** Removes a tenant item (its connections and users are the caller's to remove first). */
  removeTenant(tenantId: string): Promise<void>;

  // Home-realm discovery: verified email domains and the tenant's default connection.
  /**
   * Claims a domain for a tenant with one conditional put, so two tenants can never both own it;
   * claiming a domain the tenant owns already changes nothing. Throws `domain_in_use` when another
   * tenant owns it.
   */
  claimDomain(claim: DomainClaim): Promise<void>;
  getDomain(domain: string): Promise<DomainClaim | undefined>;
  listDomains(tenantId: string): Promise<DomainClaim[]>;
  /** Releases a tenant's domain; `not_found` when the tenant does not own it. */
  releaseDomain(domain: string, tenantId: string): Promise<void>;
  /** Sets (or with `undefined` clears) the tenant's default connection; `not_found` for no such tenant. */
  setDefaultConnection(tenantId: string, connectionId: string | undefined): Promise<void>;
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

    async claimDomain(claim) {
      try {
        await client.send(
          new PutCommand({
            TableName,
            Item: { ...key.domain(claim.domain), ...claim, [TABLE_KEYS.byTenantPartitionKey]: byTenant.domains(claim.tenantId), [TABLE_KEYS.byTenantSortKey]: claim.domain },
            // One key item per domain: whichever tenant claims it first owns it, however claims race.
            ConditionExpression: 'attribute_not_exists(pk) OR tenantId = :tenant',
            ExpressionAttributeValues: { ':tenant': claim.tenantId },
          }),
        );
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) throw new AppError('domain_in_use', `${claim.domain} belongs to another tenant`);
        unavailable(error);
      }
    },
    getDomain: (domain) => table.get<DomainClaim>(key.domain(domain)),
    listDomains: (tenantId) => table.queryByTenantIndex<DomainClaim>(byTenant.domains(tenantId)),
    async releaseDomain(domain, tenantId) {
      try {
        await client.send(new DeleteCommand({ TableName, Key: key.domain(domain), ConditionExpression: 'tenantId = :tenant', ExpressionAttributeValues: { ':tenant': tenantId } }));
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) throw new AppError('not_found', `tenant ${tenantId} does not own ${domain}`);
        unavailable(error);
      }
    },
    async setDefaultConnection(tenantId, connectionId) {
      try {
        await client.send(
          new UpdateCommand({
            TableName,
            Key: key.tenant(tenantId),
            UpdateExpression: connectionId === undefined ? 'REMOVE defaultConnectionId' : 'SET defaultConnectionId = :connection',
            ConditionExpression: 'attribute_exists(pk)',
            ...(connectionId === undefined ? {} : { ExpressionAttributeValues: { ':connection': connectionId } }),
          }),
        );
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) throw new AppError('not_found', `there is no tenant ${tenantId}`);
        unavailable(error);
      }
    },
  };
}
