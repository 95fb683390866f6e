import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { audit } from '../audit';
import { AppError } from '../errors';
import type { Connection, OidcConnection, SamlConnection, SetupLink, SetupProtocol } from '../model';
import type { Runtime } from '../runtime';
import type { Store } from '../store/store';
import { discoverIssuer, newOidcConnection, newSamlConnection, resolveIdp, type IdpSource } from './connections';
import type { SecretStore } from './secrets';
import { parseReturnTarget } from './policy';
import { refreshFromMetadata } from '../saml/idp-metadata';
import { auditSetupUse, openSetupLinkByHash, setupConnection, setupOidcConnection, setupTokenHash } from '../setup-tests';

export { auditSetupUse, openSetupLinkByHash, openSetupTest, recordSetupTest, setupConnection, setupOidcConnection, setupTokenHash } from '../setup-tests';

/** A link as an admin sees it: never its token or hash. */
export interface SetupLinkInfo {
  readonly id: string;
  readonly tenantId: string;
  readonly protocol: SetupProtocol;
  readonly connectionId?: string;
  readonly createdAt: string;
  readonly validUntil: string;
  readonly status: 'active' | 'expired' | 'revoked';
  readonly activatedAt?: string;
}

export const setupLinkInfo = (link: SetupLink, now: Date): SetupLinkInfo => ({
  id: link.id,
  tenantId: link.tenantId,
  protocol: link.protocol,
  ...(link.connectionId ? { connectionId: link.connectionId } : {}),
  createdAt: link.createdAt,
  validUntil: link.validUntil,
  status: link.revokedAt ? 'revoked' : Date.parse(link.validUntil) <= now.getTime() ? 'expired' : 'active',
  ...(link.activatedAt ? { activatedAt: link.activatedAt } : {}),
});

const UNITS: Readonly<Record<string, number>> = { m: 60, h: 3600, d: 86400 };
/** A link lives at most this long: it is a credential, however convenient a longer one would be. */
const MAX_LIFETIME_SECONDS = 30 * 86400;

/**
 * A link lifetime such as `30m`, `12h` or `7d`, in seconds (at most 30 days).
 * @throws AppError `invalid_request`.
 */
export function parseLifetime(text: string): number {
  const match = /^(\d{1,4})([mhd])$/.exec(text.trim());
  const seconds = match ? Number(match[1]) * UNITS[match[2]!]! : NaN;
  if (!(seconds > 0) || seconds > MAX_LIFETIME_SECONDS) throw new AppError('invalid_request', `--expires "${text}" must be a number of minutes, hours or days (30m, 12h, 7d), at most 30d`);
  return seconds;
}

/** @throws AppError `invalid_request`. */
export function parseSetupProtocol(text: string): SetupProtocol {
  if (text === 'saml' || text === 'oidc' || text === 'scim') return text;
  throw new AppError('invalid_request', `--protocol "${text}" must be saml, oidc or scim`);
}

/**
 * Makes a setup link for one tenant: a 256-bit random token, of which only the SHA-256 is stored,
 * so the URL exists only in this answer. A SAML or OIDC link names, from now on, the one
 * connection it may create and configure, and the return targets that connection will allow
 * (`returnTo`, by default the application the sessions are for).
 *
 * @throws AppError `not_found` (no such tenant), `invalid_request` (a return target), `service_unavailable`.
 */
export async function createSetupLink(
  runtime: Pick<Runtime, 'store' | 'config'>,
  input: { tenantId: string; protocol: SetupProtocol; lifetimeSeconds: number; now: Date; returnTo?: readonly string[] },
): Promise<SetupLinkInfo & { url: string; token: string }> {
  const fallback = /^https?:\/\//.test(runtime.config.sessionAudience) ? [runtime.config.sessionAudience] : [];
  const returnToAllowlist = (input.returnTo?.length ? input.returnTo : fallback).map((target) => parseReturnTarget(target, '--return-to'));
  if (!(await runtime.store.getTenant(input.tenantId))) throw new AppError('not_found', `there is no tenant ${input.tenantId}`);
  const token = randomBytes(32).toString('base64url');
  const id = randomUUID();
  const link: SetupLink = {
    id,
    tenantId: input.tenantId,
    protocol: input.protocol,
    hash: setupTokenHash(token),
    ...(input.protocol === 'scim' ? {} : { connectionId: `${input.tenantId.slice(0, 40)}-${input.protocol}-${id.slice(0, 8)}` }),
    createdAt: input.now.toISOString(),
    validUntil: new Date(input.now.getTime() + input.lifetimeSeconds * 1000).toISOString(),
    ...(input.protocol === 'scim' ? {} : { returnToAllowlist }),
  };
  await runtime.store.putSetupLink(link);
  return { ...setupLinkInfo(link, input.now), url: `${runtime.config.publicBaseUrl}/setup/${token}`, token };
}

/** The tenant's links, without their tokens. @throws AppError `not_found`. */
export async function listSetupLinks(store: Store, tenantId: string, now: Date): Promise<SetupLinkInfo[]> {
  if (!(await store.getTenant(tenantId))) throw new AppError('not_found', `there is no tenant ${tenantId}`);
  return (await store.listSetupLinks(tenantId)).map((link) => setupLinkInfo(link, now));
}

/** Revokes a link at once: its next request is refused. @throws AppError `not_found`. */
export async function revokeSetupLink(store: Store, id: string, now: Date): Promise<SetupLinkInfo> {
  const revoked = await store.revokeSetupLink(id, now);
  if (!revoked) throw new AppError('not_found', `there is no setup link ${id}`);
  return setupLinkInfo(revoked, now);
}

/**
 * The link a token opens, looked up by the token's hash, so a revoked or expired link is
 * refused at its next request.
 *
 * @throws AppError `setup_link_unknown`, `setup_link_revoked`, `setup_link_expired`.
 */
export async function openSetupLink(store: Store, token: string, now: Date): Promise<SetupLink> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(token)) throw new AppError('setup_link_unknown', 'this setup link does not exist; ask for a new one');
  return openSetupLinkByHash(store, setupTokenHash(token), now);
}

/**
 * A form token bound to one link: `nonce.mac`, where the mac is the SHA-256 of the nonce and the
 * link's hash. The page sets it as a SameSite=Strict cookie scoped to the link's path and puts
 * it in each form; a POST must carry both, equal, and made for this link.
 */
export function newCsrfToken(link: SetupLink): string {
  const nonce = randomBytes(24).toString('base64url');
  return `${nonce}.${csrfMac(nonce, link)}`;
}

const csrfMac = (nonce: string, link: SetupLink) => createHash('sha256').update(`setup-csrf:${nonce}:${link.hash}`).digest('base64url');

/** Whether a form token is one made for this link. */
export function isCsrfTokenOf(link: SetupLink, token: string | undefined): boolean {
  const [nonce, mac, extra] = (token ?? '').split('.');
  if (!nonce || !mac || extra !== undefined) return false;
  const expected = Buffer.from(csrfMac(nonce, link));
  const given = Buffer.from(mac);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/**
 * Checks a POST of a setup page: the form's token equals the cookie's and was made for this link.
 * @throws AppError `csrf_mismatch`.
 */
export function checkCsrf(link: SetupLink, formToken: string | undefined, cookieToken: string | undefined): void {
  if (!formToken || formToken !== cookieToken || !isCsrfTokenOf(link, formToken)) {
    throw new AppError('csrf_mismatch', 'this form did not come from this setup page; reload the page and send it again');
  }
}

/**
 * A blank SAML connection of the link, not stored: the values to paste into the IdP (entity id,
 * ACS URL) before the IdP's metadata is known.
 */
export function plannedSamlConnection(link: SetupLink): SamlConnection {
  return newSamlConnection({ id: link.connectionId!, tenantId: link.tenantId, enabled: false, idp: { entityId: 'urn:pending', ssoUrl: 'https://pending.invalid/', certificates: [] } });
}

/**
 * Saves the IdP's metadata (pasted, uploaded or at an https URL) as the link's SAML connection,
 * parsed and checked by the same `resolveIdp` as `connections add-saml` and `apply`. A new
 * connection is created disabled; an existing one keeps its enabled state and takes the new
 * IdP settings. Either way its last test no longer counts.
 *
 * @throws AppError `invalid_request` (metadata or URL), `service_unavailable` (URL unreadable),
 *   `setup_link_forbidden`, `setup_link_revoked`.
 */
export async function saveSetupSamlIdp(runtime: Runtime, link: SetupLink, source: IdpSource, fetchImpl: typeof fetch = fetch): Promise<SamlConnection> {
  const current = await setupConnection(runtime.store, link);
  const { idp, metadataUrl } = await resolveIdp(source, fetchImpl);
  const fresh = newSamlConnection({ id: link.connectionId!, tenantId: link.tenantId, enabled: false, idp, ...(metadataUrl ? { metadataUrl } : {}) });
  // Before activation the IdP settings are replaced whole (the admin may have picked another
  // IdP); once active, only as a metadata refresh would (same entity id, certificates overlap).
  const next: SamlConnection = !current
    ? { ...fresh, displayName: `Self-serve setup${link.idp ? ` (${link.idp})` : ''}`, returnToAllowlist: [...(link.returnToAllowlist ?? [])] }
    : current.enabled
      ? { ...refreshFromMetadata(current, idp).connection, ...(metadataUrl ? { metadataUrl } : {}) }
      : { ...current, idpEntityId: fresh.idpEntityId, idpSsoUrl: fresh.idpSsoUrl, idpCertificates: fresh.idpCertificates, idpWantsAuthnRequestsSigned: fresh.idpWantsAuthnRequestsSigned, metadataUrl: fresh.metadataUrl };
  await runtime.store.updateSetupLink(link.hash, { test: null });
  await runtime.store.putConnection(next);
  await auditSetupUse(runtime, link, current ? 'saml.updated' : 'saml.created', { idpEntityId: idp.entityId });
  return next;
}

/**
 * The link's connection, SAML or OIDC as the link's protocol, as stored if it exists yet; refused
 * as {@link setupConnection} and {@link setupOidcConnection} refuse.
 *
 * @throws AppError `setup_link_forbidden` (a SCIM link, or a connection not the link's).
 */
export async function setupLinkConnection(store: Store, link: SetupLink): Promise<Connection | undefined> {
  return link.protocol === 'oidc' ? setupOidcConnection(store, link) : setupConnection(store, link);
}

/**
 * Turns the link's connection (SAML or OIDC) on, once a test login through it has passed since
 * its IdP settings last changed. Published as `connection.activated`, naming the link.
 *
 * @throws AppError `setup_not_tested`, `setup_link_forbidden`, `setup_link_revoked`.
 */
export async function activateSetupConnection(runtime: Runtime, link: SetupLink): Promise<Connection> {
  const connection = await setupLinkConnection(runtime.store, link);
  if (!connection) throw new AppError('setup_not_tested', 'give the identity provider\u2019s settings and test the connection first');
  if (!link.test || link.test.outcome === 'refused') throw new AppError('setup_not_tested', 'the connection has no passed test login since its settings last changed; test it first');
  const at = runtime.clock().toISOString();
  await runtime.store.updateSetupLink(link.hash, { activatedAt: at });
  const enabled = { ...connection, enabled: true };
  await runtime.store.putConnection(enabled);
  await auditSetupUse(runtime, link, 'connection.activated');
  await audit(runtime, { tenantId: link.tenantId, type: 'connection.activated', at, connectionId: connection.id, detail: { setupLinkId: link.id } });
  return enabled;
}

/** The name under which a setup link's OIDC client secret is stored. */
export const setupClientSecretName = (connectionId: string) => `setup/${connectionId}/client-secret`;

/**
 * Saves an OIDC provider as the link's connection, checked as `connections add-oidc` checks one
 * (the issuer's discovery document, its authentication methods and algorithms). The client
 * secret goes to the secret store only, under a name of this connection; it is never shown
 * again, and an empty secret on a later save keeps the stored one. The connection is disabled.
 *
 * @throws AppError `invalid_request` (issuer, client id or secret), `service_unavailable`,
 *   `setup_link_forbidden`, `setup_link_revoked`.
 */
export async function saveSetupOidc(
  runtime: Runtime,
  link: SetupLink,
  input: { issuer: string; clientId: string; clientSecret: string },
  secrets: SecretStore,
  fetchImpl: typeof fetch = fetch,
): Promise<OidcConnection> {
  const current = await setupOidcConnection(runtime.store, link);
  if (input.clientId.trim() === '') throw new AppError('invalid_request', 'the client id must not be empty');
  if (!current && input.clientSecret === '') throw new AppError('invalid_request', 'the client secret must not be empty');
  const discovered = await discoverIssuer(input.issuer.trim(), fetchImpl);
  const clientSecretName = setupClientSecretName(link.connectionId!);
  const fresh = newOidcConnection({ id: link.connectionId!, tenantId: link.tenantId, enabled: false, discovered, clientId: input.clientId.trim(), clientSecretName });
  const next: OidcConnection = current
    ? { ...current, issuer: fresh.issuer, clientId: fresh.clientId, clientSecretName, ...(fresh.idTokenSigningAlgorithms ? { idTokenSigningAlgorithms: fresh.idTokenSigningAlgorithms } : {}) }
    : { ...fresh, displayName: `Self-serve setup${link.idp ? ` (${link.idp})` : ''}`, returnToAllowlist: [...(link.returnToAllowlist ?? [])] };
  await runtime.store.updateSetupLink(link.hash, { test: null });
  if (input.clientSecret !== '') {
    await secrets.set(clientSecretName, input.clientSecret).catch((error: unknown) => {
      throw new AppError('service_unavailable', 'the client secret could not be stored; nothing was saved, try again', { cause: error });
    });
  }
  await runtime.store.putConnection(next);
  await auditSetupUse(runtime, link, current ? 'oidc.updated' : 'oidc.created', { issuer: next.issuer, ...(input.clientSecret !== '' ? { clientSecretSet: true } : {}) });
  return next;
}
