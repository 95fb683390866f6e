import { AppError } from '../errors';
import type { AuditEvent, IdentityLink, Session, User } from '../model';
import { auditItem } from './audit';
import { assertionItems, sessionItem, type AssertionUse } from './login-state';
import { failedAt, type TableAccess } from './table';
import { collision, nextVersion, seatLimitReached, userWrites } from './users';

/**
 * What a login does to its user, as decided from the user it read: create it with its identity
 * link; or keep it (`next` undefined) or change it, checking that it is still the version read,
 * and write its identity link when the login makes it (`link`) or its copy of the user is not
 * current (`existing` with `writeLink`).
 */
export type SignInWrite =
  | { readonly kind: 'create'; readonly user: User; readonly link: IdentityLink }
  | { readonly kind: 'existing' | 'link'; readonly user: User; readonly next?: User; readonly link: IdentityLink; readonly writeLink: boolean };

/** Everything one login writes: committed in one transaction, or nothing of it. */
export interface SignInCommit {
  /** The SAML assertion the login spends (an OIDC login spent its state before redeeming the code). */
  readonly assertion?: AssertionUse;
  readonly write: SignInWrite;
  readonly session: Session;
  /** The audit events of the login, recorded with it. */
  readonly audit: readonly AuditEvent[];
}

export interface SignInStore {
  /**
   * Commits a login: spends its assertion, writes its user, its identity link, its session and
   * its audit events, all or nothing. `stale` when the user or the link changed since they were
   * read (a racing login, an admin, SCIM): nothing was written, and the login must read again.
   *
   * @throws AppError `saml_replay`, `saml_in_response_to_mismatch`, `seat_limit_reached`,
   *   `email_in_use`, `user_name_in_use`, `external_id_in_use`, `service_unavailable`.
   */
  commitSignIn(commit: SignInCommit): Promise<{ user: User } | 'stale'>;
}

export function signInStore(table: TableAccess, auditRetentionSeconds: number): SignInStore {
  const writes = userWrites(table.TableName);
  return {
    async commitSignIn({ assertion, write, session, audit }) {
      const spend = assertion ? assertionItems(table.TableName, assertion) : undefined;
      const stored = write.kind === 'create' ? { ...write.user, version: 1 } : write.next && nextVersion(write.user, write.next);
      const userItems =
        write.kind === 'create'
          ? writes.create(stored!, write.link)
          : writes.update(write.user, stored, write.kind === 'link' || write.writeLink ? { link: write.link, isNew: write.kind === 'link' } : undefined);
      const items = [...(spend?.items ?? []), ...userItems.items, { Put: { TableName: table.TableName, Item: sessionItem(session) } }];
      for (const event of audit) items.push({ Put: { TableName: table.TableName, Item: auditItem(event, auditRetentionSeconds) } });
      // A transaction cancelled by a concurrent one changed nothing and is run again.
      const reasons = await table.transact({ TransactItems: items }, { retryConflicts: 8 });
      if (!reasons) return { user: stored ?? write.user };
      const refused = spend?.refusal(reasons);
      if (refused) throw refused;
      const offset = spend?.items.length ?? 0;
      if (failedAt(reasons, offset + userItems.linkAt) || (write.kind !== 'create' && failedAt(reasons, offset + userItems.userAt))) return 'stale';
      if (failedAt(reasons, offset + userItems.seatAt)) throw await seatLimitReached(table, write.user.tenantId);
      throw collision(reasons, userItems, offset) ?? new AppError('service_unavailable', 'the sign-in could not be recorded; try signing in again');
    },
  };
}
