/**
 * `npm run bench`: what a login costs on this machine, measured in one run so ratios are
 * comparable on a shared, noisy machine. Prints figures; asserts nothing.
 */
import { readFileSync } from 'node:fs';
import { validateSamlSchema } from '../functions/core/saml/schema-validator';
import { verifySamlResponse } from '../functions/core/saml/verify-response';
import { signSessionToken, verifySessionToken } from '../functions/core/session-token';
import { createLocalSigner, generateLocalSigningKey } from '../functions/core/signing';
import { issueSamlResponse } from '../local/saml-idp';

async function measure(name: string, iterations: number, run: () => unknown): Promise<number> {
  for (let i = 0; i < Math.min(20, iterations); i++) await run();
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await run();
  const perOp = Number(process.hrtime.bigint() - start) / 1e6 / iterations;
  console.log(`${name.padEnd(58)} ${perOp.toFixed(3).padStart(9)} ms/op  (${iterations} runs)`);
  return perOp;
}

const key = (name: string) => readFileSync(new URL(`../test/fixtures/keys/${name}`, import.meta.url), 'utf8');
const now = new Date();
const options = {
  issuer: 'https://idp.bench', audience: 'https://sp.bench/metadata', recipient: 'https://sp.bench/acs', nameId: 'bench@example.test',
  issueInstant: now, signingKey: key('idp.key.pem'), signingCert: key('idp.cert.pem'), attributes: { email: ['bench@example.test'], groups: ['a', 'b'] },
};
const checks = {
  idpEntityId: options.issuer, idpCertificates: [options.signingCert], spEntityId: options.audience, acsUrl: options.recipient,
  clockSkewSeconds: 60, allowSha1: false, now, decryptionKeys: [key('sp-encryption.key.pem')],
};

const signed = await issueSamlResponse({ ...options, sign: 'both' });
const compileStart = performance.now();
validateSamlSchema(Buffer.from(signed, 'base64').toString('utf8'));
console.log(`${'schema compile + first validation (once per container)'.padEnd(58)} ${(performance.now() - compileStart).toFixed(3).padStart(9)} ms`);

const xml = Buffer.from(signed, 'base64').toString('utf8');
const schema = await measure(`XSD validation of a ${xml.length}-byte response`, 2000, () => validateSamlSchema(xml));
const verify = await measure('verifySamlResponse, response and assertion signed', 500, () => verifySamlResponse(signed, checks));
const encrypted = await issueSamlResponse({ ...options, encryptFor: key('sp-encryption.cert.pem') });
await measure('verifySamlResponse, encrypted signed assertion', 300, () => verifySamlResponse(encrypted, checks));
const okta = readFileSync(new URL('../../shared/interop/saml/okta.response.b64', import.meta.url), 'utf8');
await measure('verifySamlResponse, real Okta response (interop corpus)', 300, () =>
  verifySamlResponse(okta, {
    idpEntityId: 'http://www.okta.com/exk659aytfMeNI49v0h7', idpCertificates: [readFileSync(new URL('../../shared/interop/saml/okta.idp-cert.pem', import.meta.url), 'utf8')],
    spEntityId: '"123"', acsUrl: 'http://localhost:8080/v1/_saml_callback', clockSkewSeconds: 60, allowSha1: false, decryptionKeys: [], now: new Date('2016-07-25T23:20:15.859Z'),
  }),
);
console.log(`${'schema validation share of a verification'.padEnd(58)} ${((schema / verify) * 100).toFixed(1).padStart(9)} %`);

const signer = createLocalSigner(await generateLocalSigningKey());
const claims = { iss: 'https://sso', aud: 'https://app', sub: 'u', sid: 's', tid: 't', roles: ['member'], amr: ['saml'] as ['saml'], idp: 'c', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 3600 };
const token = await signSessionToken(claims, signer);
const jwks = { jwks: await signer.publicJwks() };
await measure('session token: sign (local P-256 key)', 2000, () => signSessionToken(claims, signer));
await measure('session token: verify against the JWKS', 2000, () => verifySessionToken(token, jwks, { issuer: 'https://sso', audience: 'https://app' }));
console.log(`heap used after the run: ${(process.memoryUsage().heapUsed / 1024 / 1024).toFixed(1)} MiB, rss ${(process.memoryUsage().rss / 1024 / 1024).toFixed(1)} MiB`);
