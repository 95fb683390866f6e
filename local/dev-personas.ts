import { randomUUID } from 'node:crypto';
import type { AttributeMapping, RolePolicy } from '../functions/core/model';
import { DEFAULT_ATTRIBUTE_MAPPING } from '../functions/core/provisioning';
import type { Store } from '../functions/core/store/store';

/**
 * The people the development IdPs of `npm start` offer, one for each outcome a newcomer should
 * see: an admin, a member, someone outside the allowed domain, someone without an email, and
 * someone the admin deactivated. For local use only.
 */
export interface DevPersona {
  /** The SAML NameID's local part and the OIDC `sub`. */
  readonly id: string;
  readonly email?: string;
  readonly givenName: string;
  readonly familyName: string;
  readonly groups: readonly string[];
  /** What signing in as this persona shows. */
  readonly role: string;
}

/** The email domain the demo tenant owns (home-realm discovery) and allows. */
export const DEMO_DOMAIN = 'demo.example';

export const DEV_PERSONAS: readonly DevPersona[] = [
  { id: 'ada', email: `ada@${DEMO_DOMAIN}`, givenName: 'Ada', familyName: 'Lovelace', groups: ['demo-admins'], role: 'admin: the group demo-admins maps to the role admin' },
  { id: 'grace', email: `grace@${DEMO_DOMAIN}`, givenName: 'Grace', familyName: 'Hopper', groups: ['engineering'], role: 'member: no mapped group, so the default role' },
  { id: 'mallory', email: 'mallory@outside.example', givenName: 'Mallory', familyName: 'Outsider', groups: ['engineering'], role: 'outside the allowed domain: refused (domain_not_allowed)' },
  { id: 'nobody', givenName: 'Noah', familyName: 'Email', groups: [], role: 'sends no email: refused (missing_required_attribute)' },
  { id: 'dee', email: `dee@${DEMO_DOMAIN}`, givenName: 'Dee', familyName: 'Activated', groups: ['engineering'], role: 'deactivated by the admin: refused (user_deactivated)' },
];

/** The demo connections' policy: the personas' domain only, email required, linking between the two IdPs, an admin group. */
export const DEMO_POLICY: { attributeMapping: AttributeMapping; roles: RolePolicy; allowedEmailDomains: string[]; linkByEmail: boolean } = {
  attributeMapping: { ...DEFAULT_ATTRIBUTE_MAPPING, required: ['email'] },
  roles: { defaults: ['member'], groupRoles: { 'demo-admins': ['admin'] } },
  allowedEmailDomains: [DEMO_DOMAIN],
  // Both development IdPs vouch for the same people, so Ada through SAML and then OIDC is one user.
  linkByEmail: true,
};

/**
 * Seeds what the personas need, leaving what exists: the tenant's claim on the personas' domain
 * with its default connection for discovery, and the deactivated persona as an admin would leave it.
 */
export async function seedDemoPersonas(store: Store, options: { tenantId: string; defaultConnectionId: string; now: Date }): Promise<void> {
  const { tenantId, now } = options;
  await store.claimDomain({ domain: DEMO_DOMAIN, tenantId, claimedAt: now.toISOString() });
  await store.setDefaultConnection(tenantId, options.defaultConnectionId);
  const dee = DEV_PERSONAS.find((p) => p.id === 'dee')!;
  if (await store.findUserByEmail(tenantId, dee.email!)) return;
  const at = now.toISOString();
  const user = await store.createUser({ id: randomUUID(), tenantId, email: dee.email!, name: `${dee.givenName} ${dee.familyName}`, roles: ['member'], attributes: {}, status: 'active', createdAt: at, updatedAt: at }, undefined);
  await store.deactivateUser(user.id, now);
}
