import { DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { AppError } from '../errors';
import type { Connection, IdentityLink, User } from '../model';
import { TABLE_KEYS } from '../table';
import { byTenant, key } from './keys';
import { ConditionalCheckFailedException, unavailable, type TableAccess } from './table';

export interface ConnectionStore {
  putConnection(connection: Connection): Promise<void>;
  /**
   * A connection; with `maxAgeSeconds`, one this store read (or wrote) at most that long ago may
   * serve (a login's read, cached per container; a write through this store replaces its entry).
   */
  getConnection(connectionId: string, options?: { maxAgeSeconds?: number }): Promise<Connection | undefined>;
  /**
   * Saves a changed connection as the next version, if it is still at the version it was read at;
   * otherwise `invalid_request` (someone else changed it first: read it again).
   */
  updateConnection<C extends Connection>(connection: C): Promise<C>;
  listConnections(tenantId: string): Promise<Connection[]>;
  /**
   * Removes a connection with its identity links; its users stay (they may sign in through
   * another), and an id re-added later starts with no links.
   */
  removeConnection(connectionId: string): Promise<void>;
}

/** How many connections a container keeps read; past it, the longest kept goes first. */
const CACHED_CONNECTIONS = 1000;

export function connectionStore(table: TableAccess): ConnectionStore {
  const { TableName, client } = table;
  // Real time, not a login's clock: tests freeze that at an old response's instant.
  const cache = new Map<string, { connection: Connection; at: number }>();
  const remember = (connection: Connection) => {
    cache.delete(connection.id);
    if (cache.size >= CACHED_CONNECTIONS) cache.delete(cache.keys().next().value!);
    cache.set(connection.id, { connection, at: Date.now() });
  };

  /** Deletes the identity links of a connection, found per user of its tenant (links point only to users of their connection's tenant). */
  async function removeLinksOf(connection: Connection): Promise<void> {
    const users = await table.queryByTenantIndex<User>(byTenant.users(connection.tenantId));
    for (const user of users) {
      const links = await table.queryByTenantIndex<IdentityLink>(byTenant.links(user.id));
      for (const link of links.filter((l) => l.connectionId === connection.id)) await table.remove(key.link(link));
    }
  }

  return {
    async putConnection(connection) {
      cache.delete(connection.id);
      await table.put({
        ...key.connection(connection.id),
        ...connection,
        [TABLE_KEYS.byTenantPartitionKey]: byTenant.connections(connection.tenantId),
        [TABLE_KEYS.byTenantSortKey]: connection.id,
      });
    },
    async getConnection(connectionId, options = {}) {
      const cached = cache.get(connectionId);
      if (cached && options.maxAgeSeconds && Date.now() - cached.at < options.maxAgeSeconds * 1000) return cached.connection;
      const connection = await table.get<Connection>(key.connection(connectionId));
      if (connection) remember(connection);
      else cache.delete(connectionId);
      return connection;
    },
    async updateConnection<C extends Connection>(connection: C): Promise<C> {
      const next: C = { ...connection, version: (connection.version ?? 0) + 1 };
      cache.delete(connection.id);
      try {
        await client.send(
          new PutCommand({
            TableName,
            Item: { ...key.connection(next.id), ...next, [TABLE_KEYS.byTenantPartitionKey]: byTenant.connections(next.tenantId), [TABLE_KEYS.byTenantSortKey]: next.id },
            ConditionExpression: connection.version === undefined ? 'attribute_exists(pk) AND attribute_not_exists(version)' : 'version = :seen',
            ...(connection.version === undefined ? {} : { ExpressionAttributeValues: { ':seen': connection.version } }),
          }),
        );
        return next;
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) {
          throw new AppError('invalid_request', `connection ${connection.id} changed since it was read (or does not exist); read it again`);
        }
        return unavailable(error);
      }
    },
    listConnections: (tenantId) => table.queryByTenantIndex<Connection>(byTenant.connections(tenantId)),

    async removeConnection(connectionId) {
      cache.delete(connectionId);
      const connection = await table.get<Connection>(key.connection(connectionId));
      if (!connection) return;
      // Links first, so a failure leaves the connection to remove again; then once more after the
      // connection is gone, for a login that linked an identity meanwhile.
      await removeLinksOf(connection);
      try {
        await client.send(new DeleteCommand({ TableName, Key: key.connection(connectionId) }));
      } catch (error) {
        unavailable(error);
      }
      await removeLinksOf(connection);
    },
  };
}
