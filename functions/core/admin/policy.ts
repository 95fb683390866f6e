import { AppError } from '../errors';
import type { AttributeMapping, AttributeRule, Connection, DirectoryRoles, RolePolicy, Transform, UpdatePolicy } from '../model';

/**
 * The provisioning policy of a connection as an admin writes it in a JSON file: every member is
 * optional, and a member present replaces the connection's own (a partial file changes only what
 * it names).
 */
export interface ConnectionPolicy {
  readonly jit?: boolean;
  readonly attributeMapping?: AttributeMapping;
  readonly roles?: RolePolicy;
  readonly returnToAllowlist?: readonly string[];
  readonly linkByEmail?: boolean;
  readonly allowedEmailDomains?: readonly string[];
  readonly scimSubject?: 'externalId' | 'userName';
}

export type Json = Readonly<Record<string, unknown>>;

function bad(path: string, what: string): never {
  throw new AppError('invalid_request', `${path} ${what}`);
}

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

function object(value: unknown, path: string, allowed: readonly string[]): Json {
  if (!isObject(value)) bad(path, 'must be an object');
  const unknown = Object.keys(value).find((key) => !allowed.includes(key));
  if (unknown !== undefined) bad(`${path}.${unknown}`, `is not a field here (expected one of: ${allowed.join(', ')})`);
  return value;
}

/** An object whose keys are the admin's own (attribute names, group names). */
function record(value: unknown, path: string): Json {
  if (!isObject(value)) bad(path, 'must be an object');
  return value;
}

function string(value: unknown, path: string): string {
  if (typeof value !== 'string' || value.trim() === '') return bad(path, 'must be a non-empty string');
  return value;
}

function strings(value: unknown, path: string, options: { nonEmpty?: boolean } = {}): string[] {
  if (!Array.isArray(value)) return bad(path, 'must be an array of strings');
  const list = value.map((item, i) => string(item, `${path}[${i}]`));
  if (options.nonEmpty && list.length === 0) bad(path, 'must name at least one value');
  return list;
}

function boolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') return bad(path, 'must be true or false');
  return value;
}

function stringOrStrings(value: unknown, path: string): string | string[] {
  return typeof value === 'string' ? value : strings(value, path);
}

const UPDATE_POLICIES: readonly UpdatePolicy[] = ['always', 'on-create', 'never'];

function updatePolicy(value: unknown, path: string): UpdatePolicy {
  const found = UPDATE_POLICIES.find((policy) => policy === value);
  return found ?? bad(path, `must be one of ${UPDATE_POLICIES.map((p) => `"${p}"`).join(', ')}`);
}

function transform(value: unknown, path: string): Transform {
  if (value === 'trim' || value === 'lowercase' || value === 'uppercase') return value;
  if (isObject(value) && 'split' in value) return { split: string(object(value, path, ['split']).split, `${path}.split`) };
  return bad(path, 'must be "trim", "lowercase", "uppercase" or { "split": "<separator>" }');
}

function attributeRule(value: unknown, path: string): AttributeRule {
  const rule = object(value, path, ['from', 'join', 'constant', 'default', 'transforms', 'multiValued', 'update']);
  let join: AttributeRule['join'];
  if (rule.join !== undefined) {
    const raw = object(rule.join, `${path}.join`, ['parts', 'separator']);
    if (!Array.isArray(raw.parts) || raw.parts.length === 0) bad(`${path}.join.parts`, 'must be a non-empty array of arrays of attribute names');
    const parts = raw.parts.map((part, i) => strings(part, `${path}.join.parts[${i}]`, { nonEmpty: true }));
    join = { parts, ...(raw.separator === undefined ? {} : { separator: typeof raw.separator === 'string' ? raw.separator : bad(`${path}.join.separator`, 'must be a string') }) };
  }
  if (rule.from === undefined && join === undefined && rule.constant === undefined && rule.default === undefined) {
    bad(path, 'needs one of from, join, constant or default');
  }
  return {
    ...(rule.from === undefined ? {} : { from: strings(rule.from, `${path}.from`, { nonEmpty: true }) }),
    ...(join === undefined ? {} : { join }),
    ...(rule.constant === undefined ? {} : { constant: stringOrStrings(rule.constant, `${path}.constant`) }),
    ...(rule.default === undefined ? {} : { default: stringOrStrings(rule.default, `${path}.default`) }),
    ...(rule.transforms === undefined
      ? {}
      : {
          transforms: Array.isArray(rule.transforms)
            ? rule.transforms.map((t, i) => transform(t, `${path}.transforms[${i}]`))
            : bad(`${path}.transforms`, 'must be an array'),
        }),
    ...(rule.multiValued === undefined ? {} : { multiValued: boolean(rule.multiValued, `${path}.multiValued`) }),
    ...(rule.update === undefined ? {} : { update: updatePolicy(rule.update, `${path}.update`) }),
  };
}

function attributeMapping(value: unknown, path: string): AttributeMapping {
  const raw = object(value, path, ['attributes', 'required']);
  const attributes = Object.fromEntries(
    Object.entries(record(raw.attributes, `${path}.attributes`)).map(([name, rule]) => [
      name,
      attributeRule(rule, `${path}.attributes.${name}`),
    ]),
  );
  const required = raw.required === undefined ? [] : strings(raw.required, `${path}.required`);
  required.forEach((name, i) => {
    // A required attribute no rule produces would refuse every login.
    if (!(name in attributes)) bad(`${path}.required[${i}]`, `names "${name}", which ${path}.attributes does not define`);
  });
  return { attributes, required };
}

function rolePolicy(value: unknown, path: string): RolePolicy {
  const raw = object(value, path, ['defaults', 'groupsAttribute', 'groupRoles', 'update']);
  if (raw.defaults === undefined) bad(`${path}.defaults`, 'is required (the roles of a user none of whose groups maps)');
  let groupRoles: Record<string, string[]> | undefined;
  if (raw.groupRoles !== undefined) {
    const map = record(raw.groupRoles, `${path}.groupRoles`);
    groupRoles = Object.fromEntries(Object.entries(map).map(([group, roles]) => [group, strings(roles, `${path}.groupRoles["${group}"]`, { nonEmpty: true })]));
  }
  return {
    defaults: strings(raw.defaults, `${path}.defaults`),
    ...(raw.groupsAttribute === undefined ? {} : { groupsAttribute: string(raw.groupsAttribute, `${path}.groupsAttribute`) }),
    ...(groupRoles === undefined ? {} : { groupRoles }),
    ...(raw.update === undefined ? {} : { update: updatePolicy(raw.update, `${path}.update`) }),
  };
}

function returnTarget(value: unknown, path: string): string {
  const text = string(value, path);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return bad(path, `must be an absolute URL, got "${text}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') bad(path, `must be an http(s) URL, got "${text}"`);
  return text;
}

function emailDomain(value: unknown, path: string): string {
  const domain = string(value, path).trim().toLowerCase();
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(domain)) bad(path, `must be a domain such as "example.com", got "${String(value)}"`);
  return domain;
}

/** The members of a connection's provisioning policy. */
export const POLICY_FIELDS = ['jit', 'attributeMapping', 'roles', 'returnToAllowlist', 'linkByEmail', 'allowedEmailDomains', 'scimSubject'] as const;

/**
 * The policy members present in an object already checked for unknown keys, each checked and
 * named on failure by `prefix` and its path (`connections[0].roles.defaults`).
 *
 * @throws AppError `invalid_request` naming the field.
 */
export function parsePolicyMembers(raw: Json, prefix = ''): ConnectionPolicy {
  const at = (name: string) => `${prefix}${name}`;
  return {
    ...(raw.jit === undefined ? {} : { jit: boolean(raw.jit, at('jit')) }),
    ...(raw.attributeMapping === undefined ? {} : { attributeMapping: attributeMapping(raw.attributeMapping, at('attributeMapping')) }),
    ...(raw.roles === undefined ? {} : { roles: rolePolicy(raw.roles, at('roles')) }),
    ...(raw.returnToAllowlist === undefined
      ? {}
      : { returnToAllowlist: Array.isArray(raw.returnToAllowlist) ? raw.returnToAllowlist.map((v, i) => returnTarget(v, at(`returnToAllowlist[${i}]`))) : bad(at('returnToAllowlist'), 'must be an array of URLs') }),
    ...(raw.linkByEmail === undefined ? {} : { linkByEmail: boolean(raw.linkByEmail, at('linkByEmail')) }),
    ...(raw.allowedEmailDomains === undefined
      ? {}
      : { allowedEmailDomains: Array.isArray(raw.allowedEmailDomains) ? raw.allowedEmailDomains.map((v, i) => emailDomain(v, at(`allowedEmailDomains[${i}]`))) : bad(at('allowedEmailDomains'), 'must be an array of domains') }),
    ...(raw.scimSubject === undefined
      ? {}
      : { scimSubject: raw.scimSubject === 'externalId' || raw.scimSubject === 'userName' ? raw.scimSubject : bad(at('scimSubject'), 'must be "externalId" or "userName"') }),
  };
}

/**
 * Reads a provisioning policy from parsed JSON, checking every member and naming the first one
 * that is wrong by its path (`roles.groupRoles["Admins"][0] must be a non-empty string`).
 *
 * @throws AppError `invalid_request` naming the field.
 */
export function parseConnectionPolicy(value: unknown): ConnectionPolicy {
  return parsePolicyMembers(object(value, 'policy', POLICY_FIELDS));
}

/**
 * Reads a tenant's directory roles (`{"groupRoles": {"GROUP": ["role", …]}, "defaults": ["role", …]}`)
 * from parsed JSON, naming the first member that is wrong.
 *
 * @throws AppError `invalid_request` naming the field.
 */
export function parseDirectoryRoles(value: unknown): DirectoryRoles {
  const raw = object(value, 'directoryRoles', ['groupRoles', 'defaults']);
  const roles = (v: unknown, path: string) => (Array.isArray(v) ? v.map((role, i) => string(role, `${path}[${i}]`)) : bad(path, 'must be an array of strings'));
  const groupRoles = raw.groupRoles === undefined ? {} : record(raw.groupRoles, 'directoryRoles.groupRoles');
  return {
    groupRoles: Object.fromEntries(Object.entries(groupRoles).map(([group, v]) => [group, roles(v, `directoryRoles.groupRoles[${JSON.stringify(group)}]`)])),
    defaults: raw.defaults === undefined ? [] : roles(raw.defaults, 'directoryRoles.defaults'),
  };
}

/** The readers the policy file is checked with, for other files of the admin (each throws `invalid_request` naming the path). */
export const read = { object, string, strings, boolean, bad, isObject } as const;

/** Checks one `return_to` prefix as the policy file's `returnToAllowlist` would. @throws AppError `invalid_request`. */
export function parseReturnTarget(value: string, name = 'return_to'): string {
  return returnTarget(value, name);
}

/** The connection with the policy's members in place of its own. */
export function applyPolicy<C extends Connection>(connection: C, policy: ConnectionPolicy): C {
  return { ...connection, ...policy };
}

/** What an admin should know about a connection's policy: settings that make it refuse logins or never apply. */
export function policyWarnings(connection: Connection): string[] {
  const warnings: string[] = [];
  if (connection.returnToAllowlist.length === 0) warnings.push('the return_to allowlist is empty: every login will be refused its return target (add --return-to or returnToAllowlist)');
  if (connection.linkByEmail && !connection.allowedEmailDomains?.length) warnings.push('linkByEmail has no effect without allowedEmailDomains');
  if (!connection.enabled) warnings.push('the connection is disabled: its logins are refused (unknown_connection)');
  return warnings;
}
