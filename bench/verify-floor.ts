/**
 * `npx tsx bench/verify-floor.ts [rounds]`: `verifySamlResponse` against the floor of a correct
 * check, measured in one run, interleaved round by round (the machine is shared and noisy).
 *
 * The response is the ~8 KB kind: Response and Assertion signed (RSA-SHA256, exclusive c14n), 8
 * attributes, made by local/saml-idp.ts. The floor is what any correct verifier must do: one parse,
 * the exclusive canonicalization of the signed element, its SHA-256, one RSA verify of SignedInfo
 * with a cached KeyObject; "floor + XSD" adds our libxml2 schema validation. With
 * `BASELINE=/path/to/checkout` the verifier of that checkout is measured in the same rounds
 * (its `functions/core/saml/verify-response.ts`), so before and after share the machine's mood.
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOMParser } from '@xmldom/xmldom';
import { ExclusiveCanonicalization } from 'xml-crypto';
import { validateSamlSchema } from '../functions/core/saml/schema-validator';
import { verifySamlResponse, type SamlChecks, type VerifiedAssertion } from '../functions/core/saml/verify-response';
import { issueSamlResponse } from '../local/saml-idp';

const rounds = Number(process.argv[2] ?? 7);
const key = (name: string) => readFileSync(new URL(`../test/fixtures/keys/${name}`, import.meta.url), 'utf8');
const now = new Date();
const issuer = 'https://idp.bench.example.com/saml2/metadata';
const acsUrl = 'https://sso.bench.example.com/saml/bench-connection/acs';
const audience = 'https://sso.bench.example.com/saml/bench-connection/metadata';
const signed = await issueSamlResponse({
  issuer, audience, recipient: acsUrl, nameId: 'jane.doe@bench.example.com', issueInstant: now, sign: 'both',
  signingKey: key('idp.key.pem'), signingCert: key('idp.cert.pem'),
  attributes: {
    email: ['jane.doe@bench.example.com'], firstName: ['Jane'], lastName: ['Doe'], displayName: ['Jane Doe'],
    department: ['Engineering'], employeeNumber: ['12345'], groups: ['engineering', 'sso-admins', 'everyone', 'platform-team', 'on-call', 'release-managers', 'security-champions', 'vpn-users', 'github-org-members', 'jira-users', 'confluence-editors', 'aws-readonly', 'aws-developers', 'datadog-users', 'pagerduty-responders', 'slack-workspace-admins'], locale: ['en-US'],
  },
});
const checks: SamlChecks = {
  idpEntityId: issuer, idpCertificates: [key('idp.cert.pem')], spEntityId: audience, acsUrl,
  clockSkewSeconds: 60, allowSha1: false, now, decryptionKeys: [],
};
const bytes = Buffer.from(signed, 'base64');
const xml = bytes.toString('utf8');

const publicKey = createPublicKey(key('idp.cert.pem'));
const dsig = 'http://www.w3.org/2000/09/xmldsig#';
function floor(withSchema: boolean): void {
  const doc = new DOMParser().parseFromString(xml, 'text/xml');
  if (withSchema) validateSamlSchema(bytes);
  const root = doc.documentElement as unknown as Element;
  const signature = Array.from(root.childNodes).find((n) => (n as Element).localName === 'Signature') as Element;
  const signedInfo = signature.getElementsByTagNameNS(dsig, 'SignedInfo')[0]!;
  // The enveloped-signature transform, without copying the document: detach, canonicalize, put back.
  const next = signature.nextSibling;
  root.removeChild(signature);
  const c14n = new ExclusiveCanonicalization();
  const digest = createHash('sha256').update(c14n.process(root as never, {})).digest('base64');
  root.insertBefore(signature, next);
  if (digest !== signature.getElementsByTagNameNS(dsig, 'DigestValue')[0]!.textContent) throw new Error('floor: digest mismatch');
  const value = Buffer.from(signature.getElementsByTagNameNS(dsig, 'SignatureValue')[0]!.textContent ?? '', 'base64');
  if (!verify('sha256', Buffer.from(c14n.process(signedInfo as never, {})), publicKey, value)) throw new Error('floor: bad signature');
}

type Verify = (response: string, checks: SamlChecks) => Promise<VerifiedAssertion>;
const candidates: [string, () => unknown][] = [
  ['floor (parse, exc-c14n, SHA-256, RSA verify)', () => floor(false)],
  ['floor + XSD validation', () => floor(true)],
  ['verifySamlResponse (this checkout)', () => verifySamlResponse(signed, checks)],
];
if (process.env.BASELINE) {
  const baseline = (await import(join(process.env.BASELINE, 'functions/core/saml/verify-response.ts'))) as { verifySamlResponse: Verify };
  candidates.push(['verifySamlResponse (BASELINE)', () => baseline.verifySamlResponse(signed, checks)]);
}

// Same verdict first: both verifiers accept, with the same reading.
const ours = JSON.stringify(await verifySamlResponse(signed, checks));
for (const [name, run] of candidates.slice(3)) {
  if (JSON.stringify(await run()) !== ours) throw new Error(`${name} reads the response differently`);
}

async function opsPerSecond(run: () => unknown, ms: number): Promise<{ opsPerSecond: number; p50: number }> {
  const samples: number[] = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const start = performance.now();
    await run();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  return { opsPerSecond: samples.length / (samples.reduce((a, b) => a + b, 0) / 1000), p50: samples[Math.floor(samples.length / 2)]! };
}

for (const [, run] of candidates) for (let i = 0; i < 50; i++) await run();
const results = new Map<string, { opsPerSecond: number; p50: number }[]>();
for (let round = 0; round < rounds; round++) {
  for (const [name, run] of candidates) {
    const list = results.get(name) ?? [];
    list.push(await opsPerSecond(run, 600));
    results.set(name, list);
  }
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const [floorName, floorXsdName] = [candidates[0]![0], candidates[1]![0]];
// A shared machine preempts at random: p50s, and ratios taken within a round, are what survive it.
const ratio = (name: string, to: string) => median(results.get(name)!.map((r, i) => r.p50 / results.get(to)![i]!.p50));
console.log(`${xml.length}-byte response, ${rounds} interleaved rounds of 600 ms; medians over rounds; ${new Date().toISOString()}, node ${process.version}`);
console.log(`${''.padEnd(48)} ${'ops/s'.padStart(7)} ${'(mean)'.padStart(7)}  ${'p50 ms'.padStart(7)}  ${'/floor+XSD'.padStart(10)}  ${'/floor'.padStart(7)}`);
for (const [name, list] of results) {
  const p50 = median(list.map((r) => r.p50));
  console.log(
    `${name.padEnd(48)} ${(1000 / p50).toFixed(0).padStart(7)} ${median(list.map((r) => r.opsPerSecond)).toFixed(0).padStart(7)}  ${p50.toFixed(3).padStart(7)}  ${`${ratio(name, floorXsdName).toFixed(2)}x`.padStart(10)}  ${`${ratio(name, floorName).toFixed(2)}x`.padStart(7)}`,
  );
}
if (results.has('verifySamlResponse (BASELINE)')) {
  console.log(`this checkout is ${(1 / ratio('verifySamlResponse (this checkout)', 'verifySamlResponse (BASELINE)')).toFixed(2)}x the BASELINE's speed (p50, same rounds)`);
}
