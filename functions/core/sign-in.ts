import { audit } from './audit';
import { AppError, isAppError } from './errors';
import type { Connection } from './model';
import { provisionUser, type AssertedIdentity } from './provisioning';
import type { Runtime } from './runtime';
import { mintSession, type SessionContext } from './sessions';

/**
 * The enabled connection with that id, of the protocol its route serves.
 * @throws AppError `unknown_connection`.
 */
export async function findConnection<P extends Connection['protocol']>(
  runtime: Runtime,
  connectionId: string,
  protocol: P,
): Promise<Extract<Connection, { protocol: P }>> {
  const connection = await runtime.store.getConnection(connectionId);
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

/**
 * The end of every login, SAML or OIDC alike: find, link or create the user through the one
 * provisioning core, mint the session, and audit what happened.
 *
 * @throws AppError the codes of `provisionUser`, and `service_unavailable`.
 */
export async function signIn(runtime: Runtime, connection: Connection, identity: AssertedIdentity, now: Date): Promise<{ token: string; expiresAt: number }> {
  const base = { tenantId: connection.tenantId, at: now.toISOString(), connectionId: connection.id };
  const { user, created, linked, changes } = await provisionUser(runtime.store, connection, identity, now).catch(async (error: unknown) => {
    if (isAppError(error, 'seat_limit_reached')) await audit(runtime, { ...base, type: 'seat_limit.reached' });
    throw error;
  });
  if (created) await audit(runtime, { ...base, type: 'user.created', userId: user.id });
  if (linked) await audit(runtime, { ...base, type: 'user.linked', userId: user.id });
  if (!created && changes.length) await audit(runtime, { ...base, type: 'user.updated', userId: user.id, detail: { changes } });
  const { token, claims } = await mintSession(sessionContext(runtime, now), user, connection);
  await audit(runtime, { ...base, type: 'login.succeeded', userId: user.id, detail: { sessionId: claims.sid } });
  return { token, expiresAt: claims.exp };
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
