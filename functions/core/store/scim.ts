import { AppError } from '../errors';
import type { ScimGroup, ScimToken } from '../model';
import { TABLE_KEYS } from '../table';
import { byTenant, key } from './keys';
import { failedAt, type TableAccess } from './table';

/** What SCIM adds to the store: bearer tokens (by hash) and groups. */
export interface ScimStore {
  /** Stores a token's hash under its id, in one transaction. */
  putScimToken(token: ScimToken): Promise<void>;
  /** The token of this hash, if it exists (a revoked token does not). */
  findScimToken(hash: string): Promise<ScimToken | undefined>;
  listScimTokens(tenantId: string): Promise<ScimToken[]>;
  /** Removes a token at once; `undefined` when there is no token of that id. */
  removeScimToken(id: string): Promise<ScimToken | undefined>;
  /** Creates a group (at version 1). */
  createScimGroup(group: ScimGroup): Promise<ScimGroup>;
  getScimGroup(groupId: string): Promise<ScimGroup | undefined>;
  /** Writes a group's next version if it is still at `previous.version`, else `write_conflict`. */
  replaceScimGroup(previous: ScimGroup, next: ScimGroup): Promise<ScimGroup>;
  /** The tenant's groups; with `limit`, at most that many. */
  listScimGroups(tenantId: string, options?: { limit?: number }): Promise<ScimGroup[]>;
  removeScimGroup(groupId: string): Promise<void>;
}

export function scimStore(table: TableAccess): ScimStore {
  const { TableName } = table;
  const groupItem = (group: ScimGroup) => ({
    ...key.scimGroup(group.id),
    ...group,
    [TABLE_KEYS.byTenantPartitionKey]: byTenant.scimGroups(group.tenantId),
    [TABLE_KEYS.byTenantSortKey]: group.id,
  });
  return {
    async putScimToken(token) {
      const reasons = await table.transact({
        TransactItems: [
          {
            Put: {
              TableName,
              Item: { ...key.scimToken(token.hash), ...token, [TABLE_KEYS.byTenantPartitionKey]: byTenant.scimTokens(token.tenantId), [TABLE_KEYS.byTenantSortKey]: token.id },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
          { Put: { TableName, Item: { ...key.scimTokenId(token.id), hash: token.hash }, ConditionExpression: 'attribute_not_exists(pk)' } },
        ],
      });
      if (reasons) throw new AppError('service_unavailable', 'the token could not be stored; try again');
    },
    findScimToken: (hash) => table.get<ScimToken>(key.scimToken(hash)),
    listScimTokens: (tenantId) => table.queryByTenantIndex<ScimToken>(byTenant.scimTokens(tenantId)),
    async removeScimToken(id) {
      const pointer = await table.get<{ hash: string }>(key.scimTokenId(id));
      if (!pointer) return undefined;
      const token = await table.get<ScimToken>(key.scimToken(pointer.hash));
      await table.transact({ TransactItems: [{ Delete: { TableName, Key: key.scimToken(pointer.hash) } }, { Delete: { TableName, Key: key.scimTokenId(id) } }] });
      return token;
    },

    async createScimGroup(group) {
      const stored = { ...group, version: 1 };
      const reasons = await table.transact({ TransactItems: [{ Put: { TableName, Item: groupItem(stored), ConditionExpression: 'attribute_not_exists(pk)' } }] });
      if (reasons) throw new AppError('service_unavailable', 'the group could not be created; try again');
      return stored;
    },
    getScimGroup: (groupId) => table.get<ScimGroup>(key.scimGroup(groupId)),
    async replaceScimGroup(previous, proposed) {
      const next = { ...proposed, version: previous.version + 1 };
      const reasons = await table.transact({
        TransactItems: [{ Put: { TableName, Item: groupItem(next), ConditionExpression: 'version = :seen', ExpressionAttributeValues: { ':seen': previous.version } } }],
      });
      if (!reasons) return next;
      if (failedAt(reasons, 0)) throw new AppError('write_conflict', 'the group changed since it was read; read it again');
      throw new AppError('service_unavailable', 'the group could not be saved; try again');
    },
    listScimGroups: (tenantId, options) => table.queryByTenantIndex<ScimGroup>(byTenant.scimGroups(tenantId), options),
    async removeScimGroup(groupId) {
      await table.remove(key.scimGroup(groupId));
    },
  };
}
