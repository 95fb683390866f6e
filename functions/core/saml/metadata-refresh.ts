import { audit } from '../audit';
import { AppError } from '../errors';
import type { SamlConnection } from '../model';
import type { Runtime } from '../runtime';
import { trustedUrl } from '../trusted-url';
import { expiringCertificates, parseIdpMetadata, refreshFromMetadata } from './idp-metadata';

/** What one run of the refresh did. */
export interface RefreshReport {
  readonly refreshed: string[];
  readonly failed: { connectionId: string; reason: string }[];
  readonly expiring: { connectionId: string; expiresAt: string }[];
}

/** Fetches an IdP's metadata document over https (or http on this machine). @throws AppError `invalid_request`, `service_unavailable`. */
export async function fetchMetadata(url: string, fetchImpl: typeof fetch = fetch): Promise<string> {
  trustedUrl(url, 'the metadata URL');
  try {
    // No redirects: whoever could redirect the fetch could hand this connection their own certificates.
    const response = await fetchImpl(url, { signal: AbortSignal.timeout(10_000), redirect: 'error' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return await response.text();
  } catch (error) {
    throw new AppError('service_unavailable', `the metadata at ${url} could not be fetched`, { cause: error });
  }
}

async function refreshConnection(runtime: Runtime, connection: SamlConnection, fetchImpl: typeof fetch, report: RefreshReport): Promise<SamlConnection> {
  const metadata = parseIdpMetadata(await fetchMetadata(connection.metadataUrl!, fetchImpl), connection.idpEntityId);
  const { connection: next, added } = refreshFromMetadata(connection, metadata);
  if (next === connection) return connection;
  const saved = await runtime.store.updateConnection(next);
  report.refreshed.push(saved.id);
  runtime.log({ level: 'INFO', message: 'metadata refreshed', connectionId: saved.id, certificatesAdded: added.length });
  return saved;
}

/**
 * Refreshes every SAML connection that has a metadata URL: new certificates are added beside the
 * old ones, so a rotation never breaks logins; a certificate within 30 days of expiry is logged
 * and published as `certificate.expiring`. One connection's failure does not stop the others.
 */
export async function refreshAllMetadata(runtime: Runtime, fetchImpl: typeof fetch = fetch): Promise<RefreshReport> {
  const report: RefreshReport = { refreshed: [], failed: [], expiring: [] };
  const now = runtime.clock();
  for (const tenant of await runtime.store.listTenants()) {
    const connections = (await runtime.store.listConnections(tenant.id)).filter((c): c is SamlConnection => c.protocol === 'saml');
    for (const connection of connections) {
      try {
        const current = connection.metadataUrl ? await refreshConnection(runtime, connection, fetchImpl, report) : connection;
        for (const { expiresAt } of expiringCertificates(current, now)) {
          report.expiring.push({ connectionId: current.id, expiresAt: expiresAt.toISOString() });
          await audit(runtime, { tenantId: current.tenantId, type: 'certificate.expiring', at: now.toISOString(), connectionId: current.id, detail: { expiresAt: expiresAt.toISOString() } });
        }
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        report.failed.push({ connectionId: connection.id, reason });
        runtime.log({ level: 'ERROR', message: 'metadata refresh failed', connectionId: connection.id, reason });
      }
    }
  }
  return report;
}
