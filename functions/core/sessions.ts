import { randomUUID } from 'node:crypto';
import { AppError } from './errors';
import type { Connection, Session, User } from './model';
import { sessionVerificationKeys, signSessionToken, verifySessionToken, type SessionClaims } from './session-token';
import type { SessionSigner } from './signing';
import type { Store } from './store/store';

export const SESSION_COOKIE = 'sso_session';

/** What minting and checking sessions needs: where they are stored, the key, and what they claim. */
export interface SessionContext {
  readonly store: Store;
  readonly signer: SessionSigner;
  readonly issuer: string;
  readonly audience: string;
  readonly ttlSeconds: number;
  readonly now: Date;
}

/** A new session of a user and the claims of its token, neither stored nor signed yet. */
export function newSession(context: Pick<SessionContext, 'issuer' | 'audience' | 'ttlSeconds' | 'now'>, user: User, connection: Connection): { session: Session; claims: SessionClaims } {
  const iat = Math.floor(context.now.getTime() / 1000);
  const session: Session = {
    id: randomUUID(),
    userId: user.id,
    tenantId: user.tenantId,
    connectionId: connection.id,
    amr: connection.protocol,
    createdAt: context.now.toISOString(),
    expiresAt: iat + context.ttlSeconds,
  };
  const claims: SessionClaims = {
    iss: context.issuer,
    aud: context.audience,
    sub: user.id,
    sid: session.id,
    tid: user.tenantId,
    ...(user.email ? { email: user.email } : {}),
    ...(user.name ? { name: user.name } : {}),
    roles: [...user.roles],
    amr: [connection.protocol],
    idp: connection.id,
    iat,
    exp: session.expiresAt,
  };
  return { session, claims };
}

/**
 * Stores a session and mints its ES256 token, whose `sid` makes it revocable. (A login stores
 * its session with the rest of its writes, in `signIn`.)
 *
 * @throws AppError `service_unavailable` when the store or the signing key fails.
 */
export async function mintSession(context: SessionContext, user: User, connection: Connection): Promise<{ token: string; claims: SessionClaims }> {
  const { session, claims } = newSession(context, user, connection);
  await context.store.putSession(session);
  return { token: await signSessionToken(claims, context.signer), claims };
}

/**
 * The revocation-aware answer about a token: its signature, issuer, audience and expiry, then its
 * session (not revoked) and its user (still active).
 *
 * @throws AppError `unauthenticated` for a missing or invalid token, `session_revoked` for a
 *   logged-out session or a deactivated user, `service_unavailable`.
 */
export async function checkSession(
  context: Omit<SessionContext, 'ttlSeconds'>,
  token: string | undefined,
): Promise<{ user: User; session: Session; claims: SessionClaims }> {
  if (!token) throw new AppError('unauthenticated', 'no session token was sent');
  const claims = await verifySessionToken(token, await sessionVerificationKeys(context.signer), {
    issuer: context.issuer,
    audience: context.audience,
    currentDate: context.now,
  });
  const { session, user } = await context.store.getSessionAndUser(claims.sid, claims.sub);
  if (!session || session.userId !== claims.sub) throw new AppError('unauthenticated', 'the session does not exist');
  if (session.revokedAt) throw new AppError('session_revoked', 'this session was logged out');
  if (!user || user.status !== 'active') throw new AppError('session_revoked', 'this account was deactivated');
  return { user, session, claims };
}

/**
 * Revokes the session of a validly signed token at once; an expired token may still log out.
 *
 * @throws AppError `unauthenticated` when the token is missing or not ours.
 */
export async function revokeSessionToken(context: Omit<SessionContext, 'ttlSeconds'>, token: string | undefined): Promise<SessionClaims> {
  if (!token) throw new AppError('unauthenticated', 'no session token was sent');
  const claims = await verifySessionToken(token, await sessionVerificationKeys(context.signer), {
    issuer: context.issuer,
    audience: context.audience,
    currentDate: context.now,
    clockToleranceSeconds: 7 * 24 * 60 * 60,
  });
  await context.store.revokeSession(claims.sid, context.now);
  return claims;
}

/** Whether `path` is `prefix` or below it: `/app` allows `/app` and `/app/x`, never `/app-evil`. */
function underPath(path: string, prefix: string): boolean {
  return prefix.endsWith('/') ? path.startsWith(prefix) : path === prefix || path.startsWith(`${prefix}/`);
}

/**
 * Resolves a return target against an allowlist of URL prefixes: same origin, and a path under the
 * prefix's path. Relative targets resolve against the first entry.
 *
 * @throws AppError `forbidden_return_to` for anything else, which is never followed.
 */
export function allowedReturnTo(target: string | undefined, allowlist: readonly string[]): string {
  const [first] = allowlist;
  if (!first) throw new AppError('forbidden_return_to', 'this connection has no allowed return address');
  if (target === undefined || target === '') return first;
  let url: URL;
  try {
    // A scheme-relative "//evil.example" must not resolve to another host, so only "/path" is relative.
    url = target.startsWith('/') && !target.startsWith('//') ? new URL(target, first) : new URL(target);
  } catch {
    throw new AppError('forbidden_return_to', 'the return address is not a URL');
  }
  const allowed = allowlist.some((entry) => {
    const prefix = new URL(entry);
    return (
      (url.protocol === 'https:' || url.protocol === 'http:') &&
      url.origin === prefix.origin &&
      url.username === '' &&
      url.password === '' &&
      underPath(url.pathname, prefix.pathname)
    );
  });
  if (!allowed) throw new AppError('forbidden_return_to', `${url.origin} is not an allowed return address`);
  return url.toString();
}
