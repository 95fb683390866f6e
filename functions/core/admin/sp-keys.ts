import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { AppError } from '../errors';
import type { SamlConnection, SpKey } from '../model';
import { signsAuthnRequests } from '../saml/service-provider';
import type { Store } from '../store/store';
import { requireConnection } from './connections';
import { requireSecret, type SecretStore } from './secrets';

/** How long a generated SP certificate is valid. IdPs check little of an SP certificate but its key; rotation is the admin's call. */
const CERTIFICATE_YEARS = 10;

/** A key as the admin CLI lists it. */
export interface SpKeyInfo extends SpKey {
  /** SHA-256 fingerprint of the certificate, `AB:CD:…`. */
  readonly fingerprint: string;
  readonly expiresAt: string;
}

/** @throws AppError `invalid_request` for an OIDC connection. */
async function samlConnection(store: Store, connectionId: string): Promise<SamlConnection> {
  const connection = await requireConnection(store, connectionId);
  if (connection.protocol !== 'saml') throw new AppError('invalid_request', `connection ${connectionId} is an OIDC connection; SP keys are for SAML ones`);
  return connection;
}

/** The connection's SP keys with their fingerprints and expiry. */
export function describeSpKeys(connection: SamlConnection): SpKeyInfo[] {
  return (connection.spKeys ?? []).map((key) => {
    const cert = new X509Certificate(key.certificate);
    return { ...key, fingerprint: cert.fingerprint256, expiresAt: new Date(cert.validTo).toISOString() };
  });
}

/**
 * A new RSA 3072 key pair (node's native generator) and a self-signed X.509 certificate for it
 * (SHA-256 with RSA, signed with node-forge), named after the connection and the key's use.
 */
export function generateSpKeyPair(connection: SamlConnection, use: SpKey['use'], now: Date): { certificate: string; privateKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 3072,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  // A positive serial of 16 random bytes (RFC 5280: at most 20 octets, non-negative).
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(Date.UTC(now.getUTCFullYear() + CERTIFICATE_YEARS, now.getUTCMonth(), now.getUTCDate()));
  const name = [{ name: 'commonName', value: `${connection.id} SP ${use}` }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', critical: true, ...(use === 'signing' ? { digitalSignature: true } : { keyEncipherment: true, dataEncipherment: true }) },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create());
  return { certificate: forge.pki.certificateToPem(cert), privateKey };
}

/**
 * Generates a key of `use` for the connection beside the ones it has (a rotation: the metadata
 * lists both, decryption tries each, signing takes the newest): the private key goes into the
 * secret store first, then the certificate and secret name onto the connection as its next
 * version; if that update fails, the new secret is removed again.
 *
 * @throws AppError `not_found`, `invalid_request` (an OIDC connection, or a concurrent change).
 */
export async function addGeneratedSpKey(store: Store, secrets: SecretStore, connectionId: string, use: SpKey['use'], now: Date): Promise<{ connection: SamlConnection; key: SpKeyInfo }> {
  const connection = await samlConnection(store, connectionId);
  const id = `${use}-${now.toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(3).toString('hex')}`;
  const { certificate, privateKey } = generateSpKeyPair(connection, use, now);
  const key: SpKey = { id, use, certificate, secretName: `sp-${connection.id}-${id}`, createdAt: now.toISOString() };
  await secrets.set(key.secretName, privateKey);
  return addKey(store, secrets, connection, key, true);
}

/**
 * Records a key the admin brings (a certificate, and a secret already holding its private key),
 * e.g. the key of the SP a customer moves from.
 *
 * @throws AppError `not_found` (the connection, or a secret that does not exist), `invalid_request`.
 */
export async function addExistingSpKey(
  store: Store,
  secrets: SecretStore,
  connectionId: string,
  input: { use: SpKey['use']; certificate: string; secretName: string },
  now: Date,
): Promise<{ connection: SamlConnection; key: SpKeyInfo }> {
  const connection = await samlConnection(store, connectionId);
  await requireSecret(secrets, input.secretName, 'the secret');
  const id = `${input.use}-${now.toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(3).toString('hex')}`;
  return addKey(store, secrets, connection, { id, ...input, createdAt: now.toISOString() }, false);
}

async function addKey(store: Store, secrets: SecretStore, connection: SamlConnection, key: SpKey, ownsSecret: boolean): Promise<{ connection: SamlConnection; key: SpKeyInfo }> {
  try {
    const updated = (await store.updateConnection({ ...connection, spKeys: [...(connection.spKeys ?? []), key] })) as SamlConnection;
    return { connection: updated, key: describeSpKeys(updated).find((k) => k.id === key.id)! };
  } catch (error) {
    if (ownsSecret) await secrets.remove(key.secretName).catch(() => undefined);
    throw error;
  }
}

const bareFingerprint = (value: string) => value.replace(/[^0-9a-f]/gi, '').toLowerCase();

/**
 * Drops one SP key, named by its id or its certificate's SHA-256 fingerprint (with or without
 * colons), from the connection, and then removes its secret. A key requests are still signed with
 * (the last signing key of a connection that signs) is refused.
 *
 * @throws AppError `not_found` (connection or key), `invalid_request`.
 */
export async function retireSpKey(store: Store, secrets: SecretStore, connectionId: string, ref: string): Promise<{ connection: SamlConnection; key: SpKeyInfo; secretRemoved: boolean }> {
  const connection = await samlConnection(store, connectionId);
  const keys = describeSpKeys(connection);
  const key = keys.find((k) => k.id === ref) ?? keys.find((k) => bareFingerprint(ref).length === 64 && bareFingerprint(k.fingerprint) === bareFingerprint(ref));
  if (!key) throw new AppError('not_found', `connection ${connectionId} has no SP key ${ref} (see npm run admin -- connections sp-keys --id ${connectionId})`);
  const remaining = (connection.spKeys ?? []).filter((k) => k.id !== key.id);
  if (key.use === 'signing' && signsAuthnRequests(connection) && !remaining.some((k) => k.use === 'signing')) {
    throw new AppError('invalid_request', `${key.id} is the last signing key and the connection signs its AuthnRequests: generate another first, or turn signing off (connections update --no-sign-authn-requests)`);
  }
  const updated = (await store.updateConnection({ ...connection, spKeys: remaining })) as SamlConnection;
  const secretRemoved = await secrets.remove(key.secretName);
  return { connection: updated, key, secretRemoved };
}
