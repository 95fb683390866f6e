import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SamlConnection } from '../../functions/core/model';
import { certificateExpiry, parseIdpMetadata } from '../../functions/core/saml/idp-metadata';
import { refreshAllMetadata } from '../../functions/core/saml/metadata-refresh';
import { createSamlHandler } from '../../functions/saml';
import { issueSamlResponse } from '../../local/saml-idp';
import { createSamlConnection, idpCert, keys, postAcs, responseFor, testRuntime } from '../support/harness';

const bare = (pem: string) => pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');

function metadataXml(entityId: string, certificates: string[]): string {
  const keyDescriptors = certificates
    .map((pem) => `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${bare(pem)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`)
    .join('');
  return (
    `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${entityId}">` +
    `<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">${keyDescriptors}` +
    `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.test/sso"/>` +
    `</md:IDPSSODescriptor></md:EntityDescriptor>`
  );
}

let server: Server;
let baseUrl: string;
const documents = new Map<string, string>();

beforeAll(async () => {
  server = createServer((request, response) => {
    const body = documents.get(request.url ?? '');
    response.statusCode = body ? 200 : 404;
    response.end(body ?? 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server.close());

describe('IdP metadata', () => {
  it('reads entity id, SSO URL and signing certificates', () => {
    expect(parseIdpMetadata(metadataXml('https://idp.example.test/metadata', [idpCert]))).toEqual({
      entityId: 'https://idp.example.test/metadata',
      ssoUrl: 'https://idp.example.test/sso',
      certificates: [expect.stringContaining(bare(idpCert).slice(0, 40))],
    });
  });

  it('refuses metadata without a signing certificate', () => {
    expect(() => parseIdpMetadata(metadataXml('https://idp.example.test/metadata', []))).toThrow(expect.objectContaining({ code: 'invalid_request' }));
  });
});

describe('scheduled metadata refresh', () => {
  it("adds the IdP's new certificate beside the old one, so logins signed with either work", async () => {
    const runtime = await testRuntime();
    const path = `/metadata/${Math.random()}`;
    const connection = await createSamlConnection(runtime, { allowIdpInitiated: true, metadataUrl: `${baseUrl}${path}` });
    const nextCert = keys.read('idp-next.cert.pem');
    documents.set(path, metadataXml(connection.idpEntityId, [idpCert, nextCert]));

    const report = await refreshAllMetadata(runtime);

    expect(report.refreshed).toContain(connection.id);
    const refreshed = (await runtime.store.getConnection(connection.id)) as SamlConnection;
    expect(refreshed.idpCertificates).toHaveLength(2);
    expect(refreshed.version).toBe(1);
    const acs = createSamlHandler(runtime);
    const signedWithNext = await issueSamlResponse(responseFor(refreshed, runtime, { signingKey: keys.read('idp-next.key.pem'), signingCert: nextCert }));
    expect((await postAcs(acs, connection.id, signedWithNext)).statusCode).toBe(303);
    expect((await postAcs(acs, connection.id, await issueSamlResponse(responseFor(refreshed, runtime)))).statusCode).toBe(303);
  });

  it("takes only the connection's own IdP from an aggregate document, and never switches the connection to another IdP", async () => {
    const runtime = await testRuntime();
    const path = `/aggregate/${Math.random()}`;
    const connection = await createSamlConnection(runtime, { metadataUrl: `${baseUrl}${path}` });
    const intruder = keys.read('attacker.cert.pem');
    const aggregate = (own: string[]) =>
      `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">${metadataXml('https://intruder.example.test', [intruder])}${metadataXml(connection.idpEntityId, own)}</md:EntitiesDescriptor>`;
    documents.set(path, aggregate([idpCert]));
    expect((await refreshAllMetadata(runtime)).refreshed).not.toContain(connection.id);
    expect(((await runtime.store.getConnection(connection.id)) as SamlConnection).idpCertificates).toEqual([idpCert]);

    documents.set(path, metadataXml('https://intruder.example.test', [intruder]));
    const report = await refreshAllMetadata(runtime);
    expect(report.failed).toContainEqual({ connectionId: connection.id, reason: expect.stringContaining('does not describe') });
    expect((await runtime.store.getConnection(connection.id)) as SamlConnection).toMatchObject({ idpEntityId: connection.idpEntityId, idpCertificates: [idpCert] });
  });

  it('leaves a connection alone when its metadata cannot be fetched, and goes on with the others', async () => {
    const runtime = await testRuntime();
    const broken = await createSamlConnection(runtime, { metadataUrl: `${baseUrl}/missing` });
    const report = await refreshAllMetadata(runtime);
    expect(report.failed).toContainEqual({ connectionId: broken.id, reason: expect.stringContaining('could not be fetched') });
    expect(((await runtime.store.getConnection(broken.id)) as SamlConnection).idpCertificates).toEqual([idpCert]);
  });

  it('publishes certificate.expiring for a certificate within 30 days of expiry, and nothing earlier', async () => {
    const expiry = certificateExpiry(idpCert);
    const soon = await testRuntime({ now: () => new Date(expiry.getTime() - 10 * 24 * 3600 * 1000) });
    const connection = await createSamlConnection(soon);
    await refreshAllMetadata(soon);
    expect(soon.events.published.filter((e) => e.connectionId === connection.id)).toEqual([
      expect.objectContaining({ type: 'certificate.expiring', tenantId: connection.tenantId, detail: { expiresAt: expiry.toISOString() } }),
    ]);

    const early = await testRuntime({ now: () => new Date(expiry.getTime() - 60 * 24 * 3600 * 1000) });
    await refreshAllMetadata(early);
    expect(early.events.published.filter((e) => e.connectionId === connection.id)).toEqual([]);
  });
});
