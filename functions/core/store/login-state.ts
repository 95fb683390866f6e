import type { CancellationReason } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, UpdateCommand, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { AppError } from '../errors';
import type { Session, User } from '../model';
import { key } from './keys';
import { ConditionalCheckFailedException, epochSeconds, failedAt, record, unavailable, type TableAccess } from './table';

/**
 * Why a login was started, SAML (its AuthnRequest) or OIDC (its state): without one, a login;
 * with one, the test login of a setup link, evaluated and never provisioned.
 */
export interface LoginPurpose {
  readonly purpose: 'setup-test';
  readonly setupLinkHash: string;
}

/** An OIDC login between the redirect to the provider and the callback. */
export interface PendingLogin extends Partial<LoginPurpose> {
  readonly state: string;
  readonly connectionId: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  readonly returnTo: string;
  /** Epoch seconds. */
  readonly expiresAt: number;
}

/** What a SAML response spends: its assertion id, remembered per IdP until it expires, and the AuthnRequest it answers. */
export interface AssertionUse {
  readonly connectionId: string;
  /** The IdP's entity id: the replay cache is per IdP, so two connections trusting one IdP share it. */
  readonly issuer: string;
  readonly assertionId: string;
  readonly replayableUntil: Date;
  readonly inResponseTo: string | undefined;
  readonly now: Date;
  /** The purpose the request must have been recorded with; without it, only a login's request is consumed. */
  readonly purpose?: LoginPurpose['purpose'];
}

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/**
 * The transaction items that spend an assertion: its id put into the replay cache and its
 * AuthnRequest deleted, each only if unused; and the refusal that a failed one means.
 */
export function assertionItems(TableName: string, use: AssertionUse): { items: TransactItem[]; refusal: (reasons: CancellationReason[], offset?: number) => AppError | undefined } {
  const now = epochSeconds(use.now);
  const items: TransactItem[] = [
    {
      // TTL deletes lazily, so an expired entry still present must not block a fresh id.
      Put: {
        TableName,
        Item: { ...key.assertion(use.issuer, use.assertionId), expiresAt: epochSeconds(use.replayableUntil) },
        ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now',
        ExpressionAttributeValues: { ':now': now },
      },
    },
  ];
  if (use.inResponseTo !== undefined) {
    items.push({
      // A conditional delete, so two posts answering the same request cannot both succeed.
      Delete: {
        TableName,
        Key: key.authnRequest(use.connectionId, use.inResponseTo),
        // A test login's request can never complete a real login, nor the reverse.
        ConditionExpression: `attribute_exists(pk) AND expiresAt >= :now AND ${use.purpose ? 'purpose = :purpose' : 'attribute_not_exists(purpose)'}`,
        ExpressionAttributeValues: { ':now': now, ...(use.purpose ? { ':purpose': use.purpose } : {}) },
      },
    });
  }
  return {
    items,
    refusal(reasons, offset = 0) {
      if (failedAt(reasons, offset)) return new AppError('saml_replay', 'this assertion has been used already');
      if (items.length > 1 && failedAt(reasons, offset + 1)) return new AppError('saml_in_response_to_mismatch', 'the response answers no pending sign-in (unknown, expired or used)');
      return undefined;
    },
  };
}

/** A session's item. */
export const sessionItem = (session: Session): Record<string, unknown> => ({ ...key.session(session.id), ...session });

/** Sessions, and the state of logins in flight: AuthnRequest ids, the assertion replay cache, OIDC states. */
export interface LoginStateStore {
  /** Remembers an AuthnRequest id until `expiresAt`, so its response can be matched once. */
  recordAuthnRequest(connectionId: string, requestId: string, expiresAt: Date, purpose?: LoginPurpose): Promise<void>;
  /** The purpose an AuthnRequest was recorded with, `undefined` for a login's, or for none pending. */
  authnRequestPurpose(connectionId: string, requestId: string): Promise<LoginPurpose | undefined>;
  /**
   * Records the assertion id in the replay cache and consumes the AuthnRequest it answers, in one
   * transaction. Throws `saml_replay` for an id seen before, `saml_in_response_to_mismatch` for an
   * unknown, expired or already used request id.
   */
  consumeAssertion(input: AssertionUse): Promise<void>;
  /** Remembers an OIDC login in flight under its `state`, once-only, until `expiresAt`, with its purpose if it is a test. */
  recordPendingLogin(login: PendingLogin): Promise<void>;
  /** The purpose an OIDC state was recorded with, `undefined` for a login's, or for none pending. */
  pendingLoginPurpose(state: string): Promise<LoginPurpose | undefined>;
  /**
   * Takes the pending login of a `state` with a conditional delete, so a state works once.
   * Throws `oidc_state_mismatch` for an unknown, used or expired state, one of another
   * connection, or one of another purpose: without `purpose` only a login's state is taken.
   */
  consumePendingLogin(state: string, connectionId: string, now: Date, purpose?: LoginPurpose['purpose']): Promise<PendingLogin>;
  putSession(session: Session): Promise<void>;
  getSession(sessionId: string): Promise<Session | undefined>;
  /** A session and a user, read in one round trip (what `GET /session` checks). */
  getSessionAndUser(sessionId: string, userId: string): Promise<{ session: Session | undefined; user: User | undefined }>;
  /** Marks a session revoked; revoking an unknown or revoked session is not an error. */
  revokeSession(sessionId: string, at: Date): Promise<void>;
}

const purposeOf = (item: Partial<LoginPurpose> | undefined): LoginPurpose | undefined =>
  item?.purpose && item.setupLinkHash ? { purpose: item.purpose, setupLinkHash: item.setupLinkHash } : undefined;

export function loginStateStore(table: TableAccess): LoginStateStore {
  const { TableName, client } = table;
  return {
    recordAuthnRequest: (connectionId, requestId, expiresAt, purpose) =>
      table.put({ ...key.authnRequest(connectionId, requestId), expiresAt: epochSeconds(expiresAt), ...purpose }),

    authnRequestPurpose: async (connectionId, requestId) => purposeOf(await table.get<Partial<LoginPurpose>>(key.authnRequest(connectionId, requestId))),

    async consumeAssertion(use) {
      const spend = assertionItems(TableName, use);
      // A transaction cancelled by a concurrent one changed nothing and is run again.
      const reasons = await table.transact({ TransactItems: spend.items }, { retryConflicts: 8 });
      if (!reasons) return;
      throw spend.refusal(reasons) ?? new AppError('service_unavailable', 'the assertion could not be recorded; try signing in again');
    },

    recordPendingLogin: (login) => table.put({ ...key.pendingLogin(login.state), ...login }),

    pendingLoginPurpose: async (state) => purposeOf(await table.get<Partial<LoginPurpose>>(key.pendingLogin(state))),

    async consumePendingLogin(state, connectionId, now, purpose) {
      try {
        const { Attributes } = await client.send(
          new DeleteCommand({
            TableName,
            Key: key.pendingLogin(state),
            // A test login's state can never complete a real login, nor the reverse.
            ConditionExpression: `attribute_exists(pk) AND connectionId = :connection AND expiresAt >= :now AND ${purpose ? 'purpose = :purpose' : 'attribute_not_exists(purpose)'}`,
            ExpressionAttributeValues: { ':connection': connectionId, ':now': epochSeconds(now), ...(purpose ? { ':purpose': purpose } : {}) },
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

    putSession: (session) => table.put(sessionItem(session)),
    getSession: (sessionId) => table.get<Session>(key.session(sessionId)),
    async getSessionAndUser(sessionId, userId) {
      const [session, user] = await table.getAll([key.session(sessionId), key.user(userId)]);
      return { session: session as Session | undefined, user: user as User | undefined };
    },
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
  };
}
