import { randomUUID } from 'node:crypto';
import { audit } from '../audit';
import { AppError } from '../errors';
import type { DirectoryRoles, ScimGroup, User } from '../model';
import { keyLookup, matchesFilter, parseFilter } from './filter';
import { applyPatch, coerceObject, patchOperations } from './patch';
import { checkIfMatch, etagOf, isObject, listResponse, project, type Json, type JsonObject, type ScimContext, type ScimQuery, type ScimReply } from './resource';
import { GROUP_SCHEMA, MAX_EXAMINED, schemaOf } from './schema';

const groupLocation = (context: ScimContext, id: string) => `${context.baseUrl}/Groups/${id}`;

/** The SCIM representation of a group; members are users of the tenant, each with its `$ref`. */
export function groupResource(context: ScimContext, group: ScimGroup): JsonObject {
  return {
    schemas: [GROUP_SCHEMA],
    id: group.id,
    ...(group.externalId === undefined ? {} : { externalId: group.externalId }),
    displayName: group.displayName,
    members: group.members.map((m) => ({ value: m.value, ...(m.display ? { display: m.display } : {}), $ref: `${context.baseUrl}/Users/${m.value}`, type: 'User' })),
    meta: { resourceType: 'Group', created: group.createdAt, lastModified: group.updatedAt, location: groupLocation(context, group.id), version: etagOf(group.version) },
  };
}

/**
 * Reads a SCIM Group body. Every member must be a user of the caller's tenant, so a group can
 * never reach into another tenant.
 *
 * @throws AppError `invalid_request`, `invalid_value`.
 */
async function parseGroup(context: ScimContext, body: Json): Promise<Pick<ScimGroup, 'displayName' | 'externalId' | 'members'>> {
  if (!isObject(body)) throw new AppError('invalid_request', 'a Group is a JSON object');
  const group = coerceObject(schemaOf('Group').attributes, body);
  if (typeof group.displayName !== 'string' || group.displayName.trim() === '') throw new AppError('invalid_value', 'displayName is required');
  const externalId = group.externalId ?? undefined;
  if (externalId !== undefined && typeof externalId !== 'string') throw new AppError('invalid_value', 'externalId must be a string');
  const members = group.members ?? [];
  if (!Array.isArray(members)) throw new AppError('invalid_value', 'members must be an array');
  const ids = new Map<string, string | undefined>();
  for (const member of members) {
    if (!isObject(member) || typeof member.value !== 'string') throw new AppError('invalid_value', 'each member needs a "value": the id of a User');
    ids.set(member.value, typeof member.display === 'string' ? member.display : undefined);
  }
  const users = await Promise.all([...ids.keys()].map((id) => context.runtime.store.getUser(id)));
  const stranger = [...ids.keys()].find((_, i) => users[i]?.tenantId !== context.tenantId);
  if (stranger !== undefined) throw new AppError('invalid_value', `member ${stranger} is not a User of this tenant`);
  return {
    displayName: group.displayName,
    ...(typeof externalId === 'string' ? { externalId } : {}),
    members: [...ids].map(([value, display]) => ({ value, ...(display ? { display } : {}) })),
  };
}

async function requireGroup(context: ScimContext, id: string): Promise<ScimGroup> {
  const group = await context.runtime.store.getScimGroup(id);
  if (!group || group.tenantId !== context.tenantId) throw new AppError('not_found', `there is no Group ${id}`);
  return group;
}

async function tenantGroups(context: ScimContext): Promise<ScimGroup[]> {
  const bound = context.maxExamined ?? MAX_EXAMINED;
  const groups = await context.runtime.store.listScimGroups(context.tenantId, { limit: bound + 1 });
  if (groups.length > bound) throw new AppError('too_many', `this tenant has more than ${bound} groups`);
  return groups;
}

/** The roles directory groups give: those of every group the user is in (by displayName, externalId or id), or the defaults when none maps. */
export function directoryRolesFor(directoryRoles: DirectoryRoles, groups: readonly ScimGroup[]): string[] {
  const { groupRoles } = directoryRoles;
  const roles = new Set(groups.flatMap((g) => [g.displayName, g.externalId, g.id].flatMap((name) => (name !== undefined && Object.hasOwn(groupRoles, name) ? groupRoles[name]! : []))));
  return roles.size ? [...roles].sort() : [...directoryRoles.defaults];
}

/**
 * The one rule for roles: whichever path changed them last decides. A login sets them from its
 * groups as its connection's `roles` policy says; a SCIM change of a group's members sets them,
 * for each member it adds or removes, from all the user's SCIM groups through the tenant's
 * `directoryRoles`. `changed` is the group as just written (or removed), which the by-tenant
 * index may not show yet.
 */
async function recomputeRoles(context: ScimContext, userIds: ReadonlySet<string>, changed: { group: ScimGroup; removed: boolean }): Promise<void> {
  if (userIds.size === 0) return;
  const { store } = context.runtime;
  const directoryRoles = (await store.getTenant(context.tenantId))?.directoryRoles;
  if (!directoryRoles) return;
  const groups = [...(await tenantGroups(context)).filter((g) => g.id !== changed.group.id), ...(changed.removed ? [] : [changed.group])];
  for (const userId of userIds) {
    for (let attempt = 0; attempt < 3; attempt++) {
      const user = await store.getUser(userId);
      if (!user || user.tenantId !== context.tenantId) break;
      const roles = directoryRolesFor(directoryRoles, groups.filter((g) => g.members.some((m) => m.value === userId)));
      if (JSON.stringify(roles) === JSON.stringify(user.roles)) break;
      const next: User = { ...user, roles, updatedAt: context.runtime.clock().toISOString() };
      const stored = await store.updateUser(user, next);
      if (stored.version !== (user.version ?? 0) + 1 || JSON.stringify(stored.roles) !== JSON.stringify(roles)) continue;
      await audit(context.runtime, { tenantId: context.tenantId, type: 'user.updated', at: next.updatedAt, userId, detail: { source: 'scim', changes: [{ field: 'roles', from: user.roles, to: roles }] } });
      break;
    }
  }
}

const reply = (context: ScimContext, group: ScimGroup, status = 200, query: ScimQuery = {}): ScimReply => ({
  status,
  body: project('Group', groupResource(context, group), query),
  etag: etagOf(group.version),
  ...(status === 201 ? { location: groupLocation(context, group.id) } : {}),
});

const memberIds = (group: Pick<ScimGroup, 'members'>) => new Set(group.members.map((m) => m.value));
const symmetricDifference = (a: Set<string>, b: Set<string>) => new Set([...a, ...b].filter((id) => a.has(id) !== b.has(id)));

/** SCIM POST /Groups. @throws AppError `invalid_value`, `invalid_request`. */
export async function createScimGroup(context: ScimContext, body: Json): Promise<ScimReply> {
  const parsed = await parseGroup(context, body);
  const now = context.runtime.clock().toISOString();
  const group = await context.runtime.store.createScimGroup({ id: randomUUID(), tenantId: context.tenantId, ...parsed, version: 1, createdAt: now, updatedAt: now });
  await audit(context.runtime, { tenantId: context.tenantId, type: 'group.created', at: now, detail: { source: 'scim', groupId: group.id, members: group.members.length } });
  await recomputeRoles(context, memberIds(group), { group, removed: false });
  return reply(context, group, 201);
}

/** SCIM GET /Groups/{id}. @throws AppError `not_found` (also for another tenant's group), `invalid_value`. */
export async function getScimGroup(context: ScimContext, id: string, query: ScimQuery): Promise<ScimReply> {
  return reply(context, await requireGroup(context, id), 200, query);
}

/** SCIM GET /Groups: `id eq` is a key read; any other filter examines the tenant's groups, at most `MAX_EXAMINED`. @throws AppError `invalid_filter`, `too_many`, `invalid_value`. */
export async function listScimGroups(context: ScimContext, query: ScimQuery): Promise<ScimReply> {
  const filter = query.filter === undefined || query.filter.trim() === '' ? undefined : parseFilter('Group', query.filter);
  const lookup = filter && keyLookup('Group', filter);
  const groups = lookup?.by === 'id' ? [await context.runtime.store.getScimGroup(lookup.value)] : await tenantGroups(context);
  const resources = groups
    .filter((g): g is ScimGroup => g !== undefined && g.tenantId === context.tenantId)
    .map((g) => groupResource(context, g))
    .filter((r) => !filter || matchesFilter('Group', r, filter));
  return listResponse('Group', resources, query);
}

async function saveGroup(context: ScimContext, current: ScimGroup, parsed: Pick<ScimGroup, 'displayName' | 'externalId' | 'members'>): Promise<ScimReply> {
  const { externalId: _externalId, ...rest } = current;
  const next: ScimGroup = { ...rest, ...parsed, updatedAt: context.runtime.clock().toISOString() };
  if (JSON.stringify(next.members) === JSON.stringify(current.members) && next.displayName === current.displayName && next.externalId === current.externalId) return reply(context, current);
  const stored = await context.runtime.store.replaceScimGroup(current, next);
  await audit(context.runtime, { tenantId: context.tenantId, type: 'group.updated', at: next.updatedAt, detail: { source: 'scim', groupId: current.id } });
  const renamed = current.displayName !== next.displayName || current.externalId !== next.externalId;
  await recomputeRoles(context, renamed ? new Set([...memberIds(current), ...memberIds(next)]) : symmetricDifference(memberIds(current), memberIds(next)), { group: stored, removed: false });
  return reply(context, stored);
}

/** SCIM PUT /Groups/{id}. @throws AppError `not_found`, `precondition_failed`, `write_conflict`, `invalid_value`. */
export async function replaceScimGroup(context: ScimContext, id: string, body: Json, ifMatch: string | undefined): Promise<ScimReply> {
  const current = await requireGroup(context, id);
  checkIfMatch(ifMatch, current.version);
  return saveGroup(context, current, await parseGroup(context, body));
}

/**
 * SCIM PATCH /Groups/{id}: `members` add and remove (also `members[value eq "…"]`), `displayName` replace.
 * @throws AppError `not_found`, `precondition_failed`, `write_conflict`, `no_target`, `mutability`, `invalid_value`, `invalid_request`.
 */
export async function patchScimGroup(context: ScimContext, id: string, body: Json, ifMatch: string | undefined): Promise<ScimReply> {
  const current = await requireGroup(context, id);
  checkIfMatch(ifMatch, current.version);
  // Members as their values alone, so a removal by value matches (see patchOperations).
  const view = { ...groupResource(context, current), members: current.members.map(({ value }) => ({ value })) };
  const patched = applyPatch(view, patchOperations('Group', body));
  return saveGroup(context, current, await parseGroup(context, patched));
}

/** SCIM DELETE /Groups/{id}: its members' roles are recomputed without it. @throws AppError `not_found`, `precondition_failed`. */
export async function deleteScimGroup(context: ScimContext, id: string, ifMatch: string | undefined): Promise<ScimReply> {
  const current = await requireGroup(context, id);
  checkIfMatch(ifMatch, current.version);
  await context.runtime.store.removeScimGroup(current.id);
  await audit(context.runtime, { tenantId: context.tenantId, type: 'group.removed', at: context.runtime.clock().toISOString(), detail: { source: 'scim', groupId: current.id } });
  await recomputeRoles(context, memberIds(current), { group: current, removed: true });
  return { status: 204 };
}

/** Takes a removed user out of every group of the tenant that lists it, reading a group again when a concurrent write changed it. */
export async function removeFromGroups(context: ScimContext, userId: string): Promise<void> {
  const { store } = context.runtime;
  for (const listed of await tenantGroups(context)) {
    let group: ScimGroup | undefined = listed;
    for (let attempt = 0; group && group.members.some((m) => m.value === userId); attempt++) {
      try {
        await store.replaceScimGroup(group, { ...group, members: group.members.filter((m) => m.value !== userId), updatedAt: context.runtime.clock().toISOString() });
        break;
      } catch (error) {
        if (!(error instanceof AppError && error.code === 'write_conflict') || attempt >= 4) throw error;
        group = await store.getScimGroup(group.id);
      }
    }
  }
}
