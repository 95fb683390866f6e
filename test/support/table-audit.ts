import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';

/**
 * What a scan of the whole table finds wrong with the provisioning records, read straight from
 * the items (independently of the store's code): a user without its email key or without any
 * identity link, an email key or a link whose user is missing or another, and a tenant whose seat
 * count differs from its active users. An empty list means nothing is half-written.
 *
 * Users an admin adds ahead of their first login have no link yet; pass `usersWithoutLinks:
 * 'allowed'` for a table that holds some.
 */
export async function findOrphans(
  client: DynamoDBDocumentClient,
  tableName: string,
  options: { usersWithoutLinks?: 'allowed' | 'orphan'; tenantId?: string } = {},
): Promise<string[]> {
  const items: Record<string, unknown>[] = [];
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey }));
    items.push(...(page.Items ?? []));
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);

  const kind = (item: Record<string, unknown>) => String(item.pk).split('#')[0];
  const users = new Map(items.filter((i) => kind(i) === 'USER' && i.sk === 'USER').map((i) => [String(i.id), i]));
  const emails = items.filter((i) => kind(i) === 'EMAIL');
  const links = items.filter((i) => kind(i) === 'LINK');
  const tenants = items.filter((i) => kind(i) === 'TENANT' && i.sk === 'TENANT');
  const inScope = (tenantId: unknown) => options.tenantId === undefined || tenantId === options.tenantId;
  const problems: string[] = [];

  for (const user of users.values()) {
    if (!inScope(user.tenantId)) continue;
    if (user.email !== undefined) {
      const key = `EMAIL#${String(user.tenantId)}#${String(user.email)}`;
      const email = emails.find((e) => e.pk === key);
      if (!email) problems.push(`user ${String(user.id)} has no email key ${key}`);
      else if (email.userId !== user.id) problems.push(`user ${String(user.id)}'s email key points to ${String(email.userId)}`);
    }
    if (options.usersWithoutLinks !== 'allowed' && !links.some((l) => l.userId === user.id)) problems.push(`user ${String(user.id)} has no identity link`);
  }
  for (const email of emails) {
    const user = users.get(String(email.userId));
    if (!user) problems.push(`email key ${String(email.pk)} points to missing user ${String(email.userId)}`);
    else if (inScope(user.tenantId) && `EMAIL#${String(user.tenantId)}#${String(user.email)}` !== email.pk) problems.push(`email key ${String(email.pk)} is not its user's email`);
  }
  for (const link of links) {
    if (!inScope(link.tenantId)) continue;
    const user = users.get(String(link.userId));
    if (!user) problems.push(`link ${String(link.pk)} points to missing user ${String(link.userId)}`);
    else if (user.tenantId !== link.tenantId) problems.push(`link ${String(link.pk)} is of tenant ${String(link.tenantId)}, its user of ${String(user.tenantId)}`);
  }
  for (const tenant of tenants) {
    if (!inScope(tenant.id)) continue;
    const active = [...users.values()].filter((u) => u.tenantId === tenant.id && u.status === 'active').length;
    if (tenant.seatCount !== active) problems.push(`tenant ${String(tenant.id)} counts ${String(tenant.seatCount)} seats for ${active} active users`);
  }
  return problems;
}

/** How many users, email keys and links a tenant has, and its seat count, as a scan finds them. */
export async function countTenantRecords(client: DynamoDBDocumentClient, tableName: string, tenantId: string) {
  const counts = { users: 0, emailKeys: 0, links: 0, seatCount: -1 };
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey }));
    for (const item of page.Items ?? []) {
      const pk = String(item.pk);
      if (pk.startsWith('USER#') && item.sk === 'USER' && item.tenantId === tenantId) counts.users++;
      else if (pk.startsWith(`EMAIL#${tenantId}#`)) counts.emailKeys++;
      else if (pk.startsWith('LINK#') && item.tenantId === tenantId) counts.links++;
      else if (pk === `TENANT#${tenantId}` && item.sk === 'TENANT') counts.seatCount = Number(item.seatCount);
    }
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return counts;
}
