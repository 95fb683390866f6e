import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { AppError } from '../errors';
import type { ScimToken } from '../model';
import type { Store } from '../store/store';

const hashOf = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

/** A token as an admin sees it: never its value or hash. */
export interface ScimTokenInfo {
  readonly id: string;
  readonly tenantId: string;
  readonly createdAt: string;
}

const info = ({ id, tenantId, createdAt }: ScimToken): ScimTokenInfo => ({ id, tenantId, createdAt });

/**
 * Issues a SCIM bearer token for a tenant: 256 random bits, of which only the SHA-256 is
 * stored, so the value exists only in this answer.
 *
 * @throws AppError `not_found` (no such tenant), `service_unavailable`.
 */
export async function issueScimToken(store: Store, tenantId: string, now: Date): Promise<ScimTokenInfo & { token: string }> {
  if (!(await store.getTenant(tenantId))) throw new AppError('not_found', `there is no tenant ${tenantId}`);
  const token = `scim_${randomBytes(32).toString('base64url')}`;
  const stored: ScimToken = { id: randomUUID(), tenantId, hash: hashOf(token), createdAt: now.toISOString() };
  await store.putScimToken(stored);
  return { ...info(stored), token };
}

/** The tenant's tokens, without their values. @throws AppError `not_found`. */
export async function listScimTokens(store: Store, tenantId: string): Promise<ScimTokenInfo[]> {
  if (!(await store.getTenant(tenantId))) throw new AppError('not_found', `there is no tenant ${tenantId}`);
  return (await store.listScimTokens(tenantId)).map(info);
}

/** Revokes a token at once: the next request with it is 401. @throws AppError `not_found`. */
export async function revokeScimToken(store: Store, id: string): Promise<ScimTokenInfo> {
  const removed = await store.removeScimToken(id);
  if (!removed) throw new AppError('not_found', `there is no SCIM token ${id}`);
  return info(removed);
}

/**
 * The tenant a request's `Authorization: Bearer` token belongs to. The token is looked up by its
 * hash, so a revoked (deleted) token stops working at the next request.
 *
 * @throws AppError `unauthenticated` for a missing, malformed, unknown or revoked token.
 */
export async function authenticateScimToken(store: Store, authorization: string | undefined): Promise<string> {
  const match = /^bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!match) throw new AppError('unauthenticated', 'a SCIM request needs Authorization: Bearer <token>');
  const token = await store.findScimToken(hashOf(match[1]!));
  if (!token) throw new AppError('unauthenticated', 'the SCIM token is unknown or revoked');
  return token.tenantId;
}
