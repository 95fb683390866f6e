import { randomUUID } from 'node:crypto';
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
  TransactionCanceledException,
  type CancellationReason,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  QueryCommand,
  UpdateCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { AppError } from './errors';
import type { AuditEvent, Connection, DomainClaim, IdentityLink, Session, Tenant, User } from './model';
import { TABLE_KEYS } from './table';

/**
 * The one module that knows DynamoDB. It exposes the domain's verbs and turns conditional-check
 * failures into domain errors where they happen; any other DynamoDB failure is
 * `service_unavailable`, and nothing is left half-written because every multi-item change is
 * one transaction.
 */
export interface Store {
  /** Creates or updates a tenant's name and seat limit; its seat count is kept. */
  putTenant(tenant: Omit<Tenant, 'seatCount'>): Promise<void>;
  getTenant(tenantId: string): Promise<Tenant | undefined>;
  putConnection(connection: Connection): Promise<void>;
  getConnection(connectionId: string): Promise<Connection | undefined>;
  /**
   * Saves a changed connection as the next version, if it is still at the version it was read at;
   * otherwise `invalid_request` (someone else changed it first: read it again).
   */
  updateConnection<C extends Connection>(connection: C): Promise<C>;
  /** Remembers an AuthnRequest id until `expiresAt`, so its response can be matched once. */
  recordAuthnRequest(connectionId: string, requestId: string, expiresAt: Date): Promise<void>;
  /**
   * Records the assertion id in the replay cache and consumes the AuthnRequest it answers, in one
   * transaction. Throws `saml_replay` for an id seen before, `saml_in_response_to_mismatch` for an
   * unknown, expired or already used request id.
   */
  consumeAssertion(input: {
    connectionId: string;
    /** The IdP's entity id: the replay cache is per IdP, so two connections trusting one IdP share it. */
    issuer: string;
    assertionId: string;
    replayableUntil: Date;
    inResponseTo: string | undefined;
    now: Date;
  }): Promise<void>;
  /** Remembers an OIDC login in flight under its `state`, once-only, until `expiresAt`. */
  recordPendingLogin(login: PendingLogin): Promise<void>;
  /**
   * Takes the pending login of a `state` with a conditional delete, so a state works once.
   * Throws `oidc_state_mismatch` for an unknown, used or expired state, or one of another connection.
   */
  consumePendingLogin(state: string, connectionId: string, now: Date): Promise<PendingLogin>;
  /**
   * The user an identity is linked to; none when the connection does not exist or the user is
   * not of the connection's tenant (such a stale link is deleted).
   */
  findUserByLink(link: IdentityLink): Promise<User | undefined>;
  /** The tenant's user holding this normalized email, if any. */
  findUserByEmail(tenantId: string, email: string): Promise<User | undefined>;
  /**
   * Links another identity to an existing user. If a racing login linked it first, the user it
   * was linked to is returned.
   */
  linkIdentity(user: User, link: IdentityLink): Promise<User>;
  getUser(userId: string): Promise<User | undefined>;
  /**
   * Creates a user with its email key, identity link (none for a user an admin adds ahead of its
   * first login) and seat in one transaction. However many
   * creations of the same identity race, one user results: the losers get the winner's user.
   * Throws `seat_limit_reached` when the tenant has no seat left and `email_in_use` when another
   * user of the tenant holds the email.
   */
  createUser(user: User, link: IdentityLink | undefined): Promise<User>;
  /**
   * Writes a user's new state if nobody changed it since `previous` was read; a moved email moves
   * its key in the same transaction. Returns the user as stored (the other writer's version when
   * one won). Throws `email_in_use` when the new email belongs to another user.
   */
  updateUser(previous: User, next: User): Promise<User>;
  /**
   * Deactivates a user and frees its seat in one transaction; its sessions stop working at once,
   * since `GET /session` checks the user. Deactivating a deactivated user changes nothing.
   */
  deactivateUser(userId: string, at: Date): Promise<User | undefined>;
  /** Reactivates a user, taking a seat under the tenant's limit (`seat_limit_reached`). */
  reactivateUser(userId: string, at: Date): Promise<User | undefined>;
  listTenants(): Promise<Tenant[]>;
  listConnections(tenantId: string): Promise<Connection[]>;
  listUsers(tenantId: string): Promise<User[]>;
  /** Removes a tenant item (its connections and users are the caller's to remove first). */
  removeTenant(tenantId: string): Promise<void>;
  /**
   * Removes a connection with its identity links; its users stay (they may sign in through
   * another), and an id re-added later starts with no links.
   */
  removeConnection(connectionId: string): Promise<void>;
  /** Removes a user with its email key and identity links, freeing its seat if it held one. */
  removeUser(userId: string): Promise<void>;
  putSession(session: Session): Promise<void>;
  getSession(sessionId: string): Promise<Session | undefined>;
  /** Marks a session revoked; revoking an unknown or revoked session is not an error. */
  revokeSession(sessionId: string, at: Date): Promise<void>;
  recordAudit(event: AuditEvent): Promise<void>;
  /** A tenant's audit events from `since` to `until`, oldest first (days past the TTL are gone). */
  listAudit(tenantId: string, since: Date, until: Date): Promise<AuditEvent[]>;

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

/** An OIDC login between the redirect to the provider and the callback. */
export interface PendingLogin {
  readonly state: string;
  readonly connectionId: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  readonly returnTo: string;
  /** Epoch seconds. */
  readonly expiresAt: number;
}

export interface StoreOptions {
  readonly tableName: string;
  readonly client: DynamoDBDocumentClient;
  /** How long audit events are kept. @default 90 days */
  readonly auditRetentionDays?: number;
}

/** A document client for the table, built once per container. */
export function createDocumentClient(options: { endpoint?: string; region?: string } = {}): DynamoDBDocumentClient {
  const local = options.endpoint !== undefined;
  const client = new DynamoDBClient({
    ...(local
      ? { endpoint: options.endpoint, region: options.region ?? 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }
      : options.region ? { region: options.region } : {}),
    maxAttempts: 3,
  });
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

const key = {
  tenant: (id: string) => ({ pk: `TENANT#${id}`, sk: 'TENANT' }),
  connection: (id: string) => ({ pk: `CONNECTION#${id}`, sk: 'CONNECTION' }),
  user: (id: string) => ({ pk: `USER#${id}`, sk: 'USER' }),
  email: (tenantId: string, email: string) => ({ pk: `EMAIL#${tenantId}#${email}`, sk: 'EMAIL' }),
  link: (link: IdentityLink) => ({ pk: `LINK#${link.connectionId}#${link.subject}`, sk: 'LINK' }),
  session: (id: string) => ({ pk: `SESSION#${id}`, sk: 'SESSION' }),
  pendingLogin: (state: string) => ({ pk: `OIDCSTATE#${state}`, sk: 'OIDCSTATE' }),
  authnRequest: (connectionId: string, requestId: string) => ({ pk: `AUTHNREQUEST#${connectionId}#${requestId}`, sk: 'AUTHNREQUEST' }),
  assertion: (issuer: string, assertionId: string) => ({ pk: `ASSERTION#${issuer}#${assertionId}`, sk: 'ASSERTION' }),
  domain: (domain: string) => ({ pk: `DOMAIN#${domain}`, sk: 'DOMAIN' }),
};

const byTenant = {
  tenants: 'TENANTS',
  connections: (tenantId: string) => `TENANT#${tenantId}#CONNECTIONS`,
  users: (tenantId: string) => `TENANT#${tenantId}#USERS`,
  links: (userId: string) => `USER#${userId}#LINKS`,
  domains: (tenantId: string) => `TENANT#${tenantId}#DOMAINS`,
};

function linkItem(user: User, link: IdentityLink): Record<string, unknown> {
  return {
    ...key.link(link),
    ...link,
    userId: user.id,
    tenantId: user.tenantId,
    [TABLE_KEYS.byTenantPartitionKey]: byTenant.links(user.id),
    [TABLE_KEYS.byTenantSortKey]: `${link.connectionId}#${link.subject}`,
  };
}

function userItem(user: User): Record<string, unknown> {
  return {
    ...key.user(user.id),
    ...user,
    [TABLE_KEYS.byTenantPartitionKey]: byTenant.users(user.tenantId),
    [TABLE_KEYS.byTenantSortKey]: user.email ?? user.id,
  };
}

const epochSeconds = (date: Date) => Math.floor(date.getTime() / 1000);

function unavailable(error: unknown): never {
  if (error instanceof AppError) throw error;
  throw new AppError('service_unavailable', 'the database could not be reached', { cause: error });
}

function failedAt(reasons: CancellationReason[] | undefined, index: number): boolean {
  return reasons?.[index]?.Code === 'ConditionalCheckFailed';
}

function conflicted(reasons: CancellationReason[] | undefined): boolean {
  return reasons?.some((reason) => reason.Code === 'TransactionConflict') ?? false;
}

/** Strips the key attributes of an item, giving back the record it stores. */
function record<T>(item: Record<string, unknown> | undefined): T | undefined {
  if (!item) return undefined;
  const { pk: _pk, sk: _sk, gsi1pk: _gsi1pk, gsi1sk: _gsi1sk, ...rest } = item;
  return rest as T;
}

export function createStore(options: StoreOptions): Store {
  const { tableName: TableName, client } = options;
  const auditRetentionSeconds = (options.auditRetentionDays ?? 90) * 24 * 60 * 60;

  async function get<T>(Key: Record<string, string>): Promise<T | undefined> {
    try {
      const { Item } = await client.send(new GetCommand({ TableName, Key, ConsistentRead: true }));
      return record<T>(Item);
    } catch (error) {
      return unavailable(error);
    }
  }

  async function put(Item: Record<string, unknown>): Promise<void> {
    try {
      await client.send(new PutCommand({ TableName, Item }));
    } catch (error) {
      unavailable(error);
    }
  }

  async function transact(input: TransactWriteCommandInput): Promise<CancellationReason[] | undefined> {
    try {
      await client.send(new TransactWriteCommand(input));
      return undefined;
    } catch (error) {
      if (error instanceof TransactionCanceledException) return error.CancellationReasons ?? [];
      return unavailable(error);
    }
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
            UpdateExpression: 'SET #status = :to, updatedAt = :at',
            ConditionExpression: '#status = :from',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':to': status, ':from': user.status, ':at': at.toISOString() },
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

  async function queryByTenantIndex<T>(partition: string): Promise<T[]> {
    const items: T[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    try {
      do {
        const page = await client.send(
          new QueryCommand({
            TableName,
            IndexName: TABLE_KEYS.byTenantIndex,
            KeyConditionExpression: '#pk = :pk',
            ExpressionAttributeNames: { '#pk': TABLE_KEYS.byTenantPartitionKey },
            ExpressionAttributeValues: { ':pk': partition },
            ExclusiveStartKey,
          }),
        );
        items.push(...(page.Items ?? []).map((item) => record<T>(item)!));
        ExclusiveStartKey = page.LastEvaluatedKey;
      } while (ExclusiveStartKey);
    } catch (error) {
      unavailable(error);
    }
    return items;
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

  /** Deletes the identity links of a connection, found per user of its tenant (links point only to users of their connection's tenant). */
  async function removeLinksOf(connection: Connection): Promise<void> {
    const users = await queryByTenantIndex<User>(byTenant.users(connection.tenantId));
    for (const user of users) {
      const links = await queryByTenantIndex<IdentityLink>(byTenant.links(user.id));
      for (const link of links.filter((l) => l.connectionId === connection.id)) {
        try {
          await client.send(new DeleteCommand({ TableName, Key: key.link(link) }));
        } catch (error) {
          unavailable(error);
        }
      }
    }
  }

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
    getTenant: (tenantId) => get<Tenant>(key.tenant(tenantId)),
    putConnection: (connection) =>
      put({
        ...key.connection(connection.id),
        ...connection,
        [TABLE_KEYS.byTenantPartitionKey]: byTenant.connections(connection.tenantId),
        [TABLE_KEYS.byTenantSortKey]: connection.id,
      }),
    getConnection: (connectionId) => get<Connection>(key.connection(connectionId)),
    async updateConnection<C extends Connection>(connection: C): Promise<C> {
      const next: C = { ...connection, version: (connection.version ?? 0) + 1 };
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

    recordAuthnRequest: (connectionId, requestId, expiresAt) =>
      put({ ...key.authnRequest(connectionId, requestId), expiresAt: epochSeconds(expiresAt) }),

    async consumeAssertion({ connectionId, issuer, assertionId, replayableUntil, inResponseTo, now: at }) {
      const now = epochSeconds(at);
      const reasons = await transact({
        TransactItems: [
          {
            // TTL deletes lazily, so an expired entry still present must not block a fresh id.
            Put: {
              TableName,
              Item: { ...key.assertion(issuer, assertionId), expiresAt: epochSeconds(replayableUntil) },
              ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now',
              ExpressionAttributeValues: { ':now': now },
            },
          },
          ...(inResponseTo === undefined
            ? []
            : [
                {
                  // A conditional delete, so two posts answering the same request cannot both succeed.
                  Delete: {
                    TableName,
                    Key: key.authnRequest(connectionId, inResponseTo),
                    ConditionExpression: 'attribute_exists(pk) AND expiresAt >= :now',
                    ExpressionAttributeValues: { ':now': now },
                  },
                },
              ]),
        ],
      });
      if (!reasons) return;
      if (failedAt(reasons, 0)) throw new AppError('saml_replay', 'this assertion has been used already');
      if (failedAt(reasons, 1)) {
        throw new AppError('saml_in_response_to_mismatch', 'the response answers no pending sign-in (unknown, expired or used)');
      }
      throw new AppError('service_unavailable', 'the assertion could not be recorded; try signing in again');
    },

    recordPendingLogin: (login) => put({ ...key.pendingLogin(login.state), ...login }),

    async consumePendingLogin(state, connectionId, now) {
      try {
        const { Attributes } = await client.send(
          new DeleteCommand({
            TableName,
            Key: key.pendingLogin(state),
            ConditionExpression: 'attribute_exists(pk) AND connectionId = :connection AND expiresAt >= :now',
            ExpressionAttributeValues: { ':connection': connectionId, ':now': epochSeconds(now) },
            ReturnValues: 'ALL_OLD',
          }),
        );
        return record<PendingLogin>(Attributes)!;
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) {
          throw new AppError('oidc_state_mismatch', 'this sign-in link is unknown, expired or used already; start again');
        }
        return unavailable(error);
      }
    },

    findUserByLink,
    async findUserByEmail(tenantId, email) {
      const found = await get<{ userId: string }>(key.email(tenantId, email));
      return found ? get<User>(key.user(found.userId)) : undefined;
    },
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

    async createUser(user, link) {
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
      const emailPut = user.email && { Put: { TableName, Item: { ...key.email(user.tenantId, user.email), userId: user.id }, ConditionExpression: 'attribute_not_exists(pk)' } };
      const items = [seat, linkPut, userPut, emailPut].filter((item) => !!item);
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
        if (emailPut && failedAt(reasons, at(emailPut))) throw new AppError('email_in_use', 'another account of this organization already uses this email address');
        if (!conflicted(reasons) || attempt >= 8) {
          throw new AppError('service_unavailable', 'the account could not be created; try signing in again');
        }
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * 2 ** Math.min(attempt, 5)));
      }
    },

    async updateUser(previous, next) {
      const emailMoved = previous.email !== next.email;
      const reasons = await transact({
        TransactItems: [
          // Optimistic: a racing login or admin change that got there first wins, and this one is dropped.
          { Put: { TableName, Item: userItem(next), ConditionExpression: 'updatedAt = :seen', ExpressionAttributeValues: { ':seen': previous.updatedAt } } },
          ...(emailMoved && previous.email
            ? [{ Delete: { TableName, Key: key.email(previous.tenantId, previous.email), ConditionExpression: 'userId = :id', ExpressionAttributeValues: { ':id': previous.id } } }]
            : []),
          ...(emailMoved && next.email
            ? [{ Put: { TableName, Item: { ...key.email(next.tenantId, next.email), userId: next.id }, ConditionExpression: 'attribute_not_exists(pk)' } }]
            : []),
        ],
      });
      if (!reasons) return next;
      if (emailMoved && next.email && failedAt(reasons, reasons.length - 1)) {
        throw new AppError('email_in_use', 'another account of this organization already uses the new email address');
      }
      const current = await get<User>(key.user(previous.id));
      if (!current) throw new AppError('service_unavailable', 'the account changed while signing in; try again');
      return current;
    },

    deactivateUser: (userId, at) => setStatus(userId, 'deactivated', at),
    reactivateUser: (userId, at) => setStatus(userId, 'active', at),

    listTenants: () => queryByTenantIndex<Tenant>(byTenant.tenants),
    listConnections: (tenantId) => queryByTenantIndex<Connection>(byTenant.connections(tenantId)),
    listUsers: (tenantId) => queryByTenantIndex<User>(byTenant.users(tenantId)),

    async removeTenant(tenantId) {
      try {
        await client.send(new DeleteCommand({ TableName, Key: key.tenant(tenantId) }));
      } catch (error) {
        unavailable(error);
      }
    },

    async removeConnection(connectionId) {
      const connection = await get<Connection>(key.connection(connectionId));
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

    async removeUser(userId) {
      const user = await get<User>(key.user(userId));
      if (!user) return;
      const links = await queryByTenantIndex<IdentityLink>(byTenant.links(userId));
      const reasons = await transact({
        TransactItems: [
          { Delete: { TableName, Key: key.user(userId), ConditionExpression: 'updatedAt = :seen', ExpressionAttributeValues: { ':seen': user.updatedAt } } },
          ...(user.email ? [{ Delete: { TableName, Key: key.email(user.tenantId, user.email) } }] : []),
          ...links.map((link) => ({ Delete: { TableName, Key: key.link(link) } })),
          ...(user.status === 'active'
            ? [{ Update: { TableName, Key: key.tenant(user.tenantId), UpdateExpression: 'SET seatCount = seatCount - :one', ConditionExpression: 'seatCount > :zero', ExpressionAttributeValues: { ':one': 1, ':zero': 0 } } }]
            : []),
        ],
      });
      if (reasons) throw new AppError('service_unavailable', 'the account changed while being removed; try again');
    },

    putSession: (session) => put({ ...key.session(session.id), ...session }),
    getSession: (sessionId) => get<Session>(key.session(sessionId)),
    async revokeSession(sessionId, at) {
      try {
        await client.send(
          new UpdateCommand({
            TableName,
            Key: key.session(sessionId),
            UpdateExpression: 'SET revokedAt = if_not_exists(revokedAt, :at)',
            ConditionExpression: 'attribute_exists(pk)',
            ExpressionAttributeValues: { ':at': at.toISOString() },
          }),
        );
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) return;
        unavailable(error);
      }
    },

    recordAudit: (event) =>
      put({
        pk: `AUDIT#${event.tenantId}#${event.at.slice(0, 10)}`,
        sk: `${event.at}#${randomUUID()}`,
        ...event,
        expiresAt: epochSeconds(new Date(event.at)) + auditRetentionSeconds,
      }),

    async listAudit(tenantId, since, until) {
      const events: AuditEvent[] = [];
      const lastDay = until.toISOString().slice(0, 10);
      for (let day = new Date(since); day.toISOString().slice(0, 10) <= lastDay; day = new Date(day.getTime() + 86_400_000)) {
        let ExclusiveStartKey: Record<string, unknown> | undefined;
        try {
          do {
            const page = await client.send(
              new QueryCommand({
                TableName,
                KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
                ExpressionAttributeValues: { ':pk': `AUDIT#${tenantId}#${day.toISOString().slice(0, 10)}`, ':from': since.toISOString(), ':to': `${until.toISOString()}#~` },
                ExclusiveStartKey,
              }),
            );
            for (const item of page.Items ?? []) {
              const { expiresAt: _expiresAt, ...event } = record<AuditEvent & { expiresAt: number }>(item)!;
              events.push(event);
            }
            ExclusiveStartKey = page.LastEvaluatedKey;
          } while (ExclusiveStartKey);
        } catch (error) {
          unavailable(error);
        }
      }
      return events;
    },

    // Home-realm discovery: verified email domains and the tenant's default connection.
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
    getDomain: (domain) => get<DomainClaim>(key.domain(domain)),
    listDomains: (tenantId) => queryByTenantIndex<DomainClaim>(byTenant.domains(tenantId)),
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

/**
 * Creates the table as the CDK stack defines it, for `npm start` and the tests on DynamoDB Local.
 * An existing table is left as it is.
 */
export async function ensureTable(client: DynamoDBDocumentClient, TableName: string): Promise<void> {
  const { partitionKey, sortKey, byTenantIndex, byTenantPartitionKey, byTenantSortKey, timeToLive } = TABLE_KEYS;
  try {
    await client.send(
      new CreateTableCommand({
        TableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [partitionKey, sortKey, byTenantPartitionKey, byTenantSortKey].map((AttributeName) => ({ AttributeName, AttributeType: 'S' })),
        KeySchema: [
          { AttributeName: partitionKey, KeyType: 'HASH' },
          { AttributeName: sortKey, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: byTenantIndex,
            KeySchema: [
              { AttributeName: byTenantPartitionKey, KeyType: 'HASH' },
              { AttributeName: byTenantSortKey, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      }),
    );
    await client.send(new UpdateTimeToLiveCommand({ TableName, TimeToLiveSpecification: { AttributeName: timeToLive, Enabled: true } }));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
}
