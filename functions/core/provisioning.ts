import { randomUUID } from 'node:crypto';
import { AppError } from './errors';
import { checkSubject, normalizeEmail, parseEmail } from './identity';
import type { AttributeMapping, AttributeRule, Connection, IdentityLink, RolePolicy, Transform, UpdatePolicy, User } from './model';
import type { SignInWrite, Store } from './store/store';

/** What an IdP said about someone at login, before mapping: its subject and raw attributes. */
export interface AssertedIdentity {
  readonly subject: string;
  readonly attributes: Readonly<Record<string, readonly string[]>>;
  /** Whether the IdP vouches that the subject owns the email it sent. */
  readonly emailVerified: boolean;
}

type Value = string | readonly string[];

/** App attributes after mapping: email and name have a place on the user, the rest are custom attributes. */
export interface MappedProfile {
  readonly email?: string;
  readonly name?: string;
  readonly attributes: Readonly<Record<string, Value>>;
}

/** One changed field of a user: `email`, `name`, `roles`, or `attributes.<name>`. */
export interface FieldChange {
  readonly field: string;
  readonly from: Value | undefined;
  readonly to: Value | undefined;
}

const NAME_ID = '$nameId';

/** The IdP attribute names the big IdPs use, so most connections need no mapping of their own. */
export const DEFAULT_ATTRIBUTE_MAPPING: AttributeMapping = {
  attributes: {
    email: {
      from: [
        'email',
        'mail',
        'Email',
        'emailAddress',
        'User.email',
        'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
        'urn:oid:0.9.2342.19200300.100.1.3',
        'urn:oid:1.2.840.113549.1.9.1',
        NAME_ID,
      ],
    },
    givenName: {
      from: ['given_name', 'givenName', 'firstName', 'FirstName', 'first_name', 'firstname', 'User.FirstName', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname', 'urn:oid:2.5.4.42'],
    },
    familyName: {
      from: ['family_name', 'sn', 'surname', 'lastName', 'LastName', 'last_name', 'lastname', 'User.LastName', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname', 'urn:oid:2.5.4.4'],
    },
    name: {
      from: ['name', 'displayName', 'cn', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name', 'http://schemas.microsoft.com/identity/claims/displayname', 'urn:oid:2.16.840.1.113730.3.1.241', 'urn:oid:2.5.4.3'],
    },
    // eduPerson (Shibboleth, SimpleSAMLphp, pysaml2) names its attributes by OID.
    principalName: {
      from: ['eduPersonPrincipalName', 'urn:oid:1.3.6.1.4.1.5923.1.1.1.6', 'upn', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn'],
    },
    groups: {
      from: ['groups', 'group', 'memberOf', 'isMemberOf', 'urn:oid:1.3.6.1.4.1.5923.1.5.1.1', 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups', 'http://schemas.xmlsoap.org/claims/Group'],
      multiValued: true,
    },
  },
  required: [],
};

/** The first of `names` the identity carries, with its values. */
function firstPresent(names: readonly string[], identity: AssertedIdentity): { name: string; values: readonly string[] } | undefined {
  for (const name of names) {
    const values = (name === NAME_ID ? [identity.subject] : Object.hasOwn(identity.attributes, name) ? identity.attributes[name] : undefined)?.filter((v) => v.trim() !== '');
    if (values?.length) return { name, values };
  }
  return undefined;
}

function applyTransform(values: readonly string[], transform: Transform): string[] {
  if (typeof transform === 'object') return values.flatMap((v) => v.split(transform.split)).filter((v) => v.trim() !== '');
  return values.map((v) => (transform === 'trim' ? v.trim() : transform === 'lowercase' ? v.toLowerCase() : v.toUpperCase()));
}

/** A rule's values, and the IdP attribute they were read from (none for a constant, a join or a default). */
function evaluateRule(rule: AttributeRule, identity: AssertedIdentity): { values: readonly string[]; source?: string } | undefined {
  const asList = (value: Value | undefined) => (value === undefined ? undefined : typeof value === 'string' ? [value] : value);
  let values: readonly string[] | undefined = asList(rule.constant);
  let source: string | undefined;
  if (!values && rule.join) {
    const parts = rule.join.parts.map((names) => firstPresent(names, identity)?.values[0]).filter((part): part is string => part !== undefined);
    values = parts.length ? [parts.join(rule.join.separator ?? ' ')] : undefined;
  }
  if (!values && rule.from) {
    const present = firstPresent(rule.from, identity);
    values = present?.values;
    source = present?.name;
  }
  values ??= asList(rule.default);
  for (const transform of rule.transforms ?? []) values = values && applyTransform(values, transform);
  return values?.length ? { values, ...(source ? { source } : {}) } : undefined;
}

/**
 * The one email of a login, or why the IdP's email is not one to keep. A NameID that is not an
 * address is no email at all (it is often an opaque id); any other value must be an address as
 * it stands, and several different addresses are no answer to which one is this person's.
 */
function readEmail(rule: AttributeRule, identity: AssertedIdentity): { email?: string; problem?: string } {
  const evaluated = evaluateRule(rule, identity);
  if (!evaluated) return {};
  const parsed = evaluated.values.map(parseEmail);
  if (evaluated.source === NAME_ID && !('email' in parsed[0]!)) return {};
  const emails = new Set(parsed.map((p) => ('email' in p ? p.email : undefined)));
  const problem = parsed.find((p): p is { problem: string } => 'problem' in p)?.problem;
  if (problem) return { problem: `the email the identity provider sent ${problem}` };
  if (emails.size > 1) return { problem: 'the identity provider sent several email addresses, and none says which is this person\'s' };
  return { email: [...emails][0]! };
}

/**
 * Maps an asserted identity to app attributes by the connection's rules. An `email` that is not
 * an address as it stands (nothing is trimmed) is not kept; `emailProblem` says why, for the
 * caller that must refuse such a login where the email matters.
 *
 * @throws AppError `missing_required_attribute` naming the first required attribute that is absent.
 */
export function mapAttributes(mapping: AttributeMapping, identity: AssertedIdentity): MappedProfile & { emailProblem?: string } {
  const mapped: Record<string, Value> = Object.create(null) as Record<string, Value>;
  let emailProblem: string | undefined;
  for (const [attribute, rule] of Object.entries(mapping.attributes)) {
    if (attribute === 'email') {
      const { email, problem } = readEmail(rule, identity);
      if (email) mapped.email = email;
      emailProblem = problem;
      continue;
    }
    const values = evaluateRule(rule, identity)?.values;
    if (values?.length) mapped[attribute] = rule.multiValued ? values : values[0]!;
  }
  for (const required of mapping.required) {
    if (mapped[required] === undefined) {
      if (required === 'email' && emailProblem) throw new AppError('invalid_request', emailProblem);
      throw new AppError('missing_required_attribute', `the identity provider did not send "${required}"`);
    }
  }
  const { email, name, ...attributes } = mapped;
  const fullName = typeof name === 'string' ? name : [attributes.givenName, attributes.familyName].filter((v) => typeof v === 'string').join(' ');
  return {
    ...(typeof email === 'string' ? { email } : {}),
    ...(fullName ? { name: fullName } : {}),
    attributes,
    ...(emailProblem ? { emailProblem } : {}),
  };
}

/** The roles of a profile: those its groups map to, or the defaults when none maps; never none at all. */
export function rolesFor(policy: RolePolicy, profile: MappedProfile): string[] {
  const groups = profile.attributes[policy.groupsAttribute ?? 'groups'];
  const groupRoles = policy.groupRoles ?? {};
  const mapped = new Set((typeof groups === 'string' ? [groups] : (groups ?? [])).flatMap((group) => (Object.hasOwn(groupRoles, group) ? groupRoles[group]! : [])));
  return mapped.size ? [...mapped].sort() : [...policy.defaults];
}

function updatePolicyOf(connection: Connection, field: string): UpdatePolicy {
  if (field === 'roles') return connection.roles.update ?? 'always';
  return connection.attributeMapping.attributes[field.replace(/^attributes\./, '')]?.update ?? 'always';
}

const same = (a: Value | undefined, b: Value | undefined) => JSON.stringify(a) === JSON.stringify(b);

/**
 * What a login of this identity would do, without writing: the profile and roles it produces, and
 * either the user it would create or the changes it would make to `existing`, each field as its
 * update policy allows (`always` on every login; `on-create` and `never` not after creation;
 * `never` not even then).
 *
 * @throws AppError `missing_required_attribute`, `invalid_request` (an email that is not one, where
 *   the email matters), `email_not_verified`, `domain_not_allowed`.
 */
export function evaluateLogin(
  connection: Connection,
  identity: AssertedIdentity,
  existing: User | undefined,
): { profile: MappedProfile; roles: string[]; changes: FieldChange[] } {
  const { emailProblem, ...mapped } = mapAttributes(connection.attributeMapping, identity);
  // Where the email decides something (which domains may sign in, which user to link), a bad one
  // is refused rather than dropped, so the login cannot slip past the rule without an email.
  if (emailProblem && (connection.allowedEmailDomains?.length || connection.linkByEmail)) throw new AppError('invalid_request', emailProblem);
  const profile = trustedEmailOnly(connection, identity, mapped);
  const domains = connection.allowedEmailDomains;
  if (domains?.length && !(profile.email && domains.map(normalizeEmail).includes(profile.email.slice(profile.email.lastIndexOf('@') + 1)))) {
    throw new AppError('domain_not_allowed', profile.email ? `${profile.email.split('@')[1]} is not one of this organization's email domains` : 'the identity provider sent no email to check against the allowed domains');
  }
  const roles = rolesFor(connection.roles, profile);
  // Roles whose policy is `never` do not follow the IdP's groups, but a new user still gets the defaults.
  const proposedRoles = !existing && updatePolicyOf(connection, 'roles') === 'never' ? [...connection.roles.defaults] : roles;
  const proposed: Record<string, Value | undefined> = { email: profile.email, name: profile.name, roles: proposedRoles };
  for (const [attribute, value] of Object.entries(profile.attributes)) proposed[`attributes.${attribute}`] = value;
  const current: Record<string, Value | undefined> = existing
    ? { email: existing.email, name: existing.name, roles: existing.roles, ...Object.fromEntries(Object.entries(existing.attributes).map(([k, v]) => [`attributes.${k}`, v])) }
    : {};
  const changes: FieldChange[] = [];
  for (const [field, value] of Object.entries(proposed)) {
    const policy = updatePolicyOf(connection, field);
    const allowed = existing ? policy === 'always' : policy !== 'never' || field === 'roles';
    if (allowed && value !== undefined && !same(current[field], value)) changes.push({ field, from: current[field], to: value });
  }
  return { profile, roles, changes };
}

/**
 * An email the IdP does not vouch for is never stored, put in a session or used to find a user:
 * whoever holds it at the IdP may not own the mailbox. Where the email matters to the connection
 * (required, or bounded to domains) such a login is refused instead.
 *
 * @throws AppError `email_not_verified`.
 */
function trustedEmailOnly(connection: Connection, identity: AssertedIdentity, profile: MappedProfile): MappedProfile {
  if (identity.emailVerified || profile.email === undefined) return profile;
  if (connection.attributeMapping.required.includes('email') || connection.allowedEmailDomains?.length) {
    throw new AppError('email_not_verified', 'the identity provider does not vouch for this email address');
  }
  const { email: _unverified, ...rest } = profile;
  return rest;
}

/** The user with the changes applied. */
export function applyChanges(user: User, changes: readonly FieldChange[], now: Date): User {
  let next: User = { ...user, attributes: { ...user.attributes }, updatedAt: now.toISOString() };
  for (const { field, to } of changes) {
    if (field === 'roles') next = { ...next, roles: to === undefined ? [] : typeof to === 'string' ? [to] : [...to] };
    else if (field === 'email' || field === 'name') next = { ...next, [field]: typeof to === 'string' ? to : undefined };
    else next = { ...next, attributes: { ...next.attributes, [field.replace(/^attributes\./, '')]: to! } };
  }
  return next;
}

/**
 * Whether a new identity may join the tenant's existing user of its email: only when the
 * connection allows linking, the IdP vouches for the email, and the email's domain is one the
 * IdP may vouch for. Anything else would let an IdP take over accounts it does not own.
 */
export function mayLinkByEmail(connection: Connection, email: string, emailVerified: boolean): boolean {
  const domain = email.slice(email.lastIndexOf('@') + 1);
  return connection.linkByEmail === true && emailVerified && (connection.allowedEmailDomains ?? []).map(normalizeEmail).includes(domain);
}

/** What a login would do to the users as stored (`planProvisioning`). */
export interface ProvisioningPlan {
  readonly kind: 'existing' | 'link' | 'create';
  /** The identity the login signs in: its connection and subject, exactly as signed. */
  readonly link: IdentityLink;
  /** The user as read (`existing`, `link`), or the user to create. */
  readonly user: User;
  readonly changes: FieldChange[];
  readonly profile: MappedProfile;
  readonly roles: string[];
  /** Whether the user was read from its identity link's copy (`existing` only), which the login's commit checks. */
  readonly fromCopy?: boolean;
}

/**
 * What a login would do to the users as stored, decided by reading only: keep or update the
 * user its identity link names; link the identity to the tenant's user SCIM provisioned with
 * the subject as its `externalId` or `userName`, where the connection's `scimSubject` says so;
 * link it to the tenant's user of its email where `mayLinkByEmail` allows; or create a user.
 * The one decision both a login and the admin's `evaluate` use, so the two cannot drift apart.
 * The subject is matched exactly as the IdP signed it (`checkSubject`): only it selects a user;
 * an email only through `mayLinkByEmail`.
 *
 * @param options.fromCopy read a linked user from its identity link's copy (one read; a login's
 *   commit then checks it is current), rather than the user itself.
 * @throws AppError `invalid_request` (a subject or email that is not one as it stands),
 *   `missing_required_attribute`, `email_not_verified`, `domain_not_allowed`,
 *   `user_deactivated`, `user_not_provisioned`, `service_unavailable`.
 */
export async function planProvisioning(
  store: Store,
  connection: Connection,
  identity: AssertedIdentity,
  now: Date,
  options: { fromCopy?: boolean } = {},
): Promise<ProvisioningPlan> {
  const link = { connectionId: connection.id, subject: checkSubject(identity.subject) };
  const linked = options.fromCopy
    ? await store.findSignInUser(link, connection.tenantId)
    : await store.findUserByLink(link, { tenantId: connection.tenantId }).then((user) => user && { user, copy: false });
  if (linked) {
    const user = activeUser(linked.user);
    return { kind: 'existing', link, user, ...evaluateLogin(connection, identity, user), fromCopy: linked.copy };
  }
  // A user SCIM provisioned ahead of the login, named by the IdP that also signs the subject.
  const provisioned =
    connection.scimSubject === 'externalId'
      ? await store.findUserByExternalId(connection.tenantId, identity.subject)
      : connection.scimSubject === 'userName'
        ? await store.findUserByUserName(connection.tenantId, identity.subject)
        : undefined;
  if (provisioned) {
    const user = activeUser(provisioned);
    return { kind: 'link', link, user, ...evaluateLogin(connection, identity, user) };
  }
  const asNew = evaluateLogin(connection, identity, undefined);
  const email = asNew.profile.email;
  const holder = email && mayLinkByEmail(connection, email, identity.emailVerified) ? await store.findUserByEmail(connection.tenantId, email) : undefined;
  if (holder) {
    const user = activeUser(holder);
    return { kind: 'link', link, user, ...evaluateLogin(connection, identity, user) };
  }
  if (connection.jit === false) {
    throw new AppError('user_not_provisioned', 'your account has not been set up for this application yet; ask your administrator to add you');
  }
  const blank: User = { id: randomUUID(), tenantId: connection.tenantId, roles: [], attributes: {}, status: 'active', createdAt: now.toISOString(), updatedAt: now.toISOString() };
  return { kind: 'create', link, user: applyChanges(blank, asNew.changes, now), ...asNew };
}

/**
 * The write that carries out a plan, and the user as it will be stored: a new user with its
 * identity link; or the user as read, updated as the connection's update policies say, with its
 * identity link written when the login makes it or the link's copy of the user is not current.
 * Creation is race-free in the commit: concurrent first logins of one identity yield one user
 * (the losers read again and find it), and the seat count never passes its limit.
 */
export function provisioningWrite(plan: ProvisioningPlan, now: Date): { write: SignInWrite; user: User } {
  const { link } = plan;
  if (plan.kind === 'create') return { write: { kind: 'create', user: plan.user, link }, user: plan.user };
  const next = plan.changes.length ? applyChanges(plan.user, plan.changes, now) : undefined;
  return { write: { kind: plan.kind, user: plan.user, ...(next ? { next } : {}), link, writeLink: next !== undefined || !plan.fromCopy }, user: next ?? plan.user };
}

function activeUser(user: User): User {
  if (user.status !== 'active') throw new AppError('user_deactivated', 'this account was deactivated by your administrator');
  return user;
}
