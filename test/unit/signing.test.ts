import { createHash, createPublicKey, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { calculateJwkThumbprint } from 'jose';
import type { JWK } from 'jose';
import { createInMemorySecrets, type Secrets } from '../../functions/core/secrets';
import { signSessionToken, verifySessionToken } from '../../functions/core/session-token';
import {
  createKmsSigner,
  createLocalSigner,
  createSecretSigner,
  derToJoseSignature,
  generateLocalSigningKey,
  loadOrCreateLocalSigningKey,
} from '../../functions/core/signing';

function verifiesWithJwk(jwk: JWK, data: Uint8Array, joseSignature: Uint8Array): boolean {
  const { kty, crv, x, y } = jwk;
  const key = createPublicKey({ key: { kty, crv, x, y }, format: 'jwk' });
  return verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, joseSignature);
}

describe('createLocalSigner', () => {
  it('signs so that the published JWK verifies the ES256 (r || s) signature', async () => {
    const signer = createLocalSigner(await generateLocalSigningKey());
    const data = new TextEncoder().encode('header.payload');
    const signature = await signer.sign(data);
    const [jwk] = await signer.publicJwks();
    expect(signature).toHaveLength(64);
    expect(jwk).toBeDefined();
    expect(verifiesWithJwk(jwk ?? {}, data, signature)).toBe(true);
    expect(verifiesWithJwk(jwk ?? {}, new TextEncoder().encode('header.other'), signature)).toBe(false);
  });

  it('publishes one public JWK whose kid is the RFC 7638 thumbprint, with alg ES256 and use sig', async () => {
    const privateJwk = await generateLocalSigningKey();
    const signer = createLocalSigner(privateJwk);
    const kid = await signer.keyId();
    const jwks = await signer.publicJwks();
    expect(kid).toBe(await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: privateJwk.x, y: privateJwk.y }, 'sha256'));
    expect(jwks).toEqual([{ kty: 'EC', crv: 'P-256', x: privateJwk.x, y: privateJwk.y, kid, alg: 'ES256', use: 'sig' }]);
    expect(jwks[0]).not.toHaveProperty('d');
  });

  it('refuses a key that is not a private P-256 JWK', async () => {
    const privateJwk = await generateLocalSigningKey();
    const { d: _d, ...publicOnly } = privateJwk;
    expect(() => createLocalSigner(publicOnly)).toThrow(/P-256/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
    expect(() => createLocalSigner(rsa)).toThrow(/P-256/);
  });
});

describe('loadOrCreateLocalSigningKey', () => {
  let directory: string;
  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'signing-key-'));
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('creates the key with mode 0600 in a new directory, then returns the same key after a restart', async () => {
    const file = join(directory, 'nested', '.local', 'signing-key.json');
    const created = await loadOrCreateLocalSigningKey(file);
    expect(created).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const reloaded = await loadOrCreateLocalSigningKey(file);
    expect(reloaded).toEqual(created);
    expect(await createLocalSigner(reloaded).keyId()).toBe(await createLocalSigner(created).keyId());
  });

  it('gives concurrent first calls the one key that ends up on disk', async () => {
    const file = join(directory, 'signing-key.json');
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateLocalSigningKey(file)));
    const onDisk: unknown = JSON.parse(await readFile(file, 'utf8'));
    for (const key of keys) expect(key).toEqual(onDisk);
  });

  it('refuses a file that does not hold a private P-256 JWK', async () => {
    const file = join(directory, 'signing-key.json');
    await writeFile(file, 'not json');
    await expect(loadOrCreateLocalSigningKey(file)).rejects.toThrow(/P-256/);
    await writeFile(file, JSON.stringify({ kty: 'oct', k: 'c2VjcmV0' }));
    await expect(loadOrCreateLocalSigningKey(file)).rejects.toThrow(/P-256/);
  });
});

describe('derToJoseSignature', () => {
  const curves = [
    { namedCurve: 'P-256', size: 32, rounds: 2000 },
    { namedCurve: 'P-384', size: 48, rounds: 300 },
    // P-521 signatures exceed 127 bytes, so their DER uses the long length form.
    { namedCurve: 'P-521', size: 66, rounds: 300 },
  ];

  it.each(curves)('converts node:crypto DER signatures on $namedCurve to the form ieee-p1363 verifies', ({ namedCurve, size, rounds }) => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve });
    let shortIntegers = 0;
    for (let round = 0; round < rounds; round += 1) {
      const data = randomBytes(1 + (round % 64));
      const der = sign('sha256', data, { key: privateKey, dsaEncoding: 'der' });
      const jose = derToJoseSignature(der, size);
      expect(jose).toHaveLength(2 * size);
      expect(verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, jose)).toBe(true);
      if (jose[0] === 0 || jose[size] === 0) shortIntegers += 1;
    }
    if (namedCurve === 'P-256') expect(shortIntegers).toBeGreaterThan(0);
  });

  it('left-pads short integers and drops the sign-padding zero', () => {
    const high = new Uint8Array(32).fill(0xff);
    const der = Uint8Array.from([0x30, 0x26, 0x02, 0x01, 0x01, 0x02, 0x21, 0x00, ...high]);
    const expected = new Uint8Array(64);
    expected[31] = 0x01;
    expected.set(high, 32);
    expect(derToJoseSignature(der)).toEqual(expected);
  });

  it.each([
    ['an empty input', []],
    ['another outer tag', [0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]],
    ['a wrong sequence length', [0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]],
    ['trailing bytes', [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00]],
    ['a truncated integer', [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x02, 0x01]],
    ['a missing s', [0x30, 0x03, 0x02, 0x01, 0x01]],
    ['a negative integer', [0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01]],
    ['a zero integer', [0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01]],
    ['an integer wider than the curve', [0x30, 0x25, 0x02, 0x21, 0x01, ...new Uint8Array(32), 0x02, 0x01, 0x01]],
  ])('refuses %s', (_name, bytes) => {
    expect(() => derToJoseSignature(Uint8Array.from(bytes))).toThrow(TypeError);
  });
});

interface FakeKms {
  readonly client: KMSClient;
  readonly publicKey: KeyObject;
  readonly calls: { command: string; input: Record<string, unknown> }[];
  /** Makes the next `count` calls fail as KMS throttling would. */
  failNext(count: number): void;
  /** The fake signs a digest only when it knows its preimage: it proves the signer sent SHA-256(input). */
  expectMessage(message: Uint8Array): void;
}

const KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/0b0e2f9c-7a3e-4f5e-9d6c-4b7f2a1c9e10';

/** A KMSClient whose requests are answered in its initialize step by a local key, so no request leaves the process. */
function fakeKms(): FakeKms {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const preimages = new Map<string, Uint8Array>();
  const calls: FakeKms['calls'] = [];
  let failures = 0;
  const answer = async (command: string, input: Record<string, unknown>): Promise<object> => {
    calls.push({ command, input });
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (failures > 0) {
      failures -= 1;
      throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    }
    if (command === 'GetPublicKeyCommand') {
      return {
        KeyId: KEY_ARN,
        PublicKey: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })),
        KeySpec: 'ECC_NIST_P256',
        KeyUsage: 'SIGN_VERIFY',
        SigningAlgorithms: ['ECDSA_SHA_256'],
      };
    }
    if (command === 'SignCommand') {
      if (input.KeyId !== KEY_ARN || input.MessageType !== 'DIGEST' || input.SigningAlgorithm !== 'ECDSA_SHA_256') {
        throw Object.assign(new Error('Invalid Sign request'), { name: 'ValidationException' });
      }
      const digest = input.Message;
      const message = digest instanceof Uint8Array ? preimages.get(Buffer.from(digest).toString('hex')) : undefined;
      if (!message) throw new Error('The fake KMS was asked to sign a digest it does not know');
      return { KeyId: KEY_ARN, Signature: new Uint8Array(sign('sha256', message, { key: privateKey, dsaEncoding: 'der' })) };
    }
    throw new Error(`The fake KMS does not answer ${command}`);
  };
  const client = new KMSClient({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIAFAKE', secretAccessKey: 'fake' } });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const output = { $metadata: {}, ...(await answer(context.commandName ?? '', { ...args.input })) };
      return { output, response: {} } as Awaited<ReturnType<typeof next>>;
    },
    { step: 'initialize', name: 'fakeKms' },
  );
  return {
    client,
    publicKey,
    calls,
    failNext: (count) => {
      failures = count;
    },
    expectMessage: (message) => {
      preimages.set(createHash('sha256').update(message).digest('hex'), message);
    },
  };
}

describe('createKmsSigner', () => {
  it('signs a SHA-256 digest of an input of any size with the key ARN, as ES256', async () => {
    const kms = fakeKms();
    const signer = createKmsSigner(kms.client, ['alias/session-signing']);
    const data = randomBytes(1 << 20);
    kms.expectMessage(data);
    const signature = await signer.sign(data);
    expect(signature).toHaveLength(64);
    expect(verify('sha256', data, { key: kms.publicKey, dsaEncoding: 'ieee-p1363' }, signature)).toBe(true);
    const [jwk] = await signer.publicJwks();
    expect(verifiesWithJwk(jwk ?? {}, data, signature)).toBe(true);
    expect(kms.calls.find((call) => call.command === 'SignCommand')?.input).toMatchObject({ KeyId: KEY_ARN });
  });

  it('names the key by its public key thumbprint, never by its ARN or alias', async () => {
    const kms = fakeKms();
    const signer = createKmsSigner(kms.client, [KEY_ARN]);
    const exported = kms.publicKey.export({ format: 'jwk' });
    const kid = await signer.keyId();
    expect(kid).toBe(await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: exported.x, y: exported.y }, 'sha256'));
    expect(JSON.stringify(await signer.publicJwks())).not.toContain('0b0e2f9c');
    expect(await signer.publicJwks()).toEqual([{ kty: 'EC', crv: 'P-256', x: exported.x, y: exported.y, kid, alg: 'ES256', use: 'sig' }]);
  });

  it('fetches the public key once for concurrent first calls, and publishes a key configured twice once', async () => {
    const kms = fakeKms();
    const signer = createKmsSigner(kms.client, ['alias/session-signing', KEY_ARN]);
    await Promise.all([signer.keyId(), signer.keyId(), signer.publicJwks(), signer.keyId()]);
    await signer.keyId();
    expect(kms.calls.filter((call) => call.command === 'GetPublicKeyCommand')).toHaveLength(2);
    expect(await signer.publicJwks()).toHaveLength(1);
  });

  it('turns KMS failures into service_unavailable and does not cache them', async () => {
    const kms = fakeKms();
    const signer = createKmsSigner(kms.client, [KEY_ARN]);
    kms.failNext(1);
    await expect(signer.keyId()).rejects.toMatchObject({ code: 'service_unavailable' });
    await expect(signer.keyId()).resolves.toEqual(expect.any(String));
    kms.failNext(1);
    await expect(signer.sign(new Uint8Array([1]))).rejects.toMatchObject({ code: 'service_unavailable' });
  });

  it('refuses an empty key list at creation', () => {
    expect(() => createKmsSigner(fakeKms().client, [])).toThrow(/at least one/);
  });
});

/** Secrets in memory that count their reads and fail on demand, as Secrets Manager can. */
function countingSecrets(values: Record<string, string>): Secrets & { reads: string[]; failNext: (n: number) => void } {
  const inner = createInMemorySecrets(values);
  const reads: string[] = [];
  let failures = 0;
  return {
    reads,
    failNext: (n) => {
      failures = n;
    },
    async read(name) {
      reads.push(name);
      if (failures > 0) {
        failures -= 1;
        const { AppError } = await import('../../functions/core/errors');
        throw new AppError('service_unavailable', 'a secret could not be read');
      }
      return inner.read(name);
    },
  };
}

describe('createSecretSigner', () => {
  const seed = 'r8Xk2vQ9mZ4tLw7pN3sY6bH1cF5gJ0aD8eK2uV9x'; // a Secrets Manager generated password

  it('signs in memory with a key derived from a seed secret, verifiable with the published JWK', async () => {
    const secrets = countingSecrets({ 'session-signing-key': seed });
    const signer = createSecretSigner(secrets, ['session-signing-key']);
    const data = randomBytes(4096);
    const signature = await signer.sign(data);
    await signer.sign(data);
    const [jwk, ...others] = await signer.publicJwks();
    expect(others).toEqual([]);
    expect(signature).toHaveLength(64);
    expect(verifiesWithJwk(jwk ?? {}, data, signature)).toBe(true);
    expect(jwk).toEqual({ kty: 'EC', crv: 'P-256', x: expect.any(String), y: expect.any(String), kid: await signer.keyId(), alg: 'ES256', use: 'sig' });
    expect(secrets.reads).toEqual(['session-signing-key']);
  });

  it('derives the same key from the same seed in every container, and another from another seed', async () => {
    const kidOf = (value: string) => createSecretSigner(countingSecrets({ k: value }), ['k']).keyId();
    expect(await kidOf(seed)).toBe(await kidOf(seed));
    expect(await kidOf(`${seed}x`)).not.toBe(await kidOf(seed));
  });

  it('uses a private P-256 JWK held in the secret as it is', async () => {
    const jwk = await generateLocalSigningKey();
    const signer = createSecretSigner(countingSecrets({ k: JSON.stringify(jwk) }), ['k']);
    expect(await signer.keyId()).toBe(await createLocalSigner(jwk).keyId());
  });

  it('publishes every key for rotation, the first signing, each key once', async () => {
    const next = await generateLocalSigningKey();
    const signer = createSecretSigner(countingSecrets({ next: JSON.stringify(next), current: seed, again: seed }), ['next', 'current', 'again']);
    const jwks = await signer.publicJwks();
    expect(jwks.map((jwk) => jwk.kid)).toEqual([await createLocalSigner(next).keyId(), await createSecretSigner(countingSecrets({ k: seed }), ['k']).keyId()]);
    const iat = Math.floor(Date.now() / 1000);
    const token = await signSessionToken({ iss: 'https://sso.example.test', aud: 'app', sub: 'u', sid: 's', tid: 't', roles: [], amr: ['saml'], idp: 'c', iat, exp: iat + 60 }, signer);
    const claims = await verifySessionToken(token, { jwks: [jwks[0]!] }, { issuer: 'https://sso.example.test', audience: 'app' });
    expect(claims.sub).toBe('u');
  });

  it('reads a secret once for concurrent first calls, and retries a failed read on the next call', async () => {
    const secrets = countingSecrets({ k: seed });
    const signer = createSecretSigner(secrets, ['k']);
    secrets.failNext(1);
    await expect(signer.keyId()).rejects.toMatchObject({ code: 'service_unavailable' });
    await Promise.all([signer.keyId(), signer.sign(new Uint8Array([1])), signer.publicJwks()]);
    expect(secrets.reads).toEqual(['k', 'k']);
  });

  it('refuses a secret that holds neither a private P-256 JWK nor a long enough seed', async () => {
    await expect(createSecretSigner(countingSecrets({ k: 'short-seed' }), ['k']).keyId()).rejects.toThrow(/seed shorter than 32/);
    const { d: _d, ...publicOnly } = await generateLocalSigningKey();
    await expect(createSecretSigner(countingSecrets({ k: JSON.stringify(publicOnly) }), ['k']).keyId()).rejects.toThrow(/private EC P-256 JWK/);
  });

  it('refuses an empty secret list at creation', () => {
    expect(() => createSecretSigner(countingSecrets({}), [])).toThrow(/at least one/);
  });
});
