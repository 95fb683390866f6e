import { announceStored, audit } from './audit';
import { AppError, isAppError } from './errors';
import type { AuditEvent, Connection } from './model';
import { planProvisioning, provisioningWrite, type AssertedIdentity } from './provisioning';
import type { Runtime } from './runtime';
import { signSessionToken } from './session-token';
import { newSession, type SessionContext } from './sessions';
import type { AssertionUse } from './store/store';

/**
 * The enabled connection with that id, of the protocol its route serves, as read at most
 * `connectionCacheSeconds` ago by this container.
 * @throws AppError `unknown_connection`.
 */
export async function findConnection<P extends Connection['protocol']>(
  runtime: Runtime,
  connectionId: string,
  protocol: P,
): Promise<Extract<Connection, { protocol: P }>> {
  const connection = await runtime.store.getConnection(connectionId, { maxAgeSeconds: runtime.config.connectionCacheSeconds });
  if (!connection || !connection.enabled || connection.protocol !== protocol) {
    throw new AppError('unknown_connection', `there is no enabled ${protocol.toUpperCase()} connection "${connectionId}"`);
  }
  return connection as Extract<Connection, { protocol: P }>;
}

/** The session context of a runtime at an instant. */
export function sessionContext(runtime: Runtime, now: Date): SessionContext {
  return {
    store: runtime.store,
    signer: runtime.signer,
    issuer: runtime.config.sessionIssuer,
    audience: runtime.config.sessionAudience,
    ttlSeconds: runtime.config.sessionTtlSeconds,
    now,
  };
}

/** How many times a login reads again when a racing writer changed its user first. */
const STALE_RETRIES = 4;

/**
 * The end of every login, SAML or OIDC alike: find, link or create the user through the one
 * provisioning core, and commit it with the session, the audit events and (SAML) the spent
 * assertion in one transaction. A returning user's login reads one item (its identity link, with
 * its copy of the user) and writes one transaction; a user changed since its copy was written
 * fails the commit's check and is read again. Then the session token is signed.
 *
 * @throws AppError the codes of `planProvisioning`, and `seat_limit_reached`, `email_in_use`,
 *   `saml_replay`, `saml_in_response_to_mismatch` (the spent assertion's), `service_unavailable`.
 */
export async function signIn(
  runtime: Runtime,
  connection: Connection,
  identity: AssertedIdentity,
  now: Date,
  assertion?: AssertionUse,
): Promise<{ token: string; expiresAt: number }> {
  const base = { tenantId: connection.tenantId, at: now.toISOString(), connectionId: connection.id };
  for (let attempt = 0; attempt <= STALE_RETRIES; attempt++) {
    const plan = await planProvisioning(runtime.store, connection, identity, now, { fromCopy: attempt === 0 });
    const { write, user } = provisioningWrite(plan, now);
    const { session, claims } = newSession(sessionContext(runtime, now), user, connection);
    const events: AuditEvent[] = [
      ...(plan.kind === 'create' ? [{ ...base, type: 'user.created', userId: user.id } as const] : []),
      ...(plan.kind === 'link' ? [{ ...base, type: 'user.linked', userId: user.id } as const] : []),
      ...(plan.kind !== 'create' && plan.changes.length ? [{ ...base, type: 'user.updated', userId: user.id, detail: { changes: plan.changes } } as const] : []),
      { ...base, type: 'login.succeeded', userId: user.id, detail: { sessionId: session.id } },
    ];
    const committed = await runtime.store.commitSignIn({ ...(assertion ? { assertion } : {}), write, session, audit: events }).catch(async (error: unknown) => {
      if (isAppError(error, 'seat_limit_reached')) await audit(runtime, { ...base, type: 'seat_limit.reached' });
      throw error;
    });
    if (committed === 'stale') continue;
    for (const event of events) await announceStored(runtime, event);
    return { token: await signSessionToken(claims, runtime.signer), expiresAt: claims.exp };
  }
  throw new AppError('service_unavailable', 'the account kept changing while signing in; try again');
}

/** Runs a login attempt and audits its refusal with the refusal's code (outages are logged, not audited). */
export async function auditRefusal<T>(runtime: Runtime, connection: Connection, now: Date, attempt: () => Promise<T>): Promise<T> {
  try {
    return await attempt();
  } catch (error) {
    if (isAppError(error) && error.code !== 'service_unavailable') {
      await audit(runtime, { tenantId: connection.tenantId, type: 'login.refused', at: now.toISOString(), connectionId: connection.id, code: error.code }).catch(() => undefined);
    }
    throw error;
  }
}
