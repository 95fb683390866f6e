import { randomUUID } from 'node:crypto';
import { audit } from '../audit';
import { AppError } from '../errors';
import type { User } from '../model';
import { normalizeEmail, parseEmail } from '../identity';
import type { Runtime } from '../runtime';
import type { Store } from '../store/store';

/** How an admin names a user: by id, or by tenant and email. */
export type UserRef = { readonly userId: string } | { readonly tenantId: string; readonly email: string };

/** @throws AppError `not_found`. */
export async function requireUser(store: Store, ref: UserRef): Promise<User> {
  const user = 'userId' in ref ? await store.getUser(ref.userId) : await store.findUserByEmail(ref.tenantId, normalizeEmail(ref.email));
  if (!user) throw new AppError('not_found', 'userId' in ref ? `there is no user ${ref.userId}` : `tenant ${ref.tenantId} has no user ${ref.email}`);
  return user;
}

type AdminRuntime = Pick<Runtime, 'store' | 'log' | 'events' | 'clock'>;

/** What an admin change did: the user as stored after it, and whether anything changed. */
export interface UserChange {
  readonly user: User;
  readonly changed: boolean;
}

/**
 * Deactivates a user, freeing its seat; its sessions stop working at once (`GET /session` checks
 * the user). Audited and published as `user.deactivated`. A deactivated user is left as it is.
 *
 * @throws AppError `not_found`, `service_unavailable`.
 */
export async function deactivateUser(runtime: AdminRuntime, ref: UserRef): Promise<UserChange> {
  const user = await requireUser(runtime.store, ref);
  if (user.status === 'deactivated') return { user, changed: false };
  const now = runtime.clock();
  const after = (await runtime.store.deactivateUser(user.id, now)) ?? user;
  await audit(runtime, { tenantId: user.tenantId, type: 'user.deactivated', at: now.toISOString(), userId: user.id, detail: { by: 'admin' } });
  return { user: after, changed: true };
}

/**
 * Reactivates a user, taking a seat under the tenant's limit. Audited as `user.reactivated`.
 * @throws AppError `not_found`, `seat_limit_reached`, `service_unavailable`.
 */
export async function reactivateUser(runtime: AdminRuntime, ref: UserRef): Promise<UserChange> {
  const user = await requireUser(runtime.store, ref);
  if (user.status === 'active') return { user, changed: false };
  const now = runtime.clock();
  const after = (await runtime.store.reactivateUser(user.id, now)) ?? user;
  await audit(runtime, { tenantId: user.tenantId, type: 'user.reactivated', at: now.toISOString(), userId: user.id, detail: { by: 'admin' } });
  return { user: after, changed: true };
}

/**
 * Removes a user with its email key and identity links, freeing its seat. Audited as `user.removed`.
 * A later login of the same identity creates a new user, where the connection allows JIT.
 *
 * @throws AppError `not_found`, `service_unavailable`.
 */
export async function removeUser(runtime: AdminRuntime, ref: UserRef): Promise<User> {
  const user = await requireUser(runtime.store, ref);
  await runtime.store.removeUser(user.id);
  await audit(runtime, { tenantId: user.tenantId, type: 'user.removed', at: runtime.clock().toISOString(), userId: user.id, detail: { by: 'admin' } });
  return user;
}

/**
 * Adds a user ahead of its first login (for connections with JIT off, or to set roles first). It
 * takes a seat; its first login joins it through the connection's email linking rules.
 *
 * @throws AppError `not_found` (tenant), `seat_limit_reached`, `email_in_use`, `invalid_request`.
 */
export async function addUser(runtime: AdminRuntime, input: { tenantId: string; email: string; name?: string; roles: readonly string[] }): Promise<User> {
  const parsed = parseEmail(input.email);
  if (!('email' in parsed)) throw new AppError('invalid_request', `"${input.email}" ${parsed.problem}`);
  const { email } = parsed;
  if (!(await runtime.store.getTenant(input.tenantId))) throw new AppError('not_found', `there is no tenant ${input.tenantId}`);
  const now = runtime.clock().toISOString();
  const user = await runtime.store.createUser(
    { id: randomUUID(), tenantId: input.tenantId, email, ...(input.name ? { name: input.name } : {}), roles: [...input.roles], attributes: {}, status: 'active', createdAt: now, updatedAt: now },
    undefined,
  );
  await audit(runtime, { tenantId: user.tenantId, type: 'user.created', at: now, userId: user.id, detail: { by: 'admin' } });
  return user;
}

/**
 * Changes a user's name or roles (what the app owns; what the IdP owns it sets again at login, as
 * the connection's update policies say). Audited and published as `user.updated`.
 *
 * @throws AppError `not_found`, `service_unavailable`.
 */
export async function updateUser(runtime: AdminRuntime, ref: UserRef, change: { name?: string; roles?: readonly string[] }): Promise<UserChange> {
  const user = await requireUser(runtime.store, ref);
  const next: User = { ...user, ...(change.name !== undefined ? { name: change.name } : {}), ...(change.roles ? { roles: [...change.roles] } : {}), updatedAt: runtime.clock().toISOString() };
  const changes = (['name', 'roles'] as const)
    .filter((field) => JSON.stringify(user[field]) !== JSON.stringify(next[field]))
    .map((field) => ({ field, from: user[field], to: next[field] }));
  if (changes.length === 0) return { user, changed: false };
  const stored = await runtime.store.updateUser(user, next);
  await audit(runtime, { tenantId: user.tenantId, type: 'user.updated', at: next.updatedAt, userId: user.id, detail: { by: 'admin', changes } });
  return { user: stored, changed: true };
}
