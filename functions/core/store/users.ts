import { DeleteCommand, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
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
  findUserByLink(link: IdentityLink, options?: { tenantId?: string }): Promise<User | undefined>;
  /**
   * As `findUserByLink` for a login of the connection's tenant, from the link item alone where it
   * holds a copy of its user (written with the link, and again by every login that changes the
   * user): `copy` then says the user is as of that write, which a login's commit checks
   * (`SignInWrite`), so a user changed or deactivated since is read again, never trusted stale.
   */
  findSignInUser(link: IdentityLink, tenantId: string): Promise<{ user: User; copy: boolean } | undefined>;
  /** The tenant's user holding this normalized email, if any. */
  findUserByEmail(tenantId: string, email: string): Promise<User | undefined>;
  /** The tenant's user of this SCIM `userName` (compared without regard to case), if any. */
  findUserByUserName(tenantId: string, userName: string): Promise<User | undefined>;
  /** The tenant's user of this SCIM `externalId` (compared exactly), if any. */
  findUserByExternalId(tenantId: string, externalId: string): Promise<User | undefined>;
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

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

const sameKey = (unique: UniqueKey, tenantId: string, a: string | undefined, b: string | undefined) =>
  a === b || (a !== undefined && b !== undefined && unique.key(tenantId, a).pk === unique.key(tenantId, b).pk);

/** The condition that a user is stored as `seen` was read: its version, or for a user stored before versions, its `updatedAt`. */
function unchangedSince(seen: User) {
  return seen.version === undefined
    ? { ConditionExpression: 'attribute_not_exists(version) AND updatedAt = :seen', ExpressionAttributeValues: { ':seen': seen.updatedAt } }
    : { ConditionExpression: 'version = :seen', ExpressionAttributeValues: { ':seen': seen.version } };
}

/**
 * A user's writes as transaction items, each with the condition that keeps the users consistent,
 * and the positions whose failure means something: the one place that knows how a user, its key
 * items, its identity links and its seat are written together (by `UserStore` and by a login's commit).
 */
export interface UserWrites {
  readonly items: TransactItem[];
  /** Key items that collide with another user's value, by position. */
  readonly uniques: { index: number; unique: UniqueKey }[];
  /** The position of the user's own item (its version check) and of the identity link, and of the seat. */
  readonly userAt: number;
  readonly linkAt: number;
  readonly seatAt: number;
}

export function userWrites(TableName: string) {
  /** The key items that move when a user's unique values change. */
  function keyMoves(previous: User | undefined, next: User, into: TransactItem[], uniques: UserWrites['uniques']): void {
    for (const unique of UNIQUE_KEYS) {
      const before = previous?.[unique.field];
      const after = next[unique.field];
      if (sameKey(unique, next.tenantId, before, after)) continue;
      if (previous && before !== undefined) {
        into.push({ Delete: { TableName, Key: unique.key(previous.tenantId, before), ConditionExpression: 'userId = :id', ExpressionAttributeValues: { ':id': previous.id } } });
      }
      if (after !== undefined) {
        uniques.push({ index: into.length, unique });
        into.push({ Put: { TableName, Item: { ...unique.key(next.tenantId, after), userId: next.id }, ConditionExpression: 'attribute_not_exists(pk)' } });
      }
    }
  }

  /** An identity link holding a copy of its user: new (`attribute_not_exists`), or rewritten while it is still this user's. */
  const linkPut = (user: User, link: IdentityLink, existing: boolean): TransactItem => ({
    Put: {
      TableName,
      Item: linkItem(user, link),
      ...(existing ? { ConditionExpression: 'userId = :id', ExpressionAttributeValues: { ':id': user.id } } : { ConditionExpression: 'attribute_not_exists(pk)' }),
    },
  });

  const seatTaken = (tenantId: string): TransactItem => ({
    Update: {
      TableName,
      Key: key.tenant(tenantId),
      UpdateExpression: 'SET seatCount = seatCount + :one',
      ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(seatLimit) OR seatCount < seatLimit)',
      ExpressionAttributeValues: { ':one': 1 },
    },
  });

  return {
    /** A new user (at version 1) with its seat, identity link (if any) and key items. */
    create(user: User, link: IdentityLink | undefined): UserWrites {
      const items: TransactItem[] = [seatTaken(user.tenantId)];
      const uniques: UserWrites['uniques'] = [];
      if (link) items.push(linkPut(user, link, false));
      items.push({ Put: { TableName, Item: userItem(user), ConditionExpression: 'attribute_not_exists(pk)' } });
      keyMoves(undefined, user, items, uniques);
      return { items, uniques, seatAt: 0, linkAt: link ? 1 : -1, userAt: link ? 2 : 1 };
    },

    /**
     * `next` over `previous` if that is still the stored version (optimistic: a racing login,
     * admin or SCIM change that got there first wins), its moved key items, and with `link`, that
     * identity link rewritten with the new copy of the user (`linkIsNew`: the link is made now).
     * Without a change (`next` undefined), only the check that the user is unchanged.
     */
    update(previous: User, next: User | undefined, link?: { link: IdentityLink; isNew: boolean }): UserWrites {
      const stored = next ?? previous;
      const items: TransactItem[] = [
        next
          ? { Put: { TableName, Item: userItem(next), ...unchangedSince(previous) } }
          : { ConditionCheck: { TableName, Key: key.user(previous.id), ...unchangedSince(previous) } },
      ];
      const uniques: UserWrites['uniques'] = [];
      if (next) keyMoves(previous, next, items, uniques);
      const linkAt = link ? items.push(linkPut(stored, link.link, !link.isNew)) - 1 : -1;
      return { items, uniques, userAt: 0, linkAt, seatAt: -1 };
    },
  };
}

/** The version a write gives a user: one past the version it replaces. */
export const nextVersion = (previous: User, next: User): User => ({ ...next, version: (previous.version ?? 0) + 1 });

/** The domain error of a key item that collided with another user's value, if one did. */
export function collision(reasons: Parameters<typeof failedAt>[0], writes: UserWrites, offset = 0): AppError | undefined {
  const hit = writes.uniques.find(({ index }) => failedAt(reasons, index + offset));
  return hit && new AppError(hit.unique.code, hit.unique.detail);
}

/** The refusal of a user's creation that found no seat left (`not_found` for a tenant that is gone). */
export async function seatLimitReached(table: Pick<TableAccess, 'get'>, tenantId: string): Promise<AppError> {
  const tenant = await table.get<Tenant>(key.tenant(tenantId));
  if (!tenant) return new AppError('not_found', `tenant ${tenantId} does not exist`);
  return new AppError('seat_limit_reached', `all ${tenant.seatLimit} seats of this organization are taken`);
}

export function userStore(table: TableAccess): UserStore {
  const { TableName, client } = table;
  const get = table.get;
  const transact = table.transact;
  const writes = userWrites(TableName);

  /** Writes `next` over `previous` if it is still the stored version: the user as written, else the stored user. */
  async function writeUser(previous: User, proposed: User): Promise<{ written: User } | { current: User | undefined }> {
    const next = nextVersion(previous, proposed);
    const write = writes.update(previous, next);
    const reasons = await transact({ TransactItems: write.items });
    if (!reasons) return { written: next };
    const taken = collision(reasons, write);
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
   * The user of a link, when it belongs to `tenantId` (by default the tenant of the link's
   * connection): a connection re-added under a removed id, in another tenant, must never inherit
   * anyone's users.
   */
  async function linkedUser(found: { userId: string }, link: IdentityLink, tenantId: string | undefined): Promise<User | undefined> {
    const [user, tenant] = await Promise.all([
      get<User>(key.user(found.userId)),
      tenantId ?? get<Connection>(key.connection(link.connectionId)).then((connection) => connection?.tenantId),
    ]);
    if (user && tenant !== undefined && user.tenantId === tenant) return user;
    if (tenant === undefined) return undefined;
    // A link that outlived its user (a removal raced a login) or its connection would block the identity forever.
    try {
      await client.send(new DeleteCommand({ TableName, Key: key.link(link), ConditionExpression: 'userId = :id', ExpressionAttributeValues: { ':id': found.userId } }));
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) unavailable(error);
    }
    return undefined;
  }

  async function findUserByLink(link: IdentityLink, options: { tenantId?: string } = {}): Promise<User | undefined> {
    const found = await get<{ userId: string }>(key.link(link));
    return found && linkedUser(found, link, options.tenantId);
  }

  async function findByKey(Key: Record<string, string>, tenantId: string): Promise<User | undefined> {
    const found = await get<{ userId: string }>(Key);
    const user = found ? await get<User>(key.user(found.userId)) : undefined;
    return user?.tenantId === tenantId ? user : undefined;
  }

  return {
    findUserByLink,
    async findSignInUser(link, tenantId) {
      const found = await get<{ userId: string; user?: User }>(key.link(link));
      if (!found) return undefined;
      const copy = found.user;
      if (copy?.id === found.userId && copy.tenantId === tenantId) return { user: copy, copy: true };
      const user = await linkedUser(found, link, tenantId);
      return user && { user, copy: false };
    },
    async findUserByEmail(tenantId, email) {
      const found = await get<{ userId: string }>(key.email(tenantId, email));
      return found ? get<User>(key.user(found.userId)) : undefined;
    },
    findUserByUserName: (tenantId, userName) => findByKey(key.userName(tenantId, userName), tenantId),
    findUserByExternalId: (tenantId, externalId) => findByKey(key.externalId(tenantId, externalId), tenantId),
    getUser: (userId) => get<User>(key.user(userId)),

    async createUser(proposed, link) {
      const user: User = { ...proposed, version: 1 };
      const write = writes.create(user, link);
      for (let attempt = 0; ; attempt++) {
        const reasons = await transact({ TransactItems: write.items });
        if (!reasons) return user;
        // The identity was linked by a racing login: that login's user is this one's too.
        const winner = link && (failedAt(reasons, write.linkAt) || conflicted(reasons)) ? await findUserByLink(link, { tenantId: user.tenantId }) : undefined;
        if (winner) return winner;
        if (failedAt(reasons, write.seatAt)) throw await seatLimitReached(table, user.tenantId);
        const taken = collision(reasons, write);
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
