/**
 * The shape of the one DynamoDB table, shared by the CDK stack, `npm start` and the tests so the
 * three create the same table. Only the store module reads or writes items.
 */
export const TABLE_KEYS = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** Items expire through DynamoDB TTL on this attribute (epoch seconds). */
  timeToLive: 'expiresAt',
  /** A GSI that lists a tenant's users and connections. */
  byTenantIndex: 'byTenant',
  byTenantPartitionKey: 'gsi1pk',
  byTenantSortKey: 'gsi1sk',
} as const;
