/**
 * Session tokens: compact ES256 JWTs with the claims of the contract's "Session token" section,
 * signed by a `SessionSigner` and verified offline against its JWKS.
 */

import { base64url, createLocalJWKSet, errors, jwtVerify } from 'jose';
import type { JWK, JWTPayload, JWTVerifyGetKey } from 'jose';
import { AppError } from './errors';
import type { SessionSigner } from './signing';

/** The claims of a session token (contract: "Session token"). Times are seconds since the epoch. */
export interface SessionClaims {
  iss: string;
  aud: string;
  /** The user id. */
  sub: string;
  /** The session id, revocable. */
  sid: string;
  /** The tenant id. */
  tid: string;
  email?: string;
  name?: string;
  roles: string[];
  amr: ['saml'] | ['oidc'];
  /** The connection id the user signed in through. */
  idp: string;
  iat: number;
  exp: number;
}

/** Where a verifier finds the public keys: a JWKS (as `SessionSigner.publicJwks` returns), or a jose key resolver. */
export type SessionVerificationKeys = { readonly jwks: readonly JWK[] } | JWTVerifyGetKey;

/** What a session token must satisfy besides its signature. */
export interface SessionTokenChecks {
  readonly issuer: string;
  readonly audience: string;
  /** The instant to verify at; now by default. */
  readonly currentDate?: Date;
  /** Leeway for `exp` and `nbf`, in seconds; none by default. */
  readonly clockToleranceSeconds?: number;
}

const resolvers = new WeakMap<SessionSigner, { readonly jwks: string; readonly getKey: JWTVerifyGetKey }>();

/**
 * The key resolver of a signer's public JWKS, built once per signer and container: jose's local
 * JWKS imports each key on first use and keeps it, so verifying a token imports no key. It is
 * rebuilt only when the signer publishes other keys (a rotation).
 *
 * @throws AppError of `signer.publicJwks()` (`service_unavailable` when KMS fails); a failure is not cached.
 */
export async function sessionVerificationKeys(signer: SessionSigner): Promise<JWTVerifyGetKey> {
  const jwks = await signer.publicJwks();
  const published = JSON.stringify(jwks);
  const cached = resolvers.get(signer);
  if (cached?.jwks === published) return cached.getKey;
  const getKey = createLocalJWKSet({ keys: jwks });
  resolvers.set(signer, { jwks: published, getKey });
  return getKey;
}

// Cookies hold 4 KiB; anything far larger is not ours and is refused before any parsing.
const MAX_TOKEN_LENGTH = 8192;

const encoder = new TextEncoder();

function encodeJson(value: unknown): string {
  return base64url.encode(JSON.stringify(value));
}

/**
 * Signs the claims as a compact JWS with header `{ alg: 'ES256', typ: 'JWT', kid }`.
 *
 * Guarantees: the payload holds exactly the contract's claims (`email` and `name` only when set),
 * nothing else the object may carry.
 * @throws AppError `service_unavailable` when the signer's key cannot be used.
 * @throws TypeError when `iat`/`exp` are not integers with `exp > iat` (a programming error).
 */
export async function signSessionToken(claims: SessionClaims, signer: SessionSigner): Promise<string> {
  if (!Number.isSafeInteger(claims.iat) || !Number.isSafeInteger(claims.exp) || claims.exp <= claims.iat) {
    throw new TypeError('Session claims need integer iat and exp in seconds, with exp after iat');
  }
  const payload = {
    iss: claims.iss,
    aud: claims.aud,
    sub: claims.sub,
    sid: claims.sid,
    tid: claims.tid,
    ...(claims.email === undefined ? {} : { email: claims.email }),
    ...(claims.name === undefined ? {} : { name: claims.name }),
    roles: [...claims.roles],
    amr: [...claims.amr],
    idp: claims.idp,
    iat: claims.iat,
    exp: claims.exp,
  };
  // Assembled by hand because jose's SignJWT only signs with a key it holds, and a KMS key never
  // leaves KMS; verification still goes through jose.
  const header = { alg: 'ES256', typ: 'JWT', kid: await signer.keyId() };
  const signingInput = `${encodeJson(header)}.${encodeJson(payload)}`;
  const signature = await signer.sign(encoder.encode(signingInput));
  if (signature.length !== 64) throw new TypeError('A session signer must return a 64-byte ES256 signature');
  return `${signingInput}.${base64url.encode(signature)}`;
}

function refusal(reason: string): AppError {
  return new AppError('unauthenticated', reason);
}

const MALFORMED = 'the session token is malformed';

function reasonOf(error: errors.JOSEError): string {
  switch (error.code) {
    case 'ERR_JWT_EXPIRED':
      return 'the session token has expired';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'the session token signature is invalid';
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'the session token is signed by an unknown key';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'the session token is not signed with ES256';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (!(error instanceof errors.JWTClaimValidationFailed)) return MALFORMED;
      if (error.claim === 'aud') return 'the session token is meant for another audience';
      if (error.claim === 'iss') return 'the session token comes from another issuer';
      if (error.claim === 'nbf' && error.reason === 'check_failed') return 'the session token is not valid yet';
      return MALFORMED;
    default:
      return MALFORMED;
  }
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

function isOptionalString(value: unknown): value is string | undefined {
  return value === undefined || typeof value === 'string';
}

function parseAmr(value: unknown): ['saml'] | ['oidc'] | undefined {
  if (!Array.isArray(value) || value.length !== 1) return undefined;
  if (value[0] === 'saml') return ['saml'];
  if (value[0] === 'oidc') return ['oidc'];
  return undefined;
}

function toSessionClaims(payload: JWTPayload): SessionClaims | undefined {
  const { iss, aud, sub, sid, tid, email, name, roles, amr, idp, iat, exp } = payload;
  const methods = parseAmr(amr);
  if (
    !isNonEmptyString(iss) ||
    !isNonEmptyString(aud) ||
    !isNonEmptyString(sub) ||
    !isNonEmptyString(sid) ||
    !isNonEmptyString(tid) ||
    !isNonEmptyString(idp) ||
    !isOptionalString(email) ||
    !isOptionalString(name) ||
    !Array.isArray(roles) ||
    !roles.every((role) => typeof role === 'string') ||
    methods === undefined ||
    typeof iat !== 'number' ||
    typeof exp !== 'number'
  ) {
    return undefined;
  }
  return {
    iss,
    aud,
    sub,
    sid,
    tid,
    ...(email === undefined ? {} : { email }),
    ...(name === undefined ? {} : { name }),
    roles: [...roles],
    amr: methods,
    idp,
    iat,
    exp,
  };
}

/**
 * Verifies a session token offline: an ES256 signature by a key of `keys` (matched by `kid`), the
 * `typ` JWT header, issuer, audience, `exp` (and `nbf` when present), the presence of
 * `sub`, `sid`, `tid`, `iat` and `exp`, and the shape of every contract claim. It does not know
 * about revocation; `GET /session` does.
 *
 * Guarantees: the result holds only the contract's claims, copied from a verified payload. Pass a
 * resolver from jose's `createLocalJWKSet` rather than `{ jwks }` to reuse imported keys across calls.
 * @throws AppError `unauthenticated` for any token that fails, with a detail that says why
 * (expired, invalid signature, unknown key, not ES256, another audience or issuer, not valid yet,
 * malformed) and never contains the token.
 * @throws AppError of any code that a given key resolver throws (e.g. `service_unavailable`).
 */
export async function verifySessionToken(
  token: string,
  keys: SessionVerificationKeys,
  checks: SessionTokenChecks,
): Promise<SessionClaims> {
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw refusal(MALFORMED);
  const getKey: JWTVerifyGetKey = typeof keys === 'function' ? keys : createLocalJWKSet({ keys: [...keys.jwks] });
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, getKey, {
      algorithms: ['ES256'],
      typ: 'JWT',
      issuer: checks.issuer,
      audience: checks.audience,
      requiredClaims: ['sub', 'sid', 'tid', 'iat', 'exp'],
      ...(checks.currentDate === undefined ? {} : { currentDate: checks.currentDate }),
      ...(checks.clockToleranceSeconds === undefined ? {} : { clockTolerance: checks.clockToleranceSeconds }),
    }));
  } catch (error) {
    if (error instanceof AppError) throw error;
    // No cause is attached: jose's claim errors carry the payload (email, name), which has no place in logs.
    throw refusal(error instanceof errors.JOSEError ? reasonOf(error) : 'the session token could not be verified');
  }
  const claims = toSessionClaims(payload);
  if (!claims) throw refusal(MALFORMED);
  return claims;
}
