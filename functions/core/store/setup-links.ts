import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { AppError } from '../errors';
import type { SetupLink, SetupTestResult } from '../model';
import { TABLE_KEYS } from '../table';
import { byTenant, key } from './keys';
import { ConditionalCheckFailedException, unavailable, type TableAccess } from './table';

/** Self-serve setup links: stored by the hash of their token, with a pointer from their id. */
export interface SetupLinkStore {
  /** Stores a new link under its hash and its id, in one transaction. */
  putSetupLink(link: SetupLink): Promise<void>;
  /** The link of this token hash, revoked or not, if it exists. */
  findSetupLink(hash: string): Promise<SetupLink | undefined>;
  listSetupLinks(tenantId: string): Promise<SetupLink[]>;
  /** Marks a link revoked at once; `undefined` when there is no link of that id. */
  revokeSetupLink(id: string, at: Date): Promise<SetupLink | undefined>;
  /**
   * Records (or with `undefined` clears) the link's last test login, and with `activatedAt` its
   * activation. A revoked link is refused with `setup_link_revoked`, so nothing is written
   * through a link after its revocation.
   */
  updateSetupLink(hash: string, change: { test?: SetupTestResult | null; idp?: string; activatedAt?: string }): Promise<void>;
}

export function setupLinkStore(table: TableAccess): SetupLinkStore {
  const { TableName, client } = table;
  return {
    async putSetupLink(link) {
      const reasons = await table.transact({
        TransactItems: [
          {
            Put: {
              TableName,
              Item: { ...key.setupLink(link.hash), ...link, [TABLE_KEYS.byTenantPartitionKey]: byTenant.setupLinks(link.tenantId), [TABLE_KEYS.byTenantSortKey]: link.createdAt + '#' + link.id },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
          { Put: { TableName, Item: { ...key.setupLinkId(link.id), hash: link.hash }, ConditionExpression: 'attribute_not_exists(pk)' } },
        ],
      });
      if (reasons) throw new AppError('service_unavailable', 'the setup link could not be stored; try again');
    },
    findSetupLink: (hash) => table.get<SetupLink>(key.setupLink(hash)),
    listSetupLinks: (tenantId) => table.queryByTenantIndex<SetupLink>(byTenant.setupLinks(tenantId)),
    async revokeSetupLink(id, at) {
      const pointer = await table.get<{ hash: string }>(key.setupLinkId(id));
      if (!pointer) return undefined;
      try {
        const { Attributes } = await client.send(
          new UpdateCommand({
            TableName,
            Key: key.setupLink(pointer.hash),
            UpdateExpression: 'SET revokedAt = if_not_exists(revokedAt, :at)',
            ConditionExpression: 'attribute_exists(pk)',
            ExpressionAttributeValues: { ':at': at.toISOString() },
            ReturnValues: 'ALL_NEW',
          }),
        );
        return Attributes as SetupLink;
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) return undefined;
        return unavailable(error);
      }
    },
    async updateSetupLink(hash, change) {
      const sets: string[] = [];
      const removes: string[] = [];
      const values: Record<string, unknown> = {};
      if (change.test === null) removes.push('test');
      else if (change.test !== undefined) {
        sets.push('test = :test');
        values[':test'] = change.test;
      }
      if (change.idp !== undefined) {
        sets.push('idp = :idp');
        values[':idp'] = change.idp;
      }
      if (change.activatedAt !== undefined) {
        sets.push('activatedAt = :activatedAt');
        values[':activatedAt'] = change.activatedAt;
      }
      if (sets.length === 0 && removes.length === 0) return;
      try {
        await client.send(
          new UpdateCommand({
            TableName,
            Key: key.setupLink(hash),
            UpdateExpression: [sets.length ? `SET ${sets.join(', ')}` : '', removes.length ? `REMOVE ${removes.join(', ')}` : ''].join(' ').trim(),
            // Conditional, so a write racing a revocation cannot land after it.
            ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(revokedAt)',
            ...(Object.keys(values).length ? { ExpressionAttributeValues: values } : {}),
          }),
        );
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) throw new AppError('setup_link_revoked', 'this setup link has been revoked');
        unavailable(error);
      }
    },
  };
}
