import { randomUUID } from 'node:crypto';
import { audit } from '../audit';
import { AppError } from '../errors';
import { parseEmail } from '../identity';
import type { User } from '../model';
import type { FieldChange } from '../provisioning';
import { keyLookup, matchesFilter, parseFilter } from './filter';
import { applyPatch, coerceObject, patchOperations } from './patch';
import { checkIfMatch, etagOf, isObject, listResponse, project, type Json, type JsonObject, type ScimContext, type ScimQuery, type ScimReply } from './resource';
import { removeFromGroups } from './groups';
import { ENTERPRISE_ATTRIBUTES, ENTERPRISE_SCHEMA, MAX_EXAMINED, schemaOf, USER_SCHEMA, type AttributeDefinition } from './schema';

/** What a SCIM User body says, as the user stores it. */
interface ParsedUser {
  readonly userName: string;
  readonly externalId?: string;
  /** Absent when the body does not say: a create is active, a replace keeps the user's status. */
  readonly active?: boolean;
  readonly email?: string;
  readonly name?: string;
  /** Every other attribute the schema knows, in its spelling. */
  readonly scim: JsonObject;
}

/** Attributes kept elsewhere on the user, or never kept (read-only, or a password). */
const NOT_STORED = new Set(['id', 'meta', 'schemas', 'groups', 'password', 'userName', 'externalId', 'active']);
const CONTROL = /\p{Cc}/u;
/** The most JSON a user's SCIM attributes may take. */
export const MAX_STORED_BYTES = 64 * 1024;

const userLocation = (context: ScimContext, id: string) => `${context.baseUrl}/Users/${id}`;

/** The SCIM representation of a user, whichever path (SCIM, a login, an admin) created it. */
export function userResource(context: ScimContext, user: User): JsonObject {
  const scim = user.scim ?? {};
  const emails = scim.emails ?? (user.email ? [{ value: user.email, type: 'work', primary: true }] : undefined);
  const displayName = scim.displayName ?? user.name;
  return {
    schemas: [USER_SCHEMA, ...(isObject(scim[ENTERPRISE_SCHEMA]) ? [ENTERPRISE_SCHEMA] : [])],
    id: user.id,
    ...(user.externalId === undefined ? {} : { externalId: user.externalId }),
    userName: user.userName ?? user.email ?? user.id,
    ...scim,
    ...(displayName === undefined ? {} : { displayName }),
    ...(emails === undefined ? {} : { emails }),
    active: user.status === 'active',
    meta: { resourceType: 'User', created: user.createdAt, lastModified: user.updatedAt, location: userLocation(context, user.id), version: etagOf(user.version) },
  };
}

function checkTypes(definitions: readonly AttributeDefinition[], value: JsonObject, prefix: string): void {
  for (const [name, inner] of Object.entries(value)) {
    const definition = definitions.find((d) => d.name === name);
    if (!definition || inner === null) continue;
    const path = `${prefix}${name}`;
    const elements = definition.multiValued ? (Array.isArray(inner) ? inner : bad(`${path} must be an array`)) : [inner];
    for (const element of elements) {
      if (definition.type === 'complex') {
        if (!isObject(element)) bad(`${path} must hold objects`);
        checkTypes(definition.subAttributes ?? [], element, `${path}.`);
      } else if (definition.type === 'boolean' ? typeof element !== 'boolean' : typeof element !== 'string') {
        bad(`${path} must be a ${definition.type === 'boolean' ? 'boolean' : 'string'}`);
      }
    }
  }
}

function bad(detail: string): never {
  throw new AppError('invalid_value', detail);
}

/** Drops `null`s (RFC 7644 §3.5.2: null is unassigned) and what the schema does not know. */
function known(definitions: readonly AttributeDefinition[], value: JsonObject): JsonObject {
  return Object.fromEntries(Object.entries(value).filter(([name, inner]) => inner !== null && definitions.some((d) => d.name === name)));
}

/**
 * Reads a SCIM User body (a POST, a PUT, or a resource after PATCH): names in the schema's
 * spelling, Entra's string booleans as booleans, the enterprise extension under its URN (also
 * from URN-qualified keys), a `manager` given as a bare id as `{value}`. The user's email is its
 * primary email, else its work email, else its first. The stored attributes are bounded
 * (`MAX_STORED_BYTES`), well inside DynamoDB's 400 KB item.
 *
 * @throws AppError `invalid_request` for a body that is no object, `invalid_value`.
 */
export function parseUser(body: Json): ParsedUser {
  if (!isObject(body)) throw new AppError('invalid_request', 'a User is a JSON object');
  const schema = schemaOf('User');
  const core = coerceObject(schema.attributes, body);
  let extension: JsonObject = {};
  for (const [name, value] of Object.entries(body)) {
    const lower = name.toLowerCase();
    const urn = ENTERPRISE_SCHEMA.toLowerCase();
    if (lower === urn && isObject(value)) extension = { ...extension, ...value };
    else if (lower.startsWith(`${urn}:`)) extension = { ...extension, [name.slice(urn.length + 1)]: value };
    if (lower === urn || lower.startsWith(`${urn}:`)) delete core[name];
  }
  extension = known(ENTERPRISE_ATTRIBUTES, coerceObject(ENTERPRISE_ATTRIBUTES, extension));
  checkTypes(schema.attributes, core, '');
  checkTypes(ENTERPRISE_ATTRIBUTES, extension, `${ENTERPRISE_SCHEMA}:`);

  const userName = core.userName;
  if (typeof userName !== 'string' || userName.trim() === '') bad('userName is required');
  if (CONTROL.test(userName) || Buffer.byteLength(userName) > 1024) bad('userName must be at most 1024 bytes without control characters');
  const externalId = core.externalId ?? undefined;
  if (externalId !== undefined && (typeof externalId !== 'string' || externalId === '' || Buffer.byteLength(externalId) > 1024)) bad('externalId must be a non-empty string of at most 1024 bytes');
  const active = core.active ?? undefined;

  const scim: JsonObject = known(schema.attributes.filter((d) => !NOT_STORED.has(d.name) && d.mutability !== 'readOnly'), core);
  if (Object.keys(extension).length) scim[ENTERPRISE_SCHEMA] = extension;
  if (Buffer.byteLength(JSON.stringify(scim)) > MAX_STORED_BYTES) bad(`the user's attributes are over ${MAX_STORED_BYTES} bytes`);

  const emails = Array.isArray(scim.emails) ? (scim.emails as JsonObject[]) : [];
  const chosen = emails.find((e) => e.primary === true) ?? emails.find((e) => typeof e.type === 'string' && e.type.toLowerCase() === 'work') ?? emails[0];
  let email: string | undefined;
  if (chosen && typeof chosen.value === 'string') {
    const parsed = parseEmail(chosen.value);
    if ('problem' in parsed) bad(`emails: "${chosen.value}" ${parsed.problem}`);
    email = parsed.email;
  }
  const name = isObject(scim.name) ? scim.name : {};
  const fullName =
    (typeof scim.displayName === 'string' && scim.displayName) ||
    (typeof name.formatted === 'string' && name.formatted) ||
    [name.givenName, name.familyName].filter((v): v is string => typeof v === 'string' && v !== '').join(' ') ||
    undefined;
  return { userName, ...(typeof externalId === 'string' ? { externalId } : {}), ...(typeof active === 'boolean' ? { active } : {}), ...(email ? { email } : {}), ...(fullName ? { name: fullName } : {}), scim };
}

/** @throws AppError `not_found` for an id that is not a user of the caller's tenant (another tenant's ids answer the same). */
async function requireUser(context: ScimContext, id: string): Promise<User> {
  const user = await context.runtime.store.getUser(id);
  if (!user || user.tenantId !== context.tenantId) throw new AppError('not_found', `there is no User ${id}`);
  return user;
}

const reply = (context: ScimContext, user: User, status = 200, query: ScimQuery = {}): ScimReply => ({
  status,
  body: project('User', userResource(context, user), query),
  etag: etagOf(user.version),
  ...(status === 201 ? { location: userLocation(context, user.id) } : {}),
});

const base = (context: ScimContext, userId?: string) => ({ tenantId: context.tenantId, at: context.runtime.clock().toISOString(), ...(userId ? { userId } : {}) });

/** Moves a user to the status its SCIM `active` says, through the store's seat-keeping transaction, and audits it. */
async function setActive(context: ScimContext, user: User, active: boolean): Promise<User> {
  if ((user.status === 'active') === active) return user;
  const { store } = context.runtime;
  const now = context.runtime.clock();
  const after = active ? await store.reactivateUser(user.id, now) : await store.deactivateUser(user.id, now);
  await audit(context.runtime, { ...base(context, user.id), type: active ? 'user.reactivated' : 'user.deactivated', detail: { source: 'scim' } });
  return after ?? user;
}

/**
 * SCIM POST /Users: creates the user through the same transaction as a just-in-time login (user
 * item, email, `userName` and `externalId` keys, the seat), audited as one `user.created` with
 * `source: "scim"`. `active: false` creates it deactivated (the seat is freed at once).
 *
 * @throws AppError `user_name_in_use`, `external_id_in_use`, `email_in_use`, `seat_limit_reached`,
 *   `invalid_value`, `invalid_request`.
 */
export async function createScimUser(context: ScimContext, body: Json): Promise<ScimReply> {
  const parsed = parseUser(body);
  const { store } = context.runtime;
  const tenant = await store.getTenant(context.tenantId);
  const now = context.runtime.clock().toISOString();
  const user: User = {
    id: randomUUID(),
    tenantId: context.tenantId,
    userName: parsed.userName,
    ...(parsed.externalId === undefined ? {} : { externalId: parsed.externalId }),
    ...(parsed.email === undefined ? {} : { email: parsed.email }),
    ...(parsed.name === undefined ? {} : { name: parsed.name }),
    scim: parsed.scim,
    roles: [...(tenant?.directoryRoles?.defaults ?? [])],
    attributes: {},
    status: 'active',
    createdAt: now,
    updatedAt: now,
  };
  const created = await store.createUser(user, undefined).catch(async (error: unknown) => {
    if (error instanceof AppError && error.code === 'seat_limit_reached') await audit(context.runtime, { ...base(context), type: 'seat_limit.reached', detail: { source: 'scim' } });
    throw error;
  });
  await audit(context.runtime, { ...base(context, created.id), type: 'user.created', detail: { source: 'scim' } });
  return reply(context, await setActive(context, created, parsed.active ?? true), 201);
}

/** SCIM GET /Users/{id}. @throws AppError `not_found`, `invalid_value`. */
export async function getScimUser(context: ScimContext, id: string, query: ScimQuery): Promise<ScimReply> {
  return reply(context, await requireUser(context, id), 200, query);
}

/**
 * SCIM GET /Users: a filter of `userName`, `externalId`, `id` or an email compared with `eq` is
 * a key read; any other filter (or none) examines the tenant's users, at most `MAX_EXAMINED`.
 *
 * @throws AppError `invalid_filter`, `too_many`, `invalid_value`.
 */
export async function listScimUsers(context: ScimContext, query: ScimQuery): Promise<ScimReply> {
  const { store } = context.runtime;
  const filter = query.filter === undefined || query.filter.trim() === '' ? undefined : parseFilter('User', query.filter);
  const lookup = filter && keyLookup('User', filter);
  let candidates: (User | undefined)[];
  if (lookup?.by === 'userName') {
    // A user a login created has no userName key: its email stands for its userName.
    const byName = await store.findUserByUserName(context.tenantId, lookup.value);
    const parsed = parseEmail(lookup.value);
    const byEmail = !byName && 'email' in parsed ? await store.findUserByEmail(context.tenantId, parsed.email) : undefined;
    candidates = [byName ?? (byEmail?.userName === undefined ? byEmail : undefined)];
  } else if (lookup?.by === 'externalId') candidates = [await store.findUserByExternalId(context.tenantId, lookup.value)];
  else if (lookup?.by === 'id') candidates = [await store.getUser(lookup.value)];
  else if (lookup?.by === 'email') {
    const parsed = parseEmail(lookup.value);
    candidates = 'email' in parsed ? [await store.findUserByEmail(context.tenantId, parsed.email)] : [];
  } else {
    const bound = context.maxExamined ?? MAX_EXAMINED;
    candidates = await store.listUsers(context.tenantId, { limit: bound + 1 });
    if (candidates.length > bound) throw new AppError('too_many', `this filter would examine more than ${bound} users; filter by userName, externalId or email`);
  }
  const resources = candidates
    .filter((user): user is User => user !== undefined && user.tenantId === context.tenantId)
    .map((user) => userResource(context, user))
    .filter((resource) => !filter || matchesFilter('User', resource, filter));
  return listResponse('User', resources, query);
}

const CHANGED_FIELDS = ['userName', 'externalId', 'email', 'name', 'scim'] as const;

/**
 * Writes what a PUT or PATCH produced: the attributes conditioned on the version read (a racing
 * writer makes this `write_conflict`, never a silent overwrite), then `active` through the
 * deactivate or reactivate transaction.
 */
async function saveUser(context: ScimContext, current: User, parsed: ParsedUser): Promise<ScimReply> {
  const { externalId: _externalId, email: _email, name: _name, ...rest } = current;
  const next: User = {
    ...rest,
    userName: parsed.userName,
    ...(parsed.externalId === undefined ? {} : { externalId: parsed.externalId }),
    ...(parsed.email === undefined ? {} : { email: parsed.email }),
    ...(parsed.name === undefined ? {} : { name: parsed.name }),
    scim: parsed.scim,
    updatedAt: context.runtime.clock().toISOString(),
  };
  const changes: FieldChange[] = CHANGED_FIELDS.filter((field) => JSON.stringify(current[field]) !== JSON.stringify(next[field])).map((field) => ({
    field,
    from: field === 'scim' ? undefined : (current[field] as string | undefined),
    to: field === 'scim' ? undefined : (next[field] as string | undefined),
  }));
  let stored = current;
  if (changes.length) {
    stored = await context.runtime.store.replaceUser(current, next);
    await audit(context.runtime, { ...base(context, current.id), type: 'user.updated', detail: { source: 'scim', changes } });
  }
  // A PUT that does not say `active` must not reactivate a deactivated user (and take a seat).
  return reply(context, parsed.active === undefined ? stored : await setActive(context, stored, parsed.active));
}

/** SCIM PUT /Users/{id}: replaces the user's SCIM attributes. @throws AppError `not_found`, `precondition_failed`, `write_conflict`, the codes of `createScimUser`. */
export async function replaceScimUser(context: ScimContext, id: string, body: Json, ifMatch: string | undefined): Promise<ScimReply> {
  const current = await requireUser(context, id);
  checkIfMatch(ifMatch, current.version);
  return saveUser(context, current, parseUser(body));
}

/**
 * SCIM PATCH /Users/{id}: the operations applied to the user's SCIM representation, then saved
 * as a PUT of the result would be.
 *
 * @throws AppError `not_found`, `precondition_failed`, `write_conflict`, `no_target`, `mutability`,
 *   `invalid_value`, `invalid_request`, and the uniqueness and seat codes.
 */
export async function patchScimUser(context: ScimContext, id: string, body: Json, ifMatch: string | undefined): Promise<ScimReply> {
  const current = await requireUser(context, id);
  checkIfMatch(ifMatch, current.version);
  const operations = patchOperations('User', body);
  return saveUser(context, current, parseUser(applyPatch(userResource(context, current), operations)));
}

/**
 * SCIM DELETE /Users/{id}: removes the user with its keys, links and seat, and from its groups;
 * its sessions stop at once. Audited as `user.removed`; afterwards the id is 404 everywhere.
 *
 * @throws AppError `not_found`, `precondition_failed`.
 */
export async function deleteScimUser(context: ScimContext, id: string, ifMatch: string | undefined): Promise<ScimReply> {
  const current = await requireUser(context, id);
  checkIfMatch(ifMatch, current.version);
  await context.runtime.store.removeUser(current.id);
  await audit(context.runtime, { ...base(context, current.id), type: 'user.removed', detail: { source: 'scim' } });
  await removeFromGroups(context, current.id);
  return { status: 204 };
}
