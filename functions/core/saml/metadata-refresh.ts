import { audit } from '../audit';
import { AppError } from '../errors';
import type { SamlConnection } from '../model';
import type { Runtime } from '../runtime';
import { expiringCertificates, parseIdpMetadata, refreshFromMetadata } from './idp-metadata';

/** What one run of the refresh did. */
export interface RefreshReport {
  readonly refreshed: string[];
  readonly failed: { connectionId: string; reason: string }[];
  readonly expiring: { connectionId: string; expiresAt: string }[];
}

/** Fetches an IdP's metadata document. @throws AppError `service_unavailable`. */
export async function fetchMetadata(url: string, fetchImpl: typeof fetch = fetch): Promise<string> {
  try {
    const response = await fetchImpl(url, { signal: AbortSignal.timeout(10_000), redirect: 'follow' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return await response.text();
  } catch (error) {
    throw new AppError('service_unavailable', `the metadata at ${url} could not be fetched`, { cause: error });
  }
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
    for (let connection of connections) {
      if (connection.metadataUrl) {
        try {
          const { connection: next, added } = refreshFromMetadata(connection, parseIdpMetadata(await fetchMetadata(connection.metadataUrl, fetchImpl)));
          if (next !== connection) {
            connection = await runtime.store.updateConnection(next);
            report.refreshed.push(connection.id);
            runtime.log({ level: 'INFO', message: 'metadata refreshed', connectionId: connection.id, certificatesAdded: added.length });
          }
        } catch (error) {
          const reason = error instanceof Error ? error.message : String(error);
          report.failed.push({ connectionId: connection.id, reason });
          runtime.log({ level: 'ERROR', message: 'metadata refresh failed', connectionId: connection.id, reason });
        }
      }
      for (const { expiresAt } of expiringCertificates(connection, now)) {
        report.expiring.push({ connectionId: connection.id, expiresAt: expiresAt.toISOString() });
        await audit(runtime, {
          tenantId: connection.tenantId,
          type: 'certificate.expiring',
          at: now.toISOString(),
          connectionId: connection.id,
          detail: { expiresAt: expiresAt.toISOString() },
        });
      }
    }
  }
  return report;
}
