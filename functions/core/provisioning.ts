import { randomUUID } from 'node:crypto';
import { AppError } from './errors';
import type { AttributeMapping, Connection, User } from './model';
import type { Store } from './store';

/** What an IdP said about someone at login, before mapping: its subject and raw attributes. */
export interface AssertedIdentity {
  readonly subject: string;
  readonly attributes: Readonly<Record<string, readonly string[]>>;
  /** Whether the IdP vouches that the subject owns the email it sent. */
  readonly emailVerified: boolean;
}

/** App attributes after mapping: email and name have a place on the user, the rest are kept as attributes. */
export interface MappedProfile {
  readonly email?: string;
  readonly name?: string;
  readonly attributes: Readonly<Record<string, string | readonly string[]>>;
}

const NAME_ID = '$nameId';

/** The IdP attribute names the big IdPs use, so most connections need no mapping of their own. */
export const DEFAULT_ATTRIBUTE_MAPPING: AttributeMapping = {
  sources: {
    email: [
      'email',
      'mail',
      'Email',
      'emailAddress',
      'User.email',
      'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
      'urn:oid:0.9.2342.19200300.100.1.3',
      NAME_ID,
    ],
    givenName: ['given_name', 'givenName', 'firstName', 'FirstName', 'first_name', 'firstname', 'User.FirstName', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname', 'urn:oid:2.5.4.42'],
    familyName: ['family_name', 'sn', 'surname', 'lastName', 'LastName', 'last_name', 'lastname', 'User.LastName', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname', 'urn:oid:2.5.4.4'],
    name: ['name', 'displayName', 'cn', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name', 'http://schemas.microsoft.com/identity/claims/displayname', 'urn:oid:2.16.840.1.113730.3.1.241'],
    groups: ['groups', 'group', 'memberOf', 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups', 'http://schemas.xmlsoap.org/claims/Group'],
  },
  required: [],
};

/** Trims, applies Unicode NFC and lowercases, so one mailbox is one key however the IdP spells it. */
export function normalizeEmail(email: string): string {
  return email.trim().normalize('NFC').toLowerCase();
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * Maps an asserted identity to app attributes: each takes the first present of its source names.
 * An email that is not an address is dropped (a NameID is often an opaque id).
 *
 * @throws AppError `missing_required_attribute` naming the first required attribute that is absent.
 */
export function mapAttributes(mapping: AttributeMapping, identity: AssertedIdentity): MappedProfile {
  const mapped: Record<string, readonly string[]> = {};
  for (const [appAttribute, sources] of Object.entries(mapping.sources)) {
    for (const source of sources) {
      const values = source === NAME_ID ? [identity.subject] : identity.attributes[source];
      const usable = values?.filter((value) => value.trim() !== '');
      if (appAttribute === 'email' && usable?.length && !EMAIL.test(usable[0]!.trim())) continue;
      if (usable?.length) {
        mapped[appAttribute] = usable;
        break;
      }
    }
  }
  for (const required of mapping.required) {
    if (!mapped[required]) {
      throw new AppError('missing_required_attribute', `the identity provider did not send "${required}"`);
    }
  }
  const { email, name, givenName, familyName, ...rest } = mapped;
  const attributes: Record<string, string | readonly string[]> = {};
  for (const [attribute, values] of Object.entries({ givenName, familyName, ...rest })) {
    if (values) attributes[attribute] = values.length === 1 && attribute !== 'groups' ? values[0]! : values;
  }
  const fullName = name?.[0] ?? ([givenName?.[0], familyName?.[0]].filter(Boolean).join(' ') || undefined);
  return {
    ...(email ? { email: normalizeEmail(email[0]!) } : {}),
    ...(fullName ? { name: fullName } : {}),
    attributes,
  };
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

/**
 * Finds the user an IdP vouches for by its identity link (connection + subject); else, where
 * `mayLinkByEmail` allows, links the identity to the tenant's user of that email; else creates the
 * user just in time. Creation is race-free: concurrent first logins of one identity yield one user.
 *
 * @throws AppError `missing_required_attribute`, `user_deactivated`, `seat_limit_reached`,
 *   `email_in_use`, `service_unavailable`.
 */
export async function provisionUser(
  store: Store,
  connection: Connection,
  identity: AssertedIdentity,
  now: Date,
): Promise<{ user: User; created: boolean; linked: boolean }> {
  const profile = mapAttributes(connection.attributeMapping, identity);
  const link = { connectionId: connection.id, subject: identity.subject };
  const existing = await store.findUserByLink(link);
  if (existing) return { user: activeUser(existing), created: false, linked: false };
  if (profile.email && mayLinkByEmail(connection, profile.email, identity.emailVerified)) {
    const holder = await store.findUserByEmail(connection.tenantId, profile.email);
    if (holder) return { user: activeUser(await store.linkIdentity(activeUser(holder), link)), created: false, linked: true };
  }
  const candidate: User = {
    id: randomUUID(),
    tenantId: connection.tenantId,
    ...profile,
    roles: [...connection.defaultRoles],
    status: 'active',
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
  };
  const user = await store.createUser(candidate, link);
  return { user: activeUser(user), created: user.id === candidate.id, linked: false };
}

function activeUser(user: User): User {
  if (user.status !== 'active') throw new AppError('user_deactivated', 'this account was deactivated by your administrator');
  return user;
}
