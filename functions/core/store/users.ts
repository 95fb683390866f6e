import { randomUUID } from 'node:crypto';
import { DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { AppError, type ErrorCode } from '../errors';
import type { Connection, IdentityLink, Tenant, User } from '../model';
import { byTenant, key, linkItem, userItem } from './keys';
import { ConditionalCheckFailedException, conflictPause, conflicted, failedAt, unavailable, type TableAccess } from './table';

/** Users, their identity links, and the key items that keep email, `userName` and `externalId` unique per tenant. */
export interface UserStore {
  /**
   * The user an identity is linked to; none when the connection does not exist or the user is
   * not of the connection's tenant (such a stale link is deleted).
   */
  findUserByLink(link: IdentityLink): Promise<User | undefined>;
  /** The tenant's user holding this normalized email, if any. */
  findUserByEmail(tenantId: string, email: string): Promise<User | undefined>;
  /** The tenant's user of this SCIM `userName` (compared without regard to case), if any. */
  findUserByUserName(tenantId: string, userName: string): Promise<User | undefined>;
  /** The tenant's user of this SCIM `externalId` (compared exactly), if any. */
  findUserByExternalId(tenantId: string, externalId: string): Promise<User | undefined>;
  /**
   * Links another identity to an existing user. If a racing login linked it first, the user it
   * was linked to is returned.
   */
  linkIdentity(user: User, link: IdentityLink): Promise<User>;
  getUser(userId: string): Promise<User | undefined>;
  /**
   * Creates a user (at version 1) with its email, `userName` and `externalId` keys, identity link
   * (none for a user an admin or SCIM adds ahead of its first login) and seat in one transaction.
   * However many creations of the same identity race, one user results: the losers get the
   * winner's user. Throws `seat_limit_reached` when the tenant has no seat left, and
   * `email_in_use`, `user_name_in_use` or `external_id_in_use` when another user of the tenant
   * holds that value.
   */
  createUser(user: User, link: IdentityLink | undefined): Promise<User>;
  /**
   * Writes a user's new state if nobody changed it since `previous` was read; a moved email,
   * `userName` or `externalId` moves its key in the same transaction. Returns the user as stored
   * (the other writer's version when one won). Throws `email_in_use`, `user_name_in_use`,
   * `external_id_in_use` when a new value belongs to another user.
   */
  updateUser(previous: User, next: User): Promise<User>;
  /**
   * As `updateUser`, for a writer that must not lose to another silently: when the user changed
   * since `previous` was read (or is gone), `write_conflict`.
   */
  replaceUser(previous: User, next: User): Promise<User>;
  /**
   * Deactivates a user and frees its seat in one transaction; its sessions stop working at once,
   * since `GET /session` checks the user. Deactivating a deactivated user changes nothing.
   */
  deactivateUser(userId: string, at: Date): Promise<User | undefined>;
  /** Reactivates a user, taking a seat under the tenant's limit (`seat_limit_reached`). */
  reactivateUser(userId: string, at: Date): Promise<User | undefined>;
  /** The tenant's users; with `limit`, at most that many (a bounded page, never a table scan). */
  listUsers(tenantId: string, options?: { limit?: number }): Promise<User[]>;
  /** Removes a user with its email, `userName` and `externalId` keys and identity links, freeing its seat if it held one. */
  removeUser(userId: string): Promise<void>;
}

/** The unique values of a user, each kept unique per tenant by a key item naming the user. */
const UNIQUE_KEYS = [
  { field: 'email', key: key.email, code: 'email_in_use', detail: 'another account of this organization already uses this email address' },
  { field: 'userName', key: key.userName, code: 'user_name_in_use', detail: 'another account of this organization already has this userName' },
  { field: 'externalId', key: key.externalId, code: 'external_id_in_use', detail: 'another account of this organization already has this externalId' },
] as const satisfies readonly { field: keyof User; key: (tenantId: string, value: string) => Record<string, string>; code: ErrorCode; detail: string }[];

type UniqueKey = (typeof UNIQUE_KEYS)[number];

const sameKey = (unique: UniqueKey, tenantId: string, a: string | undefined, b: string | undefined) =>
  a === b || (a !== undefined && b !== undefined && unique.key(tenantId, a).pk === unique.key(tenantId, b).pk);

export function userStore(table: TableAccess): UserStore {
  const { TableName, client } = table;
  const get = table.get;
  const transact = table.transact;

  /** The key items that move when a user's unique values change, and which of them may collide. */
  function keyMoves(previous: User | undefined, next: User) {
    const items: Record<string, unknown>[] = [];
    const puts: { index: number; unique: UniqueKey }[] = [];
    for (const unique of UNIQUE_KEYS) {
      const before = previous?.[unique.field];
      const after = next[unique.field];
      if (sameKey(unique, next.tenantId, before, after)) continue;
      if (previous && before !== undefined) {
        items.push({ Delete: { TableName, Key: unique.key(previous.tenantId, before), ConditionExpression: 'userId = :id', ExpressionAttributeValues: { ':id': previous.id } } });
      }
      if (after !== undefined) {
        puts.push({ index: items.length, unique });
        items.push({ Put: { TableName, Item: { ...unique.key(next.tenantId, after), userId: next.id }, ConditionExpression: 'attribute_not_exists(pk)' } });
      }
    }
    return { items, puts };
  }

  function collision(reasons: Parameters<typeof failedAt>[0], puts: { index: number; unique: UniqueKey }[], offset: number): AppError | undefined {
    const hit = puts.find(({ index }) => failedAt(reasons, index + offset));
    return hit && new AppError(hit.unique.code, hit.unique.detail);
  }

  /** Writes `next` over `previous` if it is still the stored version: `undefined` when written, else the stored user. */
  async function writeUser(previous: User, proposed: User): Promise<{ written: User } | { current: User | undefined }> {
    const next: User = { ...proposed, version: (previous.version ?? 0) + 1 };
    const moves = keyMoves(previous, next);
    const reasons = await transact({
      TransactItems: [
        // Optimistic: a racing login, admin or SCIM change that got there first wins, and this one is dropped.
        {
          Put: {
            TableName,
            Item: userItem(next),
            ...(previous.version === undefined
              ? { ConditionExpression: 'attribute_not_exists(version) AND updatedAt = :seen', ExpressionAttributeValues: { ':seen': previous.updatedAt } }
              : { ConditionExpression: 'version = :seen', ExpressionAttributeValues: { ':seen': previous.version } }),
          },
        },
        ...moves.items,
      ],
    });
    if (!reasons) return { written: next };
    const taken = collision(reasons, moves.puts, 1);
    if (taken) throw taken;
    return { current: await get<User>(key.user(previous.id)) };
  }

  /** Moves a user between active and deactivated with its seat, in one transaction; the same status is a no-op. */
  async function setStatus(userId: string, status: User['status'], at: Date): Promise<User | undefined> {
    const user = await get<User>(key.user(userId));
    if (!user || user.status === status) return user;
    const activating = status === 'active';
    const reasons = await transact({
      TransactItems: [
        {
          Update: {
            TableName,
            Key: key.user(userId),
            UpdateExpression: 'SET #status = :to, updatedAt = :at, version = if_not_exists(version, :none) + :step',
            ConditionExpression: '#status = :from',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':to': status, ':from': user.status, ':at': at.toISOString(), ':none': 0, ':step': 1 },
          },
        },
        {
          Update: {
            TableName,
            Key: key.tenant(user.tenantId),
            UpdateExpression: 'SET seatCount = seatCount + :delta',
            // Reactivation takes a seat under the limit; deactivation frees one.
            ConditionExpression: activating ? 'attribute_not_exists(seatLimit) OR seatCount < seatLimit' : 'seatCount > :zero',
            ExpressionAttributeValues: { ':delta': activating ? 1 : -1, ...(activating ? {} : { ':zero': 0 }) },
          },
        },
      ],
    });
    if (reasons && activating && failedAt(reasons, 1)) throw new AppError('seat_limit_reached', 'this organization has no seat left for the account');
    // A racing change of the same user is fine: it reached the same status first.
    if (reasons && !failedAt(reasons, 0)) throw new AppError('service_unavailable', 'the account status could not be changed; try again');
    return get<User>(key.user(userId));
  }

  /**
   * A link counts only when its user belongs to the tenant of the connection it is for: a
   * connection re-added under a removed id, in another tenant, must never inherit anyone's users.
   */
  async function findUserByLink(link: IdentityLink): Promise<User | undefined> {
    const [found, connection] = await Promise.all([get<{ userId: string }>(key.link(link)), get<Connection>(key.connection(link.connectionId))]);
    if (!found || !connection) return undefined;
    const user = await get<User>(key.user(found.userId));
    if (user && user.tenantId === connection.tenantId) return user;
    // A link that outlived its user (a removal raced a login) or its connection would block the identity forever.
    try {
      await client.send(new DeleteCommand({ TableName, Key: key.link(link), ConditionExpression: 'userId = :id', ExpressionAttributeValues: { ':id': found.userId } }));
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) unavailable(error);
    }
    return undefined;
  }

  async function findByKey(Key: Record<string, string>, tenantId: string): Promise<User | undefined> {
    const found = await get<{ userId: string }>(Key);
    const user = found ? await get<User>(key.user(found.userId)) : undefined;
    return user?.tenantId === tenantId ? user : undefined;
  }

  return {
    findUserByLink,
    async findUserByEmail(tenantId, email) {
      const found = await get<{ userId: string }>(key.email(tenantId, email));
      return found ? get<User>(key.user(found.userId)) : undefined;
    },
    findUserByUserName: (tenantId, userName) => findByKey(key.userName(tenantId, userName), tenantId),
    findUserByExternalId: (tenantId, externalId) => findByKey(key.externalId(tenantId, externalId), tenantId),
    async linkIdentity(user, link) {
      try {
        await client.send(
          new PutCommand({
            TableName,
            Item: linkItem(user, link),
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
        return user;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) return unavailable(error);
        const winner = await findUserByLink(link);
        if (!winner) throw new AppError('service_unavailable', 'the account could not be linked; try signing in again');
        return winner;
      }
    },
    getUser: (userId) => get<User>(key.user(userId)),

    async createUser(proposed, link) {
      const user: User = { ...proposed, version: 1 };
      const seat = {
        Update: {
          TableName,
          Key: key.tenant(user.tenantId),
          UpdateExpression: 'SET seatCount = seatCount + :one',
          ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(seatLimit) OR seatCount < seatLimit)',
          ExpressionAttributeValues: { ':one': 1 },
        },
      };
      const linkPut = link && { Put: { TableName, Item: linkItem(user, link), ConditionExpression: 'attribute_not_exists(pk)' } };
      const userPut = { Put: { TableName, Item: userItem(user), ConditionExpression: 'attribute_not_exists(pk)' } };
      const moves = keyMoves(undefined, user);
      const head = [seat, linkPut, userPut].filter((item) => !!item);
      const items = [...head, ...moves.items];
      const at = (item: unknown) => items.indexOf(item as (typeof items)[number]);
      for (let attempt = 0; ; attempt++) {
        const reasons = await transact({ TransactItems: items, ClientRequestToken: randomUUID() });
        if (!reasons) return user;
        // The identity was linked by a racing login: that login's user is this one's too.
        const winner = link && (failedAt(reasons, at(linkPut)) || conflicted(reasons)) ? await findUserByLink(link) : undefined;
        if (winner) return winner;
        if (failedAt(reasons, at(seat))) {
          const tenant = await get<Tenant>(key.tenant(user.tenantId));
          if (!tenant) throw new AppError('not_found', `tenant ${user.tenantId} does not exist`);
          throw new AppError('seat_limit_reached', `all ${tenant.seatLimit} seats of this organization are taken`);
        }
        const taken = collision(reasons, moves.puts, head.length);
        if (taken) throw taken;
        if (!conflicted(reasons) || attempt >= 8) {
          throw new AppError('service_unavailable', 'the account could not be created; try signing in again');
        }
        await conflictPause(attempt);
      }
    },

    async updateUser(previous, next) {
      const result = await writeUser(previous, next);
      if ('written' in result) return result.written;
      if (!result.current) throw new AppError('service_unavailable', 'the account changed while signing in; try again');
      return result.current;
    },

    async replaceUser(previous, next) {
      const result = await writeUser(previous, next);
      if ('written' in result) return result.written;
      throw new AppError('write_conflict', 'the account changed since it was read; read it again');
    },

    deactivateUser: (userId, at) => setStatus(userId, 'deactivated', at),
    reactivateUser: (userId, at) => setStatus(userId, 'active', at),

    listUsers: (tenantId, options) => table.queryByTenantIndex<User>(byTenant.users(tenantId), options),

    async removeUser(userId) {
      const user = await get<User>(key.user(userId));
      if (!user) return;
      const links = await table.queryByTenantIndex<IdentityLink>(byTenant.links(userId));
      const reasons = await transact({
        TransactItems: [
          { Delete: { TableName, Key: key.user(userId), ConditionExpression: 'updatedAt = :seen', ExpressionAttributeValues: { ':seen': user.updatedAt } } },
          ...UNIQUE_KEYS.flatMap((unique) => {
            const value = user[unique.field];
            return value === undefined ? [] : [{ Delete: { TableName, Key: unique.key(user.tenantId, value) } }];
          }),
          ...links.map((link) => ({ Delete: { TableName, Key: key.link(link) } })),
          ...(user.status === 'active'
            ? [{ Update: { TableName, Key: key.tenant(user.tenantId), UpdateExpression: 'SET seatCount = seatCount - :one', ConditionExpression: 'seatCount > :zero', ExpressionAttributeValues: { ':one': 1, ':zero': 0 } } }]
            : []),
        ],
      });
      if (reasons) throw new AppError('service_unavailable', 'the account changed while being removed; try again');
    },
  };
}
