import { logger } from './http';
import { runtimeFromEnvironment } from './core/runtime';
import { refreshAllMetadata } from './core/saml/metadata-refresh';

const runtime = await runtimeFromEnvironment(process.env);

/** Invoked by EventBridge Scheduler: refreshes SAML connections from their IdPs' metadata URLs. */
export const handler = async (): Promise<void> => {
  const report = await refreshAllMetadata(runtime);
  logger.info('metadata refresh done', { refreshed: report.refreshed.length, failed: report.failed.length, expiring: report.expiring.length });
};
