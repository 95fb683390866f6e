import { randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DOMParser } from '@xmldom/xmldom';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import fc from 'fast-check';
import { ExclusiveCanonicalization } from 'xml-crypto';
import type { SamlConnection } from '../../functions/core/model';
import type { Runtime } from '../../functions/core/runtime';
import { createOidcHandler } from '../../functions/oidc';
import { ROUTES, type RouteGroup } from '../../functions/routes';
import { createSamlHandler } from '../../functions/saml';
import { createScimHandler } from '../../functions/scim';
import { createSetupHandler } from '../../functions/setup';
import { createSessionHandler } from '../../functions/session';
import { adaptRequest, type PlainRequest } from '../../local/api-gateway-event';
import { createDevSamlIdp, type DevSamlIdp } from '../../local/dev-saml-idp';
import { localRequestListener, type LambdaHandler } from '../../local/http-server';
import { issueSamlResponse, issueSamlResponseXml } from '../../local/saml-idp';
import { startTestProvider, type TestProvider } from '../support/oidc-provider';
import { createSamlConnection, oidcConnection, postAcs, responseFor, sessionTokenOf, testRuntime } from '../support/harness';

/**
 * Property-based fuzzing (fast-check) of every route, in-process through the Lambda handlers and
 * over HTTP through the local server: whatever the path, query, headers, cookies and body, the
 * answer is never a 5xx, and a session is minted only for a response whose signed content is
 * intact. Runs are bounded and seeded: a failure prints the seed and the shrunk counterexample,
 * and `FUZZ_SEED=<seed>` replays it.
 */

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
const runs = (numRuns: number) => ({ numRuns, ...(SEED === undefined ? {} : { seed: SEED }) });

type Result = APIGatewayProxyStructuredResultV2;

let server: Server;
let baseUrl: string;
let runtime: Runtime;
let handlers: Record<RouteGroup, LambdaHandler>;
let devIdp: DevSamlIdp;
let op: TestProvider;
let saml: SamlConnection;
let oidcId: string;
let validToken: string;

beforeAll(async () => {
  server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  oidcId = `oidc-fuzz-${randomUUID().slice(0, 8)}`;
  op = await startTestProvider({ clients: [{ client_id: 'fuzz-rp', client_secret: 'fuzz-secret', redirect_uris: [`${baseUrl}/oidc/${oidcId}/callback`] }] });
  runtime = await testRuntime({ publicBaseUrl: baseUrl, secrets: { 'fuzz-secret': 'fuzz-secret' } });
  saml = await createSamlConnection(runtime, { allowIdpInitiated: true, returnToAllowlist: [`${baseUrl}/`] });
  const oidc = oidcConnection({ id: oidcId, tenantId: saml.tenantId, issuer: op.issuer, clientId: 'fuzz-rp', clientSecretName: 'fuzz-secret' }, { returnToAllowlist: [`${baseUrl}/`] });
  await runtime.store.putConnection(oidc);
  handlers = { saml: createSamlHandler(runtime), oidc: createOidcHandler(runtime), session: createSessionHandler(runtime), scim: createScimHandler(runtime), setup: createSetupHandler(runtime) } as Record<RouteGroup, LambdaHandler>;
  devIdp = createDevSamlIdp({
    baseUrl,
    keyFile: new URL('../fixtures/keys/idp.key.pem', import.meta.url),
    certFile: new URL('../fixtures/keys/idp.cert.pem', import.meta.url),
    spEntityId: (acsUrl) => acsUrl.replace(/\/acs$/, '/metadata'),
  });
  server.on('request', localRequestListener({ baseUrl, handlers, devSamlIdp: devIdp }));
  const login = await postAcs(handlers.saml, saml.id, await issueSamlResponse(responseFor(saml, runtime)));
  validToken = sessionTokenOf(login);
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await op.stop();
});

/** In-process: the adapter's own answer, or the Lambda of the route's group. */
async function inProcess(request: PlainRequest): Promise<Result> {
  const { event, refusal } = adaptRequest(request);
  if (refusal) return refusal;
  const group = ROUTES.find((route) => `${route.method} ${route.path}` === event.routeKey)!.group;
  return handlers[group](event as never, { awsRequestId: 'fuzz' } as Context);
}

/** Over loopback HTTP through the local server's listener; the raw path goes on the wire as generated. */
function overHttp(request: PlainRequest): Promise<{ statusCode: number; cookies: string[]; contentType: string | undefined }> {
  return new Promise((resolve, reject) => {
    const { port } = server.address() as AddressInfo;
    const outgoing = httpRequest(
      { host: '127.0.0.1', port, method: request.method, path: request.url, headers: { ...request.headers, connection: 'close' } as Record<string, string> },
      (response) => {
        response.resume();
        response.on('end', () =>
          resolve({ statusCode: response.statusCode ?? 0, cookies: response.headers['set-cookie'] ?? [], contentType: response.headers['content-type'] }),
        );
      },
    );
    outgoing.on('error', reject);
    outgoing.end(request.body);
  });
}

const mintedSession = (cookies: readonly string[] | undefined) => (cookies ?? []).some((c) => /^sso_session=[^;]/.test(c));

// ---- arbitraries -------------------------------------------------------------------------

const MALFORMED_ESCAPES = ['%', '%%', '%zz', '%2', 'a%', '%E0%A4%A', '%C0%AF', '%ED%A0%80', '%FF', '%00', '%2F', '%25', '%u0041'];

/** Text a browser or an attacker can put on the wire: printable ASCII and some Unicode, with the escapes that break decoders. */
const wireText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom(...MALFORMED_ESCAPES),
  fc.array(fc.constantFrom(...MALFORMED_ESCAPES, 'a', '/', '..', '\\', '#', '?', '&', '=', ';'), { maxLength: 6 }).map((parts) => parts.join('')),
);

/** A path segment as it goes on the wire: percent-encoded text, a malformed escape, a known id, or one far too long. */
const segment = () =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(saml.id, oidcId, 'demo-saml', '') },
    { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }).map(encodeURIComponent) },
    { weight: 2, arbitrary: fc.constantFrom(...MALFORMED_ESCAPES) },
    { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 8 }).map((s) => encodeURIComponent(s).repeat(400)) },
  );

const path = () =>
  fc.oneof(
    { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...ROUTES.map((r) => r.path)), segment()).map(([template, id]) => template.replace('{connectionId}', id)) },
    { weight: 1, arbitrary: fc.array(segment(), { minLength: 1, maxLength: 4 }).map((parts) => `/${parts.join('/')}`) },
    { weight: 1, arbitrary: fc.constantFrom('/dev/saml-idp/sso', '/', '//health', '/health/', '/session%', '/saml/%/acs', '/oidc/x%zz/callback') },
  );

const QUERY_NAMES = ['return_to', 'code', 'state', 'iss', 'error', 'error_description', 'SAMLRequest', 'RelayState', 'x'];
const query = fc.oneof(
  fc.constant(''),
  fc
    .array(fc.tuple(fc.constantFrom(...QUERY_NAMES), fc.oneof(wireText.map(encodeURIComponentSafe), fc.constantFrom(...MALFORMED_ESCAPES), fc.constant(`${'https://app.example.test/'}`))), { maxLength: 5 })
    .map((pairs) => `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`),
  wireText.map((raw) => `?${raw}`),
);

function encodeURIComponentSafe(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return '%ED%A0%80';
  }
}

/** Header values must be visible Latin-1 on the wire: anything else is the HTTP client's refusal, not ours. */
const headerValue = fc.oneof(fc.string({ maxLength: 60 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')), fc.constantFrom('text/html', 'application/json', 'application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=utf-8', 'Bearer ', 'Bearer x.y.z'));

const cookieHeader = () =>
  fc
    .array(
      fc.oneof(
        fc.constantFrom(`sso_session=${validToken}`, `sso_session=${validToken.slice(0, -3)}abc`, 'sso_session=', 'sso_saml_request=_abc', 'sso_oidc_state=xyz', 'sso_session=a.b.c', '=', ';;'),
        fc.tuple(fc.constantFrom('sso_session', 'sso_saml_request', 'sso_oidc_state', 'x'), headerValue).map(([n, v]) => `${n}=${v.replace(/;/g, '')}`),
      ),
      { maxLength: 4 },
    )
    .map((parts) => parts.join('; '));

const headers = () =>
  fc.record(
    {
      accept: headerValue,
      'content-type': headerValue,
      authorization: fc.oneof(headerValue, fc.constant(`Bearer ${validToken}`), fc.constant(`bearer ${validToken}x`)),
      cookie: cookieHeader(),
      'x-forwarded-for': headerValue,
    },
    { requiredKeys: [] },
  );

const samlResponseValue = fc.oneof(
  fc.base64String({ maxLength: 200 }),
  fc.string({ maxLength: 200 }).map((xml) => Buffer.from(xml).toString('base64')),
  fc.constantFrom('<samlp:Response/>', '<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', '<?xml version="1.0"?><a xmlns="urn:oasis:names:tc:SAML:2.0:protocol"/>').map((xml) => Buffer.from(xml).toString('base64')),
  wireText,
);

const body = fc.oneof(
  fc.constant(undefined),
  wireText,
  fc
    .array(fc.tuple(fc.constantFrom('SAMLResponse', 'RelayState', 'email', 'acsUrl', 'requestId', 'x'), samlResponseValue), { maxLength: 4 })
    .map((pairs) => pairs.map(([k, v]) => `${k}=${encodeURIComponentSafe(v)}`).join('&')),
);

/** A callback whose state matches the browser's state cookie (as an attacker who set both would send), of any length. */
const matchingStateCallback = () =>
  fc
    .tuple(fc.oneof(fc.string({ minLength: 1, maxLength: 60 }), fc.string({ minLength: 1, maxLength: 4 }).map((s) => s.repeat(800))), fc.constantFrom('code=abc', 'error=access_denied', ''))
    .map(([state, rest]) => {
      const value = state;
      return { method: 'GET', url: `/oidc/${oidcId}/callback?state=${value}&${rest}`, headers: { cookie: `sso_oidc_state=${value}` }, body: undefined };
    });

/** The development IdP's sign-in form, posted with any values for an ACS of this service. */
const devIdpPost = () =>
  fc
    .record({
      email: fc.oneof(wireText, fc.string({ unit: 'binary', maxLength: 20 })),
      firstName: fc.string({ unit: 'binary', maxLength: 20 }),
      groups: fc.oneof(wireText, fc.string({ unit: 'binary', maxLength: 20 })),
      requestId: fc.oneof(wireText, fc.constant('')),
      relayState: wireText,
    })
    .map((fields) => ({
      method: 'POST',
      url: '/dev/saml-idp/sso',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...fields, acsUrl: `${baseUrl}/saml/${saml.id}/acs` }).toString(),
    }));

const randomRequest = () =>
  fc.oneof(
    {
      weight: 9,
      arbitrary: fc.record({
        method: fc.constantFrom('GET', 'POST', 'GET', 'POST', 'PUT', 'DELETE'),
        url: fc.tuple(path(), query).map(([p, q]) => p + q),
        headers: fc.tuple(headers(), fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/), headerValue, { maxKeys: 3 })).map(([known, other]) => ({ ...other, ...known })),
        body,
      }),
    },
    { weight: 1, arbitrary: matchingStateCallback() },
  );

/** A few byte edits of a text: replace, insert or delete, at any position. */
const edits = fc.array(fc.record({ at: fc.nat(), kind: fc.constantFrom('replace', 'insert', 'delete'), char: fc.oneof(fc.constantFrom(' ', '\t', '"', "'", '<', '>', '=', '/', '&', 'a', '0', 'A', ':', '\u00e9'), fc.string({ minLength: 1, maxLength: 1 })) }), {
  minLength: 1,
  maxLength: 3,
});

function mutate(text: string, changes: readonly { at: number; kind: string; char: string }[]): string {
  let out = text;
  for (const { at, kind, char } of changes) {
    const i = at % (out.length + 1);
    out = kind === 'insert' ? out.slice(0, i) + char + out.slice(i) : kind === 'delete' ? out.slice(0, i) + out.slice(i + 1) : out.slice(0, i) + char + out.slice(i + 1);
  }
  return out;
}

/**
 * The oracle: the exclusive c14n of the document's one Assertion without its signature, computed
 * independently of the service's code. Identical to the original's means the signed content the
 * identity comes from is intact; `undefined` when the text is not XML with exactly one Assertion.
 */
function signedAssertionContent(xml: string): string | undefined {
  try {
    const errors: string[] = [];
    const options = { errorHandler: (level: string, message: string) => void (level !== 'warning' && errors.push(message)) };
    const doc = new DOMParser(options as ConstructorParameters<typeof DOMParser>[0]).parseFromString(xml, 'text/xml');
    if (errors.length > 0) return undefined;
    const assertions = doc.getElementsByTagNameNS('urn:oasis:names:tc:SAML:2.0:assertion', 'Assertion');
    if (assertions.length !== 1) return undefined;
    const assertion = assertions[0]!.cloneNode(true) as Element;
    for (const signature of Array.from(assertion.getElementsByTagNameNS('http://www.w3.org/2000/09/xmldsig#', 'Signature')) as Element[]) signature.parentNode?.removeChild(signature);
    return new ExclusiveCanonicalization().process(assertion as never, {});
  } catch {
    return undefined;
  }
}

async function mutatedLogin(send: (request: PlainRequest) => Promise<{ statusCode?: number; cookies?: string[] }>, numRuns: number, options: { base64Bodies: boolean }) {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('both', 'assertion', 'response') as fc.Arbitrary<'both' | 'assertion' | 'response'>, edits, options.base64Bodies ? fc.boolean() : fc.constant(false), async (sign, changes, base64Body) => {
      const original = await issueSamlResponseXml(responseFor(saml, runtime, { sign, attributes: { email: ['fuzz@example.test'], groups: ['a', 'b'] } }));
      const mutated = mutate(original, changes);
      const samlResponse = Buffer.from(mutated, 'utf8').toString('base64');
      const form = `SAMLResponse=${encodeURIComponent(samlResponse)}&RelayState=${encodeURIComponent(`${baseUrl}/`)}`;
      const result = await send({
        method: 'POST',
        url: `/saml/${saml.id}/acs`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: base64Body ? Buffer.from(form).toString('base64') : form,
        ...(base64Body ? { isBase64Encoded: true } : {}),
      });
      expect(result.statusCode).toBeLessThan(500);
      if (result.statusCode === 303 || mintedSession(result.cookies)) {
        expect(signedAssertionContent(mutated)).toBe(signedAssertionContent(original));
      }
    }),
    runs(numRuns),
  );
}

describe('hostile input through the handlers', () => {
  it('never answers a random request to any route with a 5xx or a session', async () => {
    await fc.assert(
      fc.asyncProperty(randomRequest(), async (request) => {
        const result = await inProcess(request);
        expect(result.statusCode).toBeLessThan(500);
        expect(mintedSession(result.cookies)).toBe(false);
      }),
      runs(400),
    );
  });

  it('never signs in with a response whose signed content was mutated', async () => {
    await mutatedLogin(inProcess, 150, { base64Bodies: true });
  });

  it('signs in with the unmutated response and with a c14n-equivalent edit of it (the oracle is no blanket refusal)', async () => {
    const original = await issueSamlResponseXml(responseFor(saml, runtime, { sign: 'both' }));
    // A tab for the space between two attributes of the Assertion: canonically the same bytes.
    const equivalent = original.replace(/(<saml:Assertion [^>]*?") (Version=)/, '$1\t$2');
    expect(equivalent).not.toBe(original);
    expect(signedAssertionContent(equivalent)).toBe(signedAssertionContent(original));
    const result = await postAcs(handlers.saml as never, saml.id, Buffer.from(equivalent).toString('base64'));
    expect(result.statusCode).toBe(303);
    const fresh = await issueSamlResponse(responseFor(saml, runtime, { sign: 'both' }));
    expect((await postAcs(handlers.saml as never, saml.id, fresh)).statusCode).toBe(303);
  });

  it('refuses a path id that is no connection id, however long, as unknown_connection rather than a database error', async () => {
    for (const id of ['a'.repeat(3000), 'x'.repeat(65), 'has space', 'a#b']) {
      const result = await inProcess({ method: 'GET', url: `/saml/${encodeURIComponent(id)}/metadata` });
      expect({ status: result.statusCode, code: JSON.parse(String(result.body)).code }).toEqual({ status: 404, code: 'unknown_connection' });
    }
    expect((await inProcess({ method: 'GET', url: `/saml/${saml.id}/metadata` })).statusCode).toBe(200);
  });

  it('refuses a callback state longer than any issued one as oidc_state_mismatch, even when the browser cookie carries it', async () => {
    const state = 'a'.repeat(3000);
    const result = await inProcess({ method: 'GET', url: `/oidc/${oidcId}/callback?state=${state}&code=abc`, headers: { cookie: `sso_oidc_state=${state}` } });
    expect({ status: result.statusCode, code: JSON.parse(String(result.body)).code }).toEqual({ status: 400, code: 'oidc_state_mismatch' });
  });

  it('answers a malformed percent-escape in the path with invalid_request in problem+json', async () => {
    const result = await inProcess({ method: 'GET', url: '/saml/%E0%A4%A/metadata' });
    expect(result.statusCode).toBe(400);
    expect(result.headers?.['content-type']).toBe('application/problem+json');
    expect(JSON.parse(String(result.body)).code).toBe('invalid_request');
  });
});

describe('hostile input through the local HTTP server', () => {
  it('never answers a random request with a 5xx or a session', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof({ weight: 9, arbitrary: randomRequest() }, { weight: 1, arbitrary: devIdpPost() }), async (request) => {
        // Node's HTTP client refuses a non-ASCII path itself; the server never sees one.
        const result = await overHttp({ ...request, url: request.url.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponentSafe(c)) });
        expect(result.statusCode).toBeLessThan(500);
        expect(mintedSession(result.cookies)).toBe(false);
      }),
      runs(250),
    );
  });

  it('never signs in with a mutated response posted over HTTP', async () => {
    await mutatedLogin(overHttp, 60, { base64Bodies: false });
  });

  it('answers a malformed path escape with a 400 problem, where it used to answer 500', async () => {
    for (const url of ['/saml/%/metadata', '/saml/%E0%A4%A/acs', '/oidc/%zz/login']) {
      const result = await overHttp({ method: url.endsWith('acs') ? 'POST' : 'GET', url });
      expect({ url, status: result.statusCode, type: result.contentType }).toEqual({ url, status: 400, type: 'application/problem+json' });
    }
  });

  it('has the development IdP answer a garbage SAMLRequest with a 400 page, where it used to answer 500', async () => {
    for (const samlRequest of ['garbage', '%%%', Buffer.from('not deflate').toString('base64'), '']) {
      const result = await overHttp({ method: 'GET', url: `/dev/saml-idp/sso?SAMLRequest=${encodeURIComponent(samlRequest)}` });
      expect({ samlRequest, status: result.statusCode, type: result.contentType }).toEqual({ samlRequest, status: 400, type: 'text/html; charset=utf-8' });
    }
  });
});
