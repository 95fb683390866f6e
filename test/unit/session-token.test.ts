import { createPublicKey } from 'node:crypto';
import { base64url, createLocalJWKSet, decodeProtectedHeader, importJWK, SignJWT } from 'jose';
import type { JWK, JWTPayload } from 'jose';
import { AppError } from '../../functions/core/errors';
import { signSessionToken, verifySessionToken } from '../../functions/core/session-token';
import type { SessionClaims } from '../../functions/core/session-token';
import { createLocalSigner, generateLocalSigningKey } from '../../functions/core/signing';
import type { SessionSigner } from '../../functions/core/signing';

const ISSUER = 'https://sso.example.test';
const AUDIENCE = 'https://app.example.test';
const IAT = 1_700_000_000;

const claims: SessionClaims = {
  iss: ISSUER,
  aud: AUDIENCE,
  sub: 'usr_01HZX3',
  sid: 'ses_01HZX4',
  tid: 'ten_acme',
  email: 'ada@acme.example',
  name: 'Ada Lovelace',
  roles: ['member'],
  amr: ['saml'],
  idp: 'con_okta',
  iat: IAT,
  exp: IAT + 3600,
};

const checks = { issuer: ISSUER, audience: AUDIENCE, currentDate: new Date((IAT + 60) * 1000) };

let privateJwk: JWK;
let signer: SessionSigner;
let jwks: JWK[];
let kid: string;

beforeAll(async () => {
  privateJwk = await generateLocalSigningKey();
  signer = createLocalSigner(privateJwk);
  jwks = await signer.publicJwks();
  kid = await signer.keyId();
});

/** Signs any header and payload with the test's own key, for tokens the service would never mint. */
async function signWithTestKey(payload: JWTPayload, header: { alg: string; typ?: string; kid?: string } = { alg: 'ES256', typ: 'JWT', kid }): Promise<string> {
  return new SignJWT(payload).setProtectedHeader(header).sign(await importJWK(privateJwk, 'ES256'));
}

function segments(token: string): [string, string, string] {
  const [header = '', payload = '', signature = ''] = token.split('.');
  return [header, payload, signature];
}

function decodePayload(token: string): Record<string, unknown> {
  return JSON.parse(new TextDecoder().decode(base64url.decode(segments(token)[1])));
}

async function refusal(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof AppError)) throw new Error('expected an AppError');
  return error;
}

describe('signSessionToken and verifySessionToken', () => {
  it('round-trips the claims through a compact ES256 JWS', async () => {
    const token = await signSessionToken(claims, signer);
    expect(token.split('.')).toHaveLength(3);
    await expect(verifySessionToken(token, { jwks }, checks)).resolves.toEqual(claims);
  });

  it('puts alg ES256, typ JWT and the signer kid in the header, and the kid is in the JWKS', async () => {
    const token = await signSessionToken(claims, signer);
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES256', typ: 'JWT', kid });
    expect(jwks.map((jwk) => jwk.kid)).toContain(kid);
  });

  it('verifies with a jose key resolver as well as with a JWKS', async () => {
    const token = await signSessionToken(claims, signer);
    await expect(verifySessionToken(token, createLocalJWKSet({ keys: jwks }), checks)).resolves.toEqual(claims);
  });

  it('verifies a token of a key that is still published after a rotation', async () => {
    const oldToken = await signSessionToken(claims, signer);
    const rotated = await createLocalSigner(await generateLocalSigningKey()).publicJwks();
    await expect(verifySessionToken(oldToken, { jwks: [...rotated, ...jwks] }, checks)).resolves.toEqual(claims);
  });

  it('signs only the contract claims, and omits email and name when absent', async () => {
    const { email: _email, name: _name, ...rest } = claims;
    const withExtra = { ...rest, password: 'hunter2' };
    const token = await signSessionToken(withExtra, signer);
    expect(Object.keys(decodePayload(token)).sort()).toEqual(['amr', 'aud', 'exp', 'iat', 'idp', 'iss', 'roles', 'sid', 'sub', 'tid']);
    await expect(verifySessionToken(token, { jwks }, checks)).resolves.toEqual(rest);
  });

  it('accepts an expired token within the clock tolerance', async () => {
    const token = await signSessionToken(claims, signer);
    const justAfter = { ...checks, currentDate: new Date((claims.exp + 5) * 1000), clockToleranceSeconds: 30 };
    await expect(verifySessionToken(token, { jwks }, justAfter)).resolves.toEqual(claims);
  });
});

describe('verifySessionToken refuses', () => {
  it('a token whose payload was changed', async () => {
    const [header, , signature] = segments(await signSessionToken(claims, signer));
    const forged = base64url.encode(JSON.stringify({ ...claims, roles: ['admin'] }));
    await expect(verifySessionToken(`${header}.${forged}.${signature}`, { jwks }, checks)).rejects.toMatchObject({ code: 'unauthenticated' });
  });

  it('a token whose signature was changed', async () => {
    const [header, payload, signature] = segments(await signSessionToken(claims, signer));
    const bytes = base64url.decode(signature);
    bytes[10] = (bytes[10] ?? 0) ^ 0x01;
    const token = `${header}.${payload}.${base64url.encode(bytes)}`;
    await expect(verifySessionToken(token, { jwks }, checks)).rejects.toMatchObject({ code: 'unauthenticated' });
  });

  it('an expired token', async () => {
    const token = await signSessionToken(claims, signer);
    const later = { ...checks, currentDate: new Date((claims.exp + 1) * 1000) };
    await expect(verifySessionToken(token, { jwks }, later)).rejects.toMatchObject({ code: 'unauthenticated' });
  });

  it('a token meant for another audience', async () => {
    const token = await signSessionToken({ ...claims, aud: 'https://other.example.test' }, signer);
    await expect(verifySessionToken(token, { jwks }, checks)).rejects.toMatchObject({ code: 'unauthenticated' });
  });

  it('a token from another issuer', async () => {
    const token = await signSessionToken({ ...claims, iss: 'https://evil.example.test' }, signer);
    await expect(verifySessionToken(token, { jwks }, checks)).rejects.toMatchObject({ code: 'unauthenticated' });
  });

  it('an unsigned alg none token', async () => {
    const [, payload] = segments(await signSessionToken(claims, signer));
    const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT', kid }));
    await expect(verifySessionToken(`${header}.${payload}.`, { jwks }, checks)).rejects.toMatchObject({ code: 'unauthenticated' });
  });

  it('an HS256 token whose secret is the public key', async () => {
    const [jwk] = jwks;
    const { kty, crv, x, y } = jwk ?? {};
    const publicKey = createPublicKey({ key: { kty, crv, x, y }, format: 'jwk' });
    for (const secret of [
      new TextEncoder().encode(JSON.stringify(jwk)),
      new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })),
      new TextEncoder().encode(publicKey.export({ format: 'pem', type: 'spki' }).toString()),
    ]) {
      const token = await new SignJWT({ ...claims }).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid }).sign(secret);
      await expect(verifySessionToken(token, { jwks }, checks)).rejects.toMatchObject({ code: 'unauthenticated' });
    }
  });

  it('a token signed by another key that claims the same kid', async () => {
    const impostor = createLocalSigner(await generateLocalSigningKey());
    const token = await signSessionToken(claims, { keyId: () => signer.keyId(), sign: impostor.sign, publicJwks: impostor.publicJwks });
    expect(decodeProtectedHeader(token).kid).toBe(kid);
    await expect(verifySessionToken(token, { jwks }, checks)).rejects.toMatchObject({ code: 'unauthenticated' });
  });

  it('a token signed by a key that is not published', async () => {
    const token = await signSessionToken(claims, createLocalSigner(await generateLocalSigningKey()));
    await expect(verifySessionToken(token, { jwks }, checks)).rejects.toMatchObject({ code: 'unauthenticated' });
  });

  it.each(['sid', 'sub', 'tid', 'iat', 'exp'] as const)('a validly signed token without %s', async (claim) => {
    const { [claim]: _omitted, ...rest } = claims;
    const token = await signWithTestKey(rest);
    await expect(verifySessionToken(token, { jwks }, checks)).rejects.toMatchObject({ code: 'unauthenticated' });
  });

  it.each([
    ['amr is not saml or oidc', { amr: ['pwd'] }],
    ['amr holds two methods', { amr: ['saml', 'oidc'] }],
    ['roles is not a list of strings', { roles: 'admin' }],
    ['idp is missing', { idp: undefined }],
    ['email is not a string', { email: 42 }],
    ['aud is a list', { aud: [AUDIENCE, 'https://other.example.test'] }],
  ])('a validly signed token whose %s', async (_name, change) => {
    const token = await signWithTestKey({ ...claims, ...change });
    await expect(verifySessionToken(token, { jwks }, checks)).rejects.toMatchObject({ code: 'unauthenticated' });
  });

  it('a validly signed token without the JWT typ', async () => {
    const token = await signWithTestKey({ ...claims }, { alg: 'ES256', kid });
    await expect(verifySessionToken(token, { jwks }, checks)).rejects.toMatchObject({ code: 'unauthenticated' });
  });

  it.each([
    ['an empty string', ''],
    ['garbage', 'not-a-token'],
    ['an oversized token', `${'a'.repeat(10_000)}.b.c`],
  ])('%s', async (_name, token) => {
    await expect(verifySessionToken(token, { jwks }, checks)).rejects.toMatchObject({ code: 'unauthenticated' });
  });
});

describe('verifySessionToken refusal details', () => {
  it('tell expired, bad signature, other audience and malformed apart, and never contain the token', async () => {
    const token = await signSessionToken(claims, signer);
    const [header, payload, signature] = segments(token);
    const otherAudience = await signSessionToken({ ...claims, aud: 'https://other.example.test' }, signer);
    const badSignature = `${header}.${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
    const refusals = [
      await refusal(verifySessionToken(token, { jwks }, { ...checks, currentDate: new Date((claims.exp + 1) * 1000) })),
      await refusal(verifySessionToken(badSignature, { jwks }, checks)),
      await refusal(verifySessionToken(otherAudience, { jwks }, checks)),
      await refusal(verifySessionToken(await signWithTestKey({ ...claims, sid: undefined }), { jwks }, checks)),
    ];
    expect(new Set(refusals.map((error) => error.detail)).size).toBe(refusals.length);
    for (const error of refusals) {
      expect(error.code).toBe('unauthenticated');
      expect(`${error.message} ${error.detail ?? ''}`).not.toContain(signature);
      expect(`${error.message} ${error.detail ?? ''}`).not.toContain(payload);
      expect(error.cause).toBeUndefined();
    }
  });

  it('let a key resolver report its own unavailability', async () => {
    const token = await signSessionToken(claims, signer);
    const unavailable = async (): Promise<never> => {
      throw new AppError('service_unavailable', 'the signing key could not be used');
    };
    await expect(verifySessionToken(token, unavailable, checks)).rejects.toMatchObject({ code: 'service_unavailable' });
  });
});
