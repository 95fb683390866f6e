import type { IdentityLink, User } from '../model';
import { TABLE_KEYS } from '../table';

/**
 * The key layout of the one table, in one place: every item's `pk`/`sk`, and the partitions of
 * the by-tenant index that list a tenant's records.
 */
export const key = {
  tenant: (id: string) => ({ pk: `TENANT#${id}`, sk: 'TENANT' }),
  connection: (id: string) => ({ pk: `CONNECTION#${id}`, sk: 'CONNECTION' }),
  user: (id: string) => ({ pk: `USER#${id}`, sk: 'USER' }),
  email: (tenantId: string, email: string) => ({ pk: `EMAIL#${tenantId}#${email}`, sk: 'EMAIL' }),
  link: (link: IdentityLink) => ({ pk: `LINK#${link.connectionId}#${link.subject}`, sk: 'LINK' }),
  session: (id: string) => ({ pk: `SESSION#${id}`, sk: 'SESSION' }),
  pendingLogin: (state: string) => ({ pk: `OIDCSTATE#${state}`, sk: 'OIDCSTATE' }),
  authnRequest: (connectionId: string, requestId: string) => ({ pk: `AUTHNREQUEST#${connectionId}#${requestId}`, sk: 'AUTHNREQUEST' }),
  assertion: (issuer: string, assertionId: string) => ({ pk: `ASSERTION#${issuer}#${assertionId}`, sk: 'ASSERTION' }),
  audit: (tenantId: string, day: string) => ({ pk: `AUDIT#${tenantId}#${day}` }),
  /** SCIM `userName` is unique per tenant without regard to case (RFC 7643 §4.1.1). */
  userName: (tenantId: string, userName: string) => ({ pk: `USERNAME#${tenantId}#${userName.normalize('NFC').toLowerCase()}`, sk: 'USERNAME' }),
  /** SCIM `externalId` is case-exact, unique per tenant. */
  externalId: (tenantId: string, externalId: string) => ({ pk: `EXTERNALID#${tenantId}#${externalId}`, sk: 'EXTERNALID' }),
  scimGroup: (id: string) => ({ pk: `SCIMGROUP#${id}`, sk: 'SCIMGROUP' }),
  /** A SCIM token is found by the SHA-256 of its value: the value itself is never stored. */
  scimToken: (hash: string) => ({ pk: `SCIMTOKEN#${hash}`, sk: 'SCIMTOKEN' }),
  scimTokenId: (id: string) => ({ pk: `SCIMTOKENID#${id}`, sk: 'SCIMTOKENID' }),
  /** A setup link is found by the SHA-256 of its token: the token itself is never stored. */
  setupLink: (hash: string) => ({ pk: `SETUPLINK#${hash}`, sk: 'SETUPLINK' }),
  setupLinkId: (id: string) => ({ pk: `SETUPLINKID#${id}`, sk: 'SETUPLINKID' }),
  /** A verified email domain: one key item, so one tenant at most owns it. */
  domain: (domain: string) => ({ pk: `DOMAIN#${domain}`, sk: 'DOMAIN' }),
};

export const byTenant = {
  tenants: 'TENANTS',
  connections: (tenantId: string) => `TENANT#${tenantId}#CONNECTIONS`,
  users: (tenantId: string) => `TENANT#${tenantId}#USERS`,
  links: (userId: string) => `USER#${userId}#LINKS`,
  scimGroups: (tenantId: string) => `TENANT#${tenantId}#SCIMGROUPS`,
  scimTokens: (tenantId: string) => `TENANT#${tenantId}#SCIMTOKENS`,
  domains: (tenantId: string) => `TENANT#${tenantId}#DOMAINS`,
  setupLinks: (tenantId: string) => `TENANT#${tenantId}#SETUPLINKS`,
};

/**
 * An identity link, naming its user and holding a copy of it as of this write, so that a
 * returning user's login reads one item (the copy is checked against the user at commit).
 */
export function linkItem(user: User, link: IdentityLink): Record<string, unknown> {
  return {
    ...key.link(link),
    ...link,
    userId: user.id,
    tenantId: user.tenantId,
    user,
    [TABLE_KEYS.byTenantPartitionKey]: byTenant.links(user.id),
    [TABLE_KEYS.byTenantSortKey]: `${link.connectionId}#${link.subject}`,
  };
}

export function userItem(user: User): Record<string, unknown> {
  return {
    ...key.user(user.id),
    ...user,
    [TABLE_KEYS.byTenantPartitionKey]: byTenant.users(user.tenantId),
    [TABLE_KEYS.byTenantSortKey]: user.email ?? user.id,
  };
}
