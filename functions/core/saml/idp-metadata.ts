import { X509Certificate } from 'node:crypto';
import { AppError } from '../errors';
import type { SamlConnection } from '../model';
import { NS, attribute, certificatePem, childElements, descendants, parseUntrustedXml, text } from './xml';

const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';

/** What a SAML connection takes from its IdP's metadata. */
export interface IdpMetadata {
  readonly entityId: string;
  readonly ssoUrl: string;
  /** PEM signing certificates. */
  readonly certificates: readonly string[];
  /** The IDPSSODescriptor's `WantAuthnRequestsSigned="true"`. */
  readonly wantAuthnRequestsSigned?: boolean;
}

/**
 * Reads an IdP's SAML metadata: its entity id, its HTTP-Redirect SSO URL, its signing
 * certificates (KeyDescriptors for signing, or without a use), and whether it wants signed AuthnRequests. With `expectedEntityId`, the entity of
 * that id (a refresh never lets the document switch the connection to another IdP); else the first.
 *
 * @throws AppError `invalid_request` naming what is missing.
 */
export function parseIdpMetadata(xml: string, expectedEntityId?: string): IdpMetadata {
  const doc = parseUntrustedXml(xml);
  // An aggregate (federation) document holds many IdPs: only the one this connection trusts counts.
  const entities = descendants(doc, MD, 'EntityDescriptor');
  const entity = expectedEntityId === undefined ? entities[0] : entities.find((e) => attribute(e, 'entityID') === expectedEntityId);
  if (expectedEntityId !== undefined && !entity) throw new AppError('invalid_request', `the metadata does not describe ${expectedEntityId}`);
  const idp = entity && childElements(entity, MD, 'IDPSSODescriptor')[0];
  if (!entity || !idp) throw new AppError('invalid_request', 'the metadata has no EntityDescriptor with an IDPSSODescriptor');
  const entityId = attribute(entity, 'entityID');
  const sso = childElements(idp, MD, 'SingleSignOnService').find((s) => attribute(s, 'Binding') === REDIRECT);
  const certificates = childElements(idp, MD, 'KeyDescriptor')
    .filter((k) => (attribute(k, 'use') ?? 'signing') === 'signing')
    .flatMap((k) => descendants(k, NS.dsig, 'X509Certificate'))
    .map((c) => text(c))
    .filter((c): c is string => c !== undefined)
    .map(certificatePem);
  if (!entityId) throw new AppError('invalid_request', 'the metadata names no entityID');
  if (!sso) throw new AppError('invalid_request', 'the IdP offers no HTTP-Redirect SingleSignOnService');
  if (certificates.length === 0) throw new AppError('invalid_request', 'the metadata has no signing certificate');
  const wantAuthnRequestsSigned = ['true', '1'].includes(attribute(idp, 'WantAuthnRequestsSigned') ?? '');
  return { entityId, ssoUrl: attribute(sso, 'Location')!, certificates: [...new Set(certificates)], ...(wantAuthnRequestsSigned ? { wantAuthnRequestsSigned } : {}) };
}

/** When a PEM certificate stops being valid. */
export function certificateExpiry(pem: string): Date {
  return new Date(new X509Certificate(pem).validTo);
}

/**
 * A connection refreshed from its IdP's metadata: certificates it did not have are added beside
 * the old ones (an overlap, so a rotation never breaks logins), the SSO URL and WantAuthnRequestsSigned
 * follow the metadata; the entity id never changes. Returns the connection unchanged when nothing is new.
 */
export function refreshFromMetadata(connection: SamlConnection, metadata: IdpMetadata): { connection: SamlConnection; added: string[] } {
  const normalize = (pem: string) => pem.replace(/\s+/g, '');
  const known = new Set(connection.idpCertificates.map(normalize));
  const added = metadata.certificates.filter((pem) => !known.has(normalize(pem)));
  if (metadata.entityId !== connection.idpEntityId) throw new AppError('invalid_request', `the metadata describes ${metadata.entityId}, not ${connection.idpEntityId}`);
  const wants = metadata.wantAuthnRequestsSigned === true;
  if (added.length === 0 && metadata.ssoUrl === connection.idpSsoUrl && wants === (connection.idpWantsAuthnRequestsSigned === true)) return { connection, added };
  const { idpWantsAuthnRequestsSigned: _previous, ...rest } = connection;
  return {
    connection: { ...rest, idpSsoUrl: metadata.ssoUrl, idpCertificates: [...connection.idpCertificates, ...added], ...(wants ? { idpWantsAuthnRequestsSigned: true } : {}) },
    added,
  };
}

/** The connection's certificates that expire within `days` of `now` (or already have). */
export function expiringCertificates(connection: SamlConnection, now: Date, days = 30): { pem: string; expiresAt: Date }[] {
  const horizon = now.getTime() + days * 24 * 60 * 60 * 1000;
  return connection.idpCertificates.map((pem) => ({ pem, expiresAt: certificateExpiry(pem) })).filter((c) => c.expiresAt.getTime() <= horizon);
}
