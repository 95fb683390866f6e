/**
 * The keys that sign session tokens: a local P-256 key for `npm start` and tests, or AWS KMS keys
 * in AWS. Both sit behind one `SessionSigner`, so the token module never knows which it uses.
 */

import { createHash, createPrivateKey, createPublicKey, randomUUID, sign as signWithKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { GetPublicKeyCommand, SignCommand } from '@aws-sdk/client-kms';
import type { GetPublicKeyCommandOutput, KMSClient } from '@aws-sdk/client-kms';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { JWK } from 'jose';
import { AppError } from './errors';

/** A key that signs session tokens with ES256, and the public keys a verifier needs. */
export interface SessionSigner {
  /**
   * The `kid` of the active key: the RFC 7638 SHA-256 thumbprint of its public key, so it never
   * reveals where the key lives. Resolves to the same value for the signer's lifetime.
   * @throws AppError `service_unavailable` when the key cannot be read (KMS).
   */
  keyId(): Promise<string>;
  /**
   * Signs the JWS signing input with the active key.
   * @returns the JOSE ES256 signature: 64 bytes, r || s.
   * @throws AppError `service_unavailable` when the key cannot be used (KMS).
   */
  sign(signingInput: Uint8Array): Promise<Uint8Array>;
  /**
   * The public JWKs of every key in use, the active one first, each with `kid`, `alg: 'ES256'`
   * and `use: 'sig'`, never a private member. Each call returns fresh objects.
   * @throws AppError `service_unavailable` when a key cannot be read (KMS).
   */
  publicJwks(): Promise<JWK[]>;
}

const P256_COORDINATE_BYTES = 32;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The public JWK of a P-256 key with its thumbprint as `kid`; throws a plain Error on any other key. */
async function publishedJwk(publicKey: KeyObject): Promise<JWK> {
  const exported: unknown = publicKey.export({ format: 'jwk' });
  if (
    !isRecord(exported) ||
    exported.kty !== 'EC' ||
    exported.crv !== 'P-256' ||
    typeof exported.x !== 'string' ||
    typeof exported.y !== 'string'
  ) {
    throw new Error('Configuration error: a session signing key must be an EC P-256 key');
  }
  const jwk: JWK = { kty: 'EC', crv: 'P-256', x: exported.x, y: exported.y };
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  return { ...jwk, kid, alg: 'ES256', use: 'sig' };
}

function parsePrivateKey(privateJwk: JWK): KeyObject {
  if (privateJwk.kty !== 'EC' || privateJwk.crv !== 'P-256' || typeof privateJwk.d !== 'string') {
    throw new Error('Configuration error: the local signing key must be a private EC P-256 JWK');
  }
  return createPrivateKey({ key: { kty: 'EC', crv: 'P-256', x: privateJwk.x, y: privateJwk.y, d: privateJwk.d }, format: 'jwk' });
}

/**
 * A signer over a local private P-256 JWK, for `npm start` and tests.
 *
 * Guarantees: the published key is derived from `d`, so it always verifies what this signer signs;
 * `kid` is the RFC 7638 thumbprint of that public key.
 * @throws Error (a configuration error, not an `AppError`) when the JWK is not a private P-256 key.
 */
export function createLocalSigner(privateJwk: JWK): SessionSigner {
  const privateKey = parsePrivateKey(privateJwk);
  let published: Promise<JWK> | undefined;
  const publicJwk = (): Promise<JWK> => (published ??= publishedJwk(createPublicKey(privateKey)));
  return {
    keyId: async () => {
      const { kid } = await publicJwk();
      if (kid === undefined) throw new Error('unreachable: a published JWK always has a kid');
      return kid;
    },
    sign: async (signingInput) =>
      new Uint8Array(signWithKey('sha256', signingInput, { key: privateKey, dsaEncoding: 'ieee-p1363' })),
    publicJwks: async () => [{ ...(await publicJwk()) }],
  };
}

/**
 * Generates a fresh private P-256 JWK (with `x`, `y` and `d`), for tests and first starts.
 * Throws nothing the caller can act on.
 */
export async function generateLocalSigningKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  return exportJWK(privateKey);
}

function isErrnoException(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === code;
}

async function readSigningKeyFile(file: string): Promise<JWK> {
  const text = await readFile(file, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`Configuration error: ${file} does not hold a JSON private P-256 JWK`);
  }
  if (!isRecord(parsed)) throw new Error(`Configuration error: ${file} does not hold a JSON private P-256 JWK`);
  const jwk: JWK = parsed;
  parsePrivateKey(jwk);
  return jwk;
}

/**
 * Reads the private P-256 JWK in `file`, or, when the file does not exist, generates one and writes
 * it (mode 0o600, creating the parent directory), so local sessions survive a restart.
 *
 * Guarantees: concurrent first calls, even from several processes, all return the key on disk.
 * @throws Error (a configuration error) when the file exists but does not hold a private P-256 JWK,
 * or cannot be read or written.
 */
export async function loadOrCreateLocalSigningKey(file: string): Promise<JWK> {
  try {
    return await readSigningKeyFile(file);
  } catch (error) {
    if (!isErrnoException(error, 'ENOENT')) throw error;
  }
  const jwk = await generateLocalSigningKey();
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${randomUUID()}.tmp`;
  // The private key is written to a private temporary file and linked into place: a link never
  // replaces an existing file, so a racing process cannot leave us holding a key that is not on disk.
  await writeFile(temporary, `${JSON.stringify(jwk, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await link(temporary, file);
  } catch (error) {
    if (!isErrnoException(error, 'EEXIST')) throw error;
    return readSigningKeyFile(file);
  } finally {
    await unlink(temporary);
  }
  return jwk;
}

function signingKeyUnavailable(cause: unknown): AppError {
  return new AppError('service_unavailable', 'the signing key could not be used', { cause });
}

function readDerLength(der: Uint8Array, offset: number): { length: number; next: number } {
  const first = der[offset];
  if (first === undefined) throw new TypeError('Truncated DER ECDSA signature');
  if (first < 0x80) return { length: first, next: offset + 1 };
  const octets = first & 0x7f;
  if (octets === 0 || octets > 2) throw new TypeError('Unsupported DER length in ECDSA signature');
  let length = 0;
  for (let index = 1; index <= octets; index += 1) {
    const octet = der[offset + index];
    if (octet === undefined) throw new TypeError('Truncated DER ECDSA signature');
    length = (length << 8) | octet;
  }
  return { length, next: offset + 1 + octets };
}

function readDerInteger(der: Uint8Array, offset: number, size: number): { value: Uint8Array; next: number } {
  if (der[offset] !== 0x02) throw new TypeError('Malformed DER ECDSA signature: expected an INTEGER');
  const { length, next } = readDerLength(der, offset + 1);
  const end = next + length;
  if (length === 0 || end > der.length) throw new TypeError('Malformed DER ECDSA signature: bad INTEGER length');
  const bytes = der.subarray(next, end);
  if ((bytes[0] ?? 0) & 0x80) throw new TypeError('Malformed DER ECDSA signature: negative INTEGER');
  let start = 0;
  while (start < bytes.length && bytes[start] === 0) start += 1;
  const magnitude = bytes.subarray(start);
  if (magnitude.length === 0) throw new TypeError('Malformed DER ECDSA signature: zero INTEGER');
  if (magnitude.length > size) throw new TypeError('Malformed DER ECDSA signature: INTEGER too large');
  const value = new Uint8Array(size);
  value.set(magnitude, size - magnitude.length);
  return { value, next: end };
}

/**
 * Converts a DER `ECDSA-Sig-Value` (SEQUENCE of INTEGER r, INTEGER s, as KMS and OpenSSL produce it)
 * to the JOSE form: r || s, each left-padded with zeros to `size` bytes (32 for P-256).
 *
 * Guarantees: the result is exactly `2 * size` bytes; sign-padding zeros are dropped and short
 * integers are left-padded. Pure.
 * @throws TypeError when `der` is not exactly one well-formed signature whose r and s are positive
 * and fit in `size` bytes.
 */
export function derToJoseSignature(der: Uint8Array, size = P256_COORDINATE_BYTES): Uint8Array {
  if (der[0] !== 0x30) throw new TypeError('Malformed DER ECDSA signature: expected a SEQUENCE');
  const sequence = readDerLength(der, 1);
  if (sequence.next + sequence.length !== der.length) {
    throw new TypeError('Malformed DER ECDSA signature: bad SEQUENCE length');
  }
  const r = readDerInteger(der, sequence.next, size);
  const s = readDerInteger(der, r.next, size);
  if (s.next !== der.length) throw new TypeError('Malformed DER ECDSA signature: trailing bytes');
  const jose = new Uint8Array(2 * size);
  jose.set(r.value, 0);
  jose.set(s.value, size);
  return jose;
}

interface KmsPublicKey {
  /** The key ARN that KMS reports for the configured id (which may be an alias). */
  readonly keyArn: string;
  readonly jwk: JWK;
}

async function fetchKmsPublicKey(kms: KMSClient, keyId: string): Promise<KmsPublicKey> {
  let output: GetPublicKeyCommandOutput;
  try {
    output = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
  } catch (cause) {
    throw signingKeyUnavailable(cause);
  }
  if (!output.PublicKey || !output.KeyId) {
    throw signingKeyUnavailable(new Error('KMS GetPublicKey returned no key'));
  }
  if (
    output.KeySpec !== 'ECC_NIST_P256' ||
    output.KeyUsage !== 'SIGN_VERIFY' ||
    !output.SigningAlgorithms?.includes('ECDSA_SHA_256')
  ) {
    throw new Error(`Configuration error: the KMS key ${keyId} is not an ECC_NIST_P256 SIGN_VERIFY key`);
  }
  const publicKey = createPublicKey({ key: Buffer.from(output.PublicKey), format: 'der', type: 'spki' });
  return { keyArn: output.KeyId, jwk: await publishedJwk(publicKey) };
}

/**
 * A signer over AWS KMS keys (key ids, ARNs or aliases of ECC_NIST_P256 SIGN_VERIFY keys): the
 * first signs, all are published.
 *
 * Guarantees: each public key is fetched with `GetPublicKey` at most once per signer while it
 * succeeds (concurrent first calls share one request; a failure is retried on the next call);
 * inputs of any size are signed, as a SHA-256 digest computed here; `kid` is the key's thumbprint,
 * never its ARN; keys that resolve to the same public key are published once.
 * @throws Error (a configuration error) when `keyIds` is empty, or later when a key is not an
 * ECC_NIST_P256 signing key.
 * @throws AppError `service_unavailable` from its methods when KMS fails or refuses.
 */
export function createKmsSigner(kms: KMSClient, keyIds: readonly string[]): SessionSigner {
  const [activeKeyId] = keyIds;
  if (activeKeyId === undefined) throw new Error('Configuration error: createKmsSigner needs at least one KMS key id');
  const ids = [...keyIds];
  const cache = new Map<string, Promise<KmsPublicKey>>();

  const publicKeyOf = (keyId: string): Promise<KmsPublicKey> => {
    const cached = cache.get(keyId);
    if (cached) return cached;
    const pending = fetchKmsPublicKey(kms, keyId);
    cache.set(keyId, pending);
    pending.catch(() => {
      if (cache.get(keyId) === pending) cache.delete(keyId);
    });
    return pending;
  };

  return {
    keyId: async () => {
      const { jwk } = await publicKeyOf(activeKeyId);
      if (jwk.kid === undefined) throw new Error('unreachable: a published JWK always has a kid');
      return jwk.kid;
    },
    sign: async (signingInput) => {
      const active = await publicKeyOf(activeKeyId);
      const digest = createHash('sha256').update(signingInput).digest();
      let der: Uint8Array | undefined;
      try {
        // Signs with the ARN behind the published kid, not the configured id: an alias moved to
        // another key mid-container must not yield tokens whose kid names a different public key.
        const output = await kms.send(
          new SignCommand({ KeyId: active.keyArn, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }),
        );
        der = output.Signature;
      } catch (cause) {
        throw signingKeyUnavailable(cause);
      }
      if (!der) throw signingKeyUnavailable(new Error('KMS Sign returned no signature'));
      try {
        return derToJoseSignature(der);
      } catch (cause) {
        throw signingKeyUnavailable(cause);
      }
    },
    publicJwks: async () => {
      const keys = await Promise.all(ids.map(publicKeyOf));
      const seen = new Set<string | undefined>();
      const jwks: JWK[] = [];
      for (const { jwk } of keys) {
        if (seen.has(jwk.kid)) continue;
        seen.add(jwk.kid);
        jwks.push({ ...jwk });
      }
      return jwks;
    },
  };
}
