import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inflateRawSync } from 'node:zlib';
import type { SamlConnection } from '../../functions/core/model';
import { loadConfig } from '../../functions/core/config';
import { createSamlHandler } from '../../functions/saml';
import { createSessionHandler } from '../../functions/session';
import { createDevSamlIdp } from '../../local/dev-saml-idp';
import { localRequestListener } from '../../local/http-server';
import { issueSamlResponse } from '../../local/saml-idp';
import { createSamlConnection, invoke, postAcs, problemCode, responseFor, samlRequestCookie, testRuntime } from '../support/harness';

/**
 * The ACS form and the browser binding of SP-initiated logins, through the real SAML handler on
 * DynamoDB Local: repeated form fields, the body limit, and the cookie `/login` sets.
 */

type Acs = ReturnType<typeof createSamlHandler>;
type Result = Awaited<ReturnType<typeof invoke>>;

function refusal(result: Result) {
  expect(result.headers?.['content-type']).toBe('application/problem+json');
  return { status: result.statusCode, code: problemCode(result) };
}

async function setUp(overrides: Partial<SamlConnection> = {}, options: { publicBaseUrl?: string } = {}) {
  const runtime = await testRuntime(options);
  const connection = await createSamlConnection(runtime, overrides);
  return { runtime, connection, saml: createSamlHandler(runtime) };
}

/** Starts an SP-initiated login as a browser would: the AuthnRequest's id and the cookie set with it. */
async function startLogin(saml: Acs, connection: SamlConnection) {
  const login = await invoke(saml, { method: 'GET', url: `/saml/${connection.id}/login?return_to=${encodeURIComponent('https://app.example.test/home')}` });
  expect(login.statusCode).toBe(302);
  const location = new URL(String(login.headers?.location));
  const request = inflateRawSync(Buffer.from(location.searchParams.get('SAMLRequest')!, 'base64')).toString('utf8');
  const requestId = /\sID="([^"]+)"/.exec(request)![1]!;
  const setCookie = login.cookies?.find((c) => c.startsWith('sso_saml_request='));
  if (!setCookie) throw new Error('the login set no sso_saml_request cookie');
  return { requestId, setCookie, cookie: setCookie.split(';')[0]!, relayState: location.searchParams.get('RelayState')! };
}

/** Posts a raw body to the ACS. */
function postBody(saml: Acs, connectionId: string, body: string, options: { isBase64Encoded?: boolean; cookie?: string } = {}) {
  return invoke(saml, {
    method: 'POST',
    url: `/saml/${connectionId}/acs`,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(options.cookie ? { cookie: options.cookie } : {}) },
    body,
    ...(options.isBase64Encoded ? { isBase64Encoded: true } : {}),
  });
}

describe('SAML ACS: SP-initiated logins are bound to the browser that started them', () => {
  it('accepts a response posted with the cookie of its AuthnRequest, and clears that cookie', async () => {
    const { runtime, connection, saml } = await setUp();
    const login = await startLogin(saml, connection);
    expect(login.cookie).toBe(samlRequestCookie(login.requestId));
    const response = await issueSamlResponse(responseFor(connection, runtime, { inResponseTo: login.requestId }));
    const result = await postBody(saml, connection.id, new URLSearchParams({ SAMLResponse: response, RelayState: login.relayState }).toString(), { cookie: login.cookie });
    expect(result.statusCode).toBe(303);
    expect(result.headers?.location).toBe('https://app.example.test/home');
    expect(result.cookies?.[0]).toMatch(/^sso_session=[^;]+;/);
    expect(result.cookies).toContain(`sso_saml_request=; HttpOnly; SameSite=None; Secure; Path=/saml/${connection.id}/acs; Max-Age=0`);
  });

  it('refuses a solicited response posted from a browser without the login cookie (login CSRF)', async () => {
    const { runtime, connection, saml } = await setUp();
    const login = await startLogin(saml, connection);
    const response = await issueSamlResponse(responseFor(connection, runtime, { inResponseTo: login.requestId }));
    const forced = await postAcs(saml, connection.id, response);
    expect(refusal(forced)).toEqual({ status: 401, code: 'saml_in_response_to_mismatch' });
    // The refusal spent nothing: the browser that started the login still completes it.
    expect((await postAcs(saml, connection.id, response, undefined, { requestId: login.requestId })).statusCode).toBe(303);
  });

  it('refuses a response to a login started in another browser, posted with this browser’s own cookie', async () => {
    const { runtime, connection, saml } = await setUp();
    const attackers = await startLogin(saml, connection);
    const victims = await startLogin(saml, connection);
    const response = await issueSamlResponse(responseFor(connection, runtime, { inResponseTo: attackers.requestId }));
    const result = await postBody(saml, connection.id, new URLSearchParams({ SAMLResponse: response }).toString(), { cookie: victims.cookie });
    expect(refusal(result)).toEqual({ status: 401, code: 'saml_in_response_to_mismatch' });
    const own = await postBody(saml, connection.id, new URLSearchParams({ SAMLResponse: response }).toString(), { cookie: attackers.cookie });
    expect(own.statusCode).toBe(303);
  });

  it('still accepts an IdP-initiated response without the cookie where the connection allows them', async () => {
    const { runtime, connection, saml } = await setUp({ allowIdpInitiated: true });
    const result = await postAcs(saml, connection.id, await issueSamlResponse(responseFor(connection, runtime)));
    expect(result.statusCode).toBe(303);
  });

  it('sets the cookie HttpOnly, SameSite=None and Secure, for the ACS path and the AuthnRequest lifetime, on https', async () => {
    const { connection, saml } = await setUp();
    const { requestId, setCookie } = await startLogin(saml, connection);
    expect(setCookie).toBe(`sso_saml_request=${requestId}; HttpOnly; SameSite=None; Secure; Path=/saml/${connection.id}/acs; Max-Age=600`);
  });

  it('sets the cookie SameSite=Lax and not Secure on the plain-http local server', async () => {
    const { connection, saml } = await setUp({}, { publicBaseUrl: 'http://localhost:3000' });
    const { requestId, setCookie } = await startLogin(saml, connection);
    expect(setCookie).toBe(`sso_saml_request=${requestId}; HttpOnly; SameSite=Lax; Path=/saml/${connection.id}/acs; Max-Age=600`);
  });

  it('scopes the cookie to the path of a connection’s own ACS URL', async () => {
    const { connection, saml } = await setUp({ acsUrl: 'https://sso.test/session/sso/saml/acs/kept' });
    const { setCookie } = await startLogin(saml, connection);
    expect(setCookie).toMatch(/; Path=\/session\/sso\/saml\/acs\/kept; /);
  });
});

describe('SAML ACS: a repeated form field is malformed input', () => {
  it('refuses a form with SAMLResponse twice, though both are the same valid response', async () => {
    const { runtime, connection, saml } = await setUp({ allowIdpInitiated: true });
    const response = await issueSamlResponse(responseFor(connection, runtime));
    const body = new URLSearchParams([['SAMLResponse', response], ['SAMLResponse', response]]).toString();
    expect(refusal(await postBody(saml, connection.id, body))).toEqual({ status: 400, code: 'invalid_request' });
    expect((await postAcs(saml, connection.id, response)).statusCode).toBe(303);
  });

  it('refuses a form with RelayState twice, though both are allowed', async () => {
    const { runtime, connection, saml } = await setUp({ allowIdpInitiated: true });
    const response = await issueSamlResponse(responseFor(connection, runtime));
    const body = new URLSearchParams([['SAMLResponse', response], ['RelayState', 'https://app.example.test/a'], ['RelayState', 'https://app.example.test/b']]).toString();
    expect(refusal(await postBody(saml, connection.id, body))).toEqual({ status: 400, code: 'invalid_request' });
    expect((await postAcs(saml, connection.id, response, 'https://app.example.test/a')).statusCode).toBe(303);
  });
});

describe('SAML ACS: the body limit', () => {
  it('is 100 KiB unless MAX_BODY_BYTES says otherwise', async () => {
    expect((await testRuntime()).config.maxBodyBytes).toBe(100 * 1024);
    expect(loadConfig({ ...process.env, MAX_BODY_BYTES: '5000' }).maxBodyBytes).toBe(5000);
    expect(() => loadConfig({ ...process.env, MAX_BODY_BYTES: '-1' })).toThrow(/MAX_BODY_BYTES/);
  });

  /** A valid form body of exactly `bytes` bytes: the response padded with `+` (a space, which base64 ignores). */
  async function formOfSize(bytes: number) {
    const { runtime, connection, saml } = await setUp({ allowIdpInitiated: true });
    const form = new URLSearchParams({ SAMLResponse: await issueSamlResponse(responseFor(connection, runtime)) }).toString();
    const body = form + '+'.repeat(bytes - form.length);
    expect(Buffer.byteLength(body)).toBe(bytes);
    return { runtime, connection, saml, body };
  }

  it('accepts a form of exactly the limit and refuses one byte more with payload_too_large', async () => {
    const limit = (await testRuntime()).config.maxBodyBytes;
    const under = await formOfSize(limit);
    expect((await postBody(under.saml, under.connection.id, under.body)).statusCode).toBe(303);
    const over = await formOfSize(limit + 1);
    expect(refusal(await postBody(over.saml, over.connection.id, over.body))).toEqual({ status: 413, code: 'payload_too_large' });
  });

  it('counts UTF-8 bytes, not characters', async () => {
    const limit = (await testRuntime()).config.maxBodyBytes;
    const { saml, connection, body } = await formOfSize(limit - 1000);
    const padded = `${body}&pad=${'é'.repeat(498)}`;
    expect(padded.length).toBeLessThan(limit);
    expect(Buffer.byteLength(padded)).toBe(limit + 1);
    expect(refusal(await postBody(saml, connection.id, padded))).toEqual({ status: 413, code: 'payload_too_large' });
  });

  it('accepts a base64 body that decodes to exactly the limit and refuses one that decodes to one byte more', async () => {
    const limit = (await testRuntime()).config.maxBodyBytes;
    const under = await formOfSize(limit);
    const accepted = await postBody(under.saml, under.connection.id, Buffer.from(under.body).toString('base64'), { isBase64Encoded: true });
    expect(accepted.statusCode).toBe(303);
    const over = await formOfSize(limit + 1);
    const encoded = Buffer.from(over.body).toString('base64');
    // Within the bound on the encoded length, so the decoded length is what refuses it.
    expect(encoded.length).toBeLessThanOrEqual(Math.ceil(limit / 3) * 4);
    expect(refusal(await postBody(over.saml, over.connection.id, encoded, { isBase64Encoded: true }))).toEqual({ status: 413, code: 'payload_too_large' });
  });

  it('refuses a base64 body longer than any encoding of the limit before decoding it', async () => {
    const limit = (await testRuntime()).config.maxBodyBytes;
    const { saml, connection, body } = await formOfSize(limit - 10);
    // Whitespace that Buffer's decoder skips: decoded, this body is under the limit and valid.
    const encoded = Buffer.from(body).toString('base64') + ' '.repeat(64);
    expect(Buffer.from(encoded, 'base64').length).toBeLessThan(limit);
    expect(encoded.length).toBeGreaterThan(Math.ceil(limit / 3) * 4);
    expect(refusal(await postBody(saml, connection.id, encoded, { isBase64Encoded: true }))).toEqual({ status: 413, code: 'payload_too_large' });
  });
});

describe("npm start's local server and development IdP", () => {
  let server: Server;
  let baseUrl: string;

  beforeAll(async () => {
    server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const unescape = (value: string) => value.replace(/&quot;|&#39;|&lt;|&gt;|&amp;/g, (e) => ({ '&quot;': '"', '&#39;': "'", '&lt;': '<', '&gt;': '>', '&amp;': '&' })[e]!);
  const hiddenFields = (html: string) => Object.fromEntries([...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1]!, unescape(m[2]!)]));

  it('passes cookies both ways, so an SP-initiated login through the development IdP completes only in the browser that started it', async () => {
    const devSamlIdp = createDevSamlIdp({
      baseUrl,
      keyFile: new URL('../fixtures/keys/idp.key.pem', import.meta.url),
      certFile: new URL('../fixtures/keys/idp.cert.pem', import.meta.url),
      spEntityId: (acsUrl) => acsUrl.replace(/\/acs$/, '/metadata'),
    });
    const runtime = await testRuntime({ publicBaseUrl: baseUrl });
    const connection = await createSamlConnection(runtime, {
      idpEntityId: devSamlIdp.entityId,
      idpSsoUrl: devSamlIdp.ssoUrl,
      idpCertificates: [devSamlIdp.certificate],
      returnToAllowlist: [`${baseUrl}/`],
    });
    server.on('request', localRequestListener({ baseUrl, devSamlIdp, handlers: { saml: createSamlHandler(runtime), session: createSessionHandler(runtime) } }));

    const login = await fetch(`${baseUrl}/saml/${connection.id}/login?return_to=${encodeURIComponent(`${baseUrl}/`)}`, { redirect: 'manual' });
    expect(login.status).toBe(302);
    const [requestCookie] = login.headers.getSetCookie();
    expect(requestCookie).toMatch(new RegExp(`^sso_saml_request=_[^;]+; HttpOnly; SameSite=Lax; Path=/saml/${connection.id}/acs; Max-Age=600$`));

    const idpForm = hiddenFields(await (await fetch(login.headers.get('location')!)).text());
    const signedIn = await fetch(devSamlIdp.ssoUrl, { method: 'POST', body: new URLSearchParams({ ...idpForm, email: 'grace@demo.example', firstName: 'Grace', lastName: 'Hopper', groups: '' }) });
    const post = hiddenFields(await signedIn.text());
    expect(Object.keys(post)).toEqual(['SAMLResponse', 'RelayState']);
    const acsUrl = `${baseUrl}/saml/${connection.id}/acs`;

    const withoutCookie = await fetch(acsUrl, { method: 'POST', body: new URLSearchParams(post), redirect: 'manual' });
    expect(withoutCookie.status).toBe(401);
    expect(((await withoutCookie.json()) as { code: string }).code).toBe('saml_in_response_to_mismatch');

    const acs = await fetch(acsUrl, { method: 'POST', body: new URLSearchParams(post), headers: { cookie: requestCookie!.split(';')[0]! }, redirect: 'manual' });
    expect(acs.status).toBe(303);
    expect(acs.headers.get('location')).toBe(`${baseUrl}/`);
    const [session, cleared] = acs.headers.getSetCookie();
    expect(cleared).toBe(`sso_saml_request=; HttpOnly; SameSite=Lax; Path=/saml/${connection.id}/acs; Max-Age=0`);

    const me = await fetch(`${baseUrl}/session`, { headers: { cookie: session!.split(';')[0]! } });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { user: { email: string } }).user.email).toBe('grace@demo.example');
  });
});
